/** Model scripts: per-session canned Converse answers (with injected faults) and the cursor that plays them. */
import { z } from 'zod';
import { TOOL_NAME_PATTERN } from './converse-request';
import {
  CONVERSE_ERROR_STATUS,
  CONVERSE_ERROR_TYPES,
  type ConverseErrorType,
  ModelScriptError,
} from './errors';

const tokenCount = z.number().int().min(0);

export const STOP_REASONS = [
  'end_turn',
  'tool_use',
  'max_tokens',
  'stop_sequence',
  'guardrail_intervened',
  'content_filtered',
] as const;

export const scriptTurnSchema = z
  .strictObject({
    text: z.string().min(1, 'text must not be empty').optional(),
    toolUse: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(TOOL_NAME_PATTERN, 'a tool name is 1-64 characters of a-z, A-Z, 0-9, _ and -'),
          input: z.record(z.string(), z.json()).default({}),
        }),
      )
      .min(1, 'toolUse needs at least one tool call')
      .optional(),
    error: z.enum(CONVERSE_ERROR_TYPES).optional(),
    times: z.number().int().min(1).optional(),
    /** The error hits only calls to these model ids; a call to another model gets the answer (a tier's fallback). */
    modelIds: z.array(z.string().min(1)).min(1).optional(),
    usage: z
      .strictObject({
        inputTokens: tokenCount.optional(),
        outputTokens: tokenCount.optional(),
        cacheReadInputTokens: tokenCount.optional(),
        cacheWriteInputTokens: tokenCount.optional(),
      })
      .optional(),
    delayMs: z.number().int().min(0).max(900_000).optional(),
    stopReason: z.enum(STOP_REASONS).optional(),
  })
  .refine((turn) => turn.text !== undefined || turn.toolUse !== undefined, {
    message:
      'a turn needs "text" and/or "toolUse" (an "error" turn fails "times" times, then answers with them)',
  })
  .refine((turn) => turn.times === undefined || turn.error !== undefined, {
    message: '"times" only counts failures: add "error" (e.g. "ThrottlingException") or remove "times"',
    path: ['times'],
  })
  .refine((turn) => turn.modelIds === undefined || turn.error !== undefined, {
    message: '"modelIds" says which models get the error: add "error" or remove "modelIds"',
    path: ['modelIds'],
  });

export const modelScriptSchema = z.strictObject({
  turns: z.array(scriptTurnSchema).min(1, 'a script needs at least one turn'),
});

/** A script as written (JSON body of PUT /_local/scripts/<sessionId>, or setScript's argument). */
export type ModelScript = z.input<typeof modelScriptSchema>;
/** A script after validation and defaults (every toolUse has an input). */
export type ParsedModelScript = z.output<typeof modelScriptSchema>;
export type ScriptTurn = z.output<typeof scriptTurnSchema>;

/** Validates a script from a user or a test; the error message lists every problem with its place. */
export const parseModelScript = (input: unknown): ParsedModelScript => {
  const parsed = modelScriptSchema.safeParse(input);
  if (!parsed.success) {
    throw new ModelScriptError(`Invalid model script:\n${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
};

/** Where a session is in its script: the turn to answer next and the failures already served for it. */
export interface ScriptCursor {
  turnIndex: number;
  failuresServed: number;
}

export const START_CURSOR: ScriptCursor = { turnIndex: 0, failuresServed: 0 };

export type ScriptStep =
  | { kind: 'answer'; turnNumber: number; turn: ScriptTurn }
  | {
      kind: 'fail';
      turnNumber: number;
      turn: ScriptTurn;
      errorType: ConverseErrorType;
      status: number;
      failure: number;
      of: number;
    }
  | { kind: 'exhausted'; turnNumber: number; turns: number };

/**
 * The step a session's next Converse call gets, and the cursor after it. Pure: the emulator commits the
 * returned cursor only once the client has received the step, so a call the client gave up on (for
 * example during `delayMs`) is played again to the retry.
 */
export const nextScriptStep = (
  script: ParsedModelScript,
  cursor: ScriptCursor,
  modelId?: string,
): { step: ScriptStep; next: ScriptCursor } => {
  const turn = script.turns[cursor.turnIndex];
  const turnNumber = cursor.turnIndex + 1;
  if (!turn) return { step: { kind: 'exhausted', turnNumber, turns: script.turns.length }, next: cursor };
  const hits = turn.modelIds === undefined || (modelId !== undefined && turn.modelIds.includes(modelId));
  if (turn.error && hits) {
    const times = turn.times ?? 1;
    if (cursor.failuresServed < times) {
      return {
        step: {
          kind: 'fail',
          turnNumber,
          turn,
          errorType: turn.error,
          status: CONVERSE_ERROR_STATUS[turn.error],
          failure: cursor.failuresServed + 1,
          of: times,
        },
        next: { turnIndex: cursor.turnIndex, failuresServed: cursor.failuresServed + 1 },
      };
    }
  }
  return {
    step: { kind: 'answer', turnNumber, turn },
    next: { turnIndex: cursor.turnIndex + 1, failuresServed: 0 },
  };
};

/** The message of the 400 ValidationException a session gets once its script has no turn left. */
export const exhaustedMessage = (sessionId: string, step: { turnNumber: number; turns: number }): string =>
  `The model script of session "${sessionId}" has no turn ${step.turnNumber}: its ${step.turns} turn(s) are used up. ` +
  `Add turns with PUT /_local/scripts/${sessionId} (or putModelScript).`;

/** The content blocks of a scripted answer; ids are made by the caller. */
export const scriptedBlocks = (
  turn: ScriptTurn,
): ({ text: string } | { toolUse: { name: string; input: Record<string, unknown> } })[] => [
  ...(turn.text !== undefined ? [{ text: turn.text }] : []),
  ...(turn.toolUse ?? []).map((call) => ({ toolUse: { name: call.name, input: call.input } })),
];
