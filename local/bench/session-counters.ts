/** A session's counters as its item holds them and as its committed turns and tool calls add up, for exactness checks. */
import { TOOL_CALL_INFRASTRUCTURE_MICROS } from '../../shared/agent/pricing/micros';
import type { Conversation } from '../../shared/store/session-store';
import type { ConverseCallRecord } from '../bedrock/converse';

/** What a goal ended with: equal for every run of the same goal under the deterministic fixture model. */
export interface SessionCounters {
  status: string;
  turns: number;
  toolCalls: number;
  tokensInput: number;
  tokensOutput: number;
  tokensCacheRead: number;
  tokensCacheWrite: number;
  /** CPTO in integer micro-dollars: each turn's (tokens and infrastructure) and each charged tool call's. */
  costMicros: number;
  models: Record<string, number>;
}

/** Calls refused before RunTool reserved anything cost nothing; every other finished call was charged. */
const UNCHARGED: readonly (string | undefined)[] = ['schema', 'unknown_tool', 'limit', 'budget'];

const sortedCounts = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));

/** The counters on the session item (what Plan and RunTool added up as they went). */
export const storedCounters = (conversation: Conversation): SessionCounters => {
  const s = conversation.session;
  return {
    status: s.status,
    turns: s.turn,
    toolCalls: s.toolCalls,
    tokensInput: s.tokensInput,
    tokensOutput: s.tokensOutput,
    tokensCacheRead: s.tokensCacheRead,
    tokensCacheWrite: s.tokensCacheWrite,
    costMicros: s.costMicros ?? 0,
    models: sortedCounts(s.models),
  };
};

/** The same counters summed over the committed model turns and the finished tool-call records. */
export const summedCounters = (conversation: Conversation): SessionCounters => {
  const sums: SessionCounters = {
    status: conversation.session.status,
    turns: 0,
    toolCalls: conversation.toolCalls.filter((c) => c.status !== 'started').length,
    tokensInput: 0,
    tokensOutput: 0,
    tokensCacheRead: 0,
    tokensCacheWrite: 0,
    costMicros: 0,
    models: {},
  };
  const charged = conversation.toolCalls.filter(
    (c) => c.status !== 'started' && !UNCHARGED.includes(c.errorKind),
  );
  sums.costMicros += charged.length * TOOL_CALL_INFRASTRUCTURE_MICROS;
  for (const message of conversation.messages) {
    if (message.role !== 'assistant') continue;
    sums.turns++;
    sums.tokensInput += message.usage?.input ?? 0;
    sums.tokensOutput += message.usage?.output ?? 0;
    sums.tokensCacheRead += message.usage?.cacheRead ?? 0;
    sums.tokensCacheWrite += message.usage?.cacheWrite ?? 0;
    sums.costMicros += message.costMicros ?? 0;
    if (message.modelId !== undefined) sums.models[message.modelId] = (sums.models[message.modelId] ?? 0) + 1;
  }
  sums.models = sortedCounts(sums.models);
  return sums;
};

/** The tokens the model emulator billed the session: its answered Converse calls. */
export const billedTokens = (
  calls: ConverseCallRecord[],
  sessionId: string,
): Pick<SessionCounters, 'tokensInput' | 'tokensOutput' | 'tokensCacheRead' | 'tokensCacheWrite'> => {
  const billed = { tokensInput: 0, tokensOutput: 0, tokensCacheRead: 0, tokensCacheWrite: 0 };
  for (const call of calls) {
    if (call.sessionId !== sessionId || call.status !== 200 || call.usage === undefined) continue;
    billed.tokensInput += call.usage.inputTokens;
    billed.tokensOutput += call.usage.outputTokens;
    billed.tokensCacheRead += call.usage.cacheReadInputTokens;
    billed.tokensCacheWrite += call.usage.cacheWriteInputTokens;
  }
  return billed;
};

/**
 * The fields that are the same for every run of one goal. Input tokens (and so cost) are not: the emulator's
 * toolUse ids hash the conversation, and a later turn's conversation holds session-specific tool results (the
 * report id derives from the session), so a few input tokens differ per session. Nor are cache reads and writes: the
 * prompt cache is shared by every session of the account, as Bedrock's is, so a goal whose first prompt another
 * goal already cached reads it, and which goal writes first depends on the interleaving. Those are checked against
 * the session's own records and the emulator's bill instead.
 */
export const RUN_INVARIANT_FIELDS = [
  'status',
  'turns',
  'toolCalls',
  'tokensOutput',
  'models',
] as const satisfies readonly (keyof SessionCounters)[];

/** Names of the fields (all of `a`'s, or those given) where `a` and `b` differ; empty when equal. */
export const counterDifferences = <T extends object>(
  a: T,
  b: Partial<T>,
  fields: readonly (keyof T)[] = Object.keys(a) as (keyof T)[],
): string[] => fields.filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key])).map(String);
