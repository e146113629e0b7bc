/**
 * Bedrock Guardrails emulated by a deny-list: a request with `guardrailConfig` names a configured guardrail, whose
 * denied words block the input (the user's text) or the answer, the way Converse reports an intervention.
 *
 * Converse answers an intervention with `stopReason: "guardrail_intervened"` and the guardrail's blocked message as
 * the output text; with `trace: "enabled"` the response carries `trace.guardrail` assessments
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-use-converse-api.html, read 2026-12-02). Tool
 * results, tool definitions and tool-call arguments are not evaluated by a Converse guardrail (same page), so the
 * emulator reads only the user messages' text and guardContent blocks, and the answer's text. A guardrail id or
 * version it does not know gets ResourceNotFoundException (HTTP 404), an error Converse lists for a resource it
 * cannot find (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html, read 2026-12-02).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ConverseRequestBody } from './converse-request';
import { HttpError } from './http2-server';

export const guardrailDenyListSchema = z.strictObject({
  /** Versions the guardrail has (DRAFT and numbered); a request for another is refused as not found. */
  versions: z
    .array(z.string().regex(/^(([1-9][0-9]{0,7})|(DRAFT))$/))
    .min(1)
    .default(['DRAFT', '1']),
  /** Words or phrases (case-insensitive, whole words) that make the guardrail intervene. */
  deniedWords: z.array(z.string().min(1)).min(1),
  blockedInputMessaging: z.string().min(1).default('Sorry, the model cannot answer this question.'),
  blockedOutputsMessaging: z.string().min(1).default('Sorry, the model cannot answer this question.'),
});
/** The deny-lists by guardrail id (`.local/guardrails.json`, or the stack's `guardrails` option). */
export const guardrailDenyListsSchema = z.record(z.string().regex(/^[a-z0-9]+$/), guardrailDenyListSchema);
export type GuardrailDenyLists = z.input<typeof guardrailDenyListsSchema>;
type ParsedDenyList = z.output<typeof guardrailDenyListSchema>;

/** The deny-lists of a JSON file; none when the file does not exist; a malformed file fails the stack's start. */
export const readGuardrailsFile = (path: string): GuardrailDenyLists => {
  if (!existsSync(path)) return {};
  const parsed = guardrailDenyListsSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`Invalid guardrails file ${path}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
};

export interface Intervention {
  content: { text: string }[];
  stopReason: 'guardrail_intervened';
  trace?: Record<string, unknown>;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const firstDenied = (list: ParsedDenyList, text: string): string | undefined =>
  list.deniedWords.find((word) => new RegExp(`(^|\\W)${escapeRegExp(word)}($|\\W)`, 'i').test(text));

/** The guardrail id of an identifier: the id itself, or the last part of a guardrail ARN. */
const idOf = (identifier: string): string => identifier.split('/').at(-1) ?? identifier;

/** The text a guardrail evaluates on input: user messages' text and guardContent blocks (not tool results). */
const inputText = (request: ConverseRequestBody): string =>
  (request.messages ?? [])
    .filter((m) => m.role === 'user')
    .flatMap((m) => m.content)
    .flatMap((block) => {
      const guarded = (block as { guardContent?: { text?: { text?: string } } }).guardContent?.text?.text;
      return [...(typeof block.text === 'string' ? [block.text] : []), ...(guarded ? [guarded] : [])];
    })
    .join('\n');

export class GuardrailEmulator {
  private readonly lists: Record<string, ParsedDenyList>;

  constructor(lists: GuardrailDenyLists = {}) {
    this.lists = guardrailDenyListsSchema.parse(lists);
  }

  /** The deny-list a request's guardrailConfig names; undefined without one; not found: Bedrock's 404. */
  private listFor(request: ConverseRequestBody): { id: string; list: ParsedDenyList } | undefined {
    const config = request.guardrailConfig;
    if (!config) return undefined;
    const id = idOf(config.guardrailIdentifier);
    const list = this.lists[id];
    if (!list?.versions.includes(config.guardrailVersion)) {
      throw new HttpError(
        404,
        'ResourceNotFoundException',
        `The guardrail ${config.guardrailIdentifier} version ${config.guardrailVersion} was not found.`,
      );
    }
    return { id, list };
  }

  private intervention(
    request: ConverseRequestBody,
    id: string,
    text: string,
    match: string,
    where: 'inputAssessment' | 'outputAssessments',
  ): Intervention {
    const assessment = { wordPolicy: { customWords: [{ match, action: 'BLOCKED' }] } };
    const traced =
      request.guardrailConfig?.trace !== undefined && request.guardrailConfig.trace !== 'disabled';
    return {
      content: [{ text }],
      stopReason: 'guardrail_intervened',
      ...(traced
        ? {
            trace: {
              guardrail:
                where === 'inputAssessment'
                  ? { inputAssessment: { [id]: assessment } }
                  : { outputAssessments: { [id]: [assessment] } },
            },
          }
        : {}),
    };
  }

  /** Before the model: an intervention when the input holds a denied word (the model is not called). */
  checkInput(request: ConverseRequestBody): Intervention | undefined {
    const named = this.listFor(request);
    if (!named) return undefined;
    const match = firstDenied(named.list, inputText(request));
    return match === undefined
      ? undefined
      : this.intervention(request, named.id, named.list.blockedInputMessaging, match, 'inputAssessment');
  }

  /** After the model: an intervention when the answer's text holds a denied word. */
  checkOutput(request: ConverseRequestBody, content: object[]): Intervention | undefined {
    const named = this.listFor(request);
    if (!named) return undefined;
    const text = content
      .flatMap((b) => ('text' in b && typeof b.text === 'string' ? [b.text] : []))
      .join('\n');
    const match = firstDenied(named.list, text);
    return match === undefined
      ? undefined
      : this.intervention(request, named.id, named.list.blockedOutputsMessaging, match, 'outputAssessments');
  }
}
