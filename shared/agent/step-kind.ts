/** Step kinds: which kind of work the next model call does, read from the conversation so far. */
import * as z from 'zod';
import type { ToolCallItem } from '../store/session-store';
import type { ToolDefinition } from './tools';

export const stepKindSchema = z.enum(['plan', 'extract', 'summarize', 'verify', 'format']);
export type StepKind = z.infer<typeof stepKindSchema>;

export interface StepInput {
  /** The turn about to be planned (1 = first model call of the session). */
  turn: number;
  /** Every recorded tool call of the session so far. */
  toolCalls: readonly Pick<ToolCallItem, 'turn' | 'name' | 'status' | 'result'>[];
  /** The tools offered to the model, with their OpenAPI `x-side-effect`. */
  tools: readonly Pick<ToolDefinition, 'name' | 'sideEffect'>[];
  /** The profile's `routing.summarizeAboveChars`. */
  summarizeAboveChars: number;
}

export interface StepDecision {
  kind: StepKind;
  /** The rule that decided, in words for the turn's routeReason. */
  reason: string;
}

const names = (list: readonly { name: string }[]): string => [...new Set(list.map((t) => t.name))].join(', ');

/**
 * The kind of the next step, first rule that matches:
 * 1. plan: the first turn (the model plans the goal);
 * 2. verify: the previous turn ran a side-effecting tool (`x-side-effect`) that succeeded (the model checks what
 *    it did and concludes). Reaching the turn limit is not a verification: the model is not told it is the last.
 * 3. summarize: the previous turn's tool results add up to more than `summarizeAboveChars` characters;
 * 4. format: every offered tool has succeeded at least once (what is left is writing the answer);
 * 5. extract: otherwise (choosing the next tool calls and their parameters from the results so far).
 */
export const detectStepKind = (input: StepInput): StepDecision => {
  const { turn } = input;
  if (turn <= 1) return { kind: 'plan', reason: 'first turn' };
  const previous = input.toolCalls.filter((c) => c.turn === turn - 1);
  const sideEffecting = new Set(input.tools.filter((t) => t.sideEffect).map((t) => t.name));
  const acted = previous.filter((c) => c.status === 'succeeded' && sideEffecting.has(c.name));
  if (acted.length > 0) return { kind: 'verify', reason: `${names(acted)} succeeded, a side effect` };
  const chars = previous.reduce((sum, c) => sum + (c.result?.length ?? 0), 0);
  if (chars > input.summarizeAboveChars) {
    return {
      kind: 'summarize',
      reason: `turn ${turn - 1} tool results ${chars} characters > ${input.summarizeAboveChars}`,
    };
  }
  const succeeded = new Set(input.toolCalls.filter((c) => c.status === 'succeeded').map((c) => c.name));
  const missing = input.tools.filter((t) => !succeeded.has(t.name));
  if (input.tools.length > 0 && missing.length === 0) {
    return { kind: 'format', reason: 'every tool has succeeded' };
  }
  return { kind: 'extract', reason: `${names(missing)} not done yet` };
};
