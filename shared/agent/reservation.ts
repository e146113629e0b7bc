/**
 * Reservation maths, pure: the worst case a model call may cost (counted input tokens plus maxTokens at the dearest
 * rates the turn may use), what a tool call may cost, and which cost thresholds a spend has reached.
 */
import type { ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import type { MessageItem } from '../store/table';
import {
  costMicros,
  TOOL_CALL_INFRASTRUCTURE_MICROS,
  type TokenRates,
  TURN_INFRASTRUCTURE_MICROS,
} from './pricing/micros';

/** Tokens added per message of the request beyond its text: role markers and block framing, generously. */
export const MESSAGE_FRAMING_TOKENS = 64;

const utf8Bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');

/**
 * A conservative count of the request's input tokens, without a tokenizer call (Bedrock's CountTokens does not
 * serve every model). Every token of a byte-level BPE tokenizer covers at least one UTF-8 byte, so a text's byte
 * count bounds its tokens. When the previous turn was answered by the same model, the prefix it was billed for is
 * known exactly: its prompt tokens (input, cache read and write) plus its output tokens, which this request sends
 * back as input; only the messages after it are counted in bytes. Otherwise the whole request is (system, tools and
 * messages as JSON), and after another model's turn the larger of that and the billed prefix (routing moves a
 * session between tiers, and tokenizers differ).
 */
export const countInputTokens = (
  request: Pick<ConverseCommandInput, 'modelId' | 'system' | 'messages' | 'toolConfig'>,
  previous: Pick<MessageItem, 'modelId' | 'usage'> | undefined,
): number => {
  const messages = request.messages ?? [];
  const bytes =
    utf8Bytes(request.system) +
    utf8Bytes(request.toolConfig) +
    messages.reduce((sum, m) => sum + utf8Bytes(m.content) + MESSAGE_FRAMING_TOKENS, 0);
  const usage = previous?.usage;
  const lastAnswer = messages.findLastIndex((m) => m.role === 'assistant');
  if (!usage || lastAnswer < 0) return bytes;
  const after = messages.slice(lastAnswer + 1);
  const billed =
    usage.input +
    usage.cacheRead +
    usage.cacheWrite +
    usage.output +
    after.reduce((sum, m) => sum + utf8Bytes(m.content) + MESSAGE_FRAMING_TOKENS, MESSAGE_FRAMING_TOKENS);
  // Another model's tokenizer may count the same prefix differently: take the larger of the two bounds.
  return previous?.modelId === request.modelId ? billed : Math.max(bytes, billed);
};

/** The dearest of each rate over the models a turn may fall back to: the reservation covers whichever answers. */
export const dearestRates = (rates: TokenRates[]): TokenRates => ({
  input: Math.max(0, ...rates.map((r) => r.input)),
  output: Math.max(0, ...rates.map((r) => r.output)),
  cacheRead: Math.max(0, ...rates.map((r) => r.cacheRead)),
  cacheWrite: Math.max(0, ...rates.map((r) => r.cacheWrite)),
});

/** What a model turn reserves: its input (each token at the dearer of input and cache write) and maxTokens out. */
export const modelReservation = (
  inputTokens: number,
  maxTokens: number,
  rates: TokenRates,
): { micros: number; tokens: number } => ({
  micros:
    costMicros(
      { input: inputTokens, output: maxTokens, cacheRead: 0, cacheWrite: 0 },
      { ...rates, input: Math.max(rates.input, rates.cacheWrite) },
    ) + TURN_INFRASTRUCTURE_MICROS,
  tokens: inputTokens + maxTokens,
});

/** What a tool call reserves: its infrastructure (the tools themselves bill nothing per call). */
export const toolCallReservation = (): { micros: number; tokens: number } => ({
  micros: TOOL_CALL_INFRASTRUCTURE_MICROS,
  tokens: 0,
});

export const COST_THRESHOLDS = [50, 80, 100] as const;
export type CostThreshold = (typeof COST_THRESHOLDS)[number];

/** The spend at which `percent` of `budgetMicros` is reached, rounded up (integers: no float comparison). */
export const thresholdMicros = (percent: CostThreshold, budgetMicros: number): number =>
  Math.ceil((budgetMicros * percent) / 100);

/**
 * Thresholds `spentMicros` has reached and `alerted` does not hold yet. `exhausted` (the budget could not fund the
 * next call) counts as 100 %: with reservations the spend stops short of the budget by up to one call's worst case.
 */
export const thresholdsToAlert = (
  spentMicros: number,
  budgetMicros: number,
  alerted: readonly CostThreshold[],
  exhausted = false,
): CostThreshold[] =>
  COST_THRESHOLDS.filter(
    (p) =>
      !alerted.includes(p) &&
      ((exhausted && p === 100) || (budgetMicros > 0 && spentMicros >= thresholdMicros(p, budgetMicros))),
  );
