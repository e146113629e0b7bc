/** The Decide step: after a turn, continue planning, finish, or stop on a limit (turns, budget, loop, schema). */
import { z } from 'zod';
import { getProfile } from '../agent/profiles';
import { SessionStateError } from '../runtime/errors';
import type { Conversation, SessionStore, ToolCallItem } from '../store/session-store';

export type StopReason =
  | 'completed'
  | 'max_turns'
  | 'token_budget'
  | 'usd_budget'
  | 'loop_detected'
  | 'schema_violations';

export const decideInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
  action: z.enum(['tools', 'finish', 'stop']),
  planReason: z
    .enum(['completed', 'max_turns', 'token_budget', 'usd_budget', 'loop_detected', 'schema_violations'])
    .nullable(),
});
export type DecideInput = z.infer<typeof decideInputSchema>;

export interface Decision {
  tenantId: string;
  sessionId: string;
  turn: number;
  next: 'plan' | 'finalize';
  reason: StopReason | null;
}

/**
 * Length of the trailing run of calls to the same tool that brought no new state (same result as the one
 * before). Loop detection stops the goal when it exceeds the profile's threshold (5 by default).
 */
export const repeatStreak = (calls: ToolCallItem[]): number => {
  const ordered = [...calls].sort((a, b) => a.turn - b.turn || a.index - b.index);
  let streak = 0;
  let previous: ToolCallItem | undefined;
  for (const call of ordered) {
    const same =
      previous !== undefined && previous.name === call.name && previous.resultHash === call.resultHash;
    streak = same ? streak + 1 : 1;
    previous = call;
  }
  return streak;
};

/** Trailing turns in which every tool call was rejected by its schema. */
export const schemaViolationTurns = (calls: ToolCallItem[], lastTurn: number): number => {
  let count = 0;
  for (let turn = lastTurn; turn >= 1; turn -= 1) {
    const ofTurn = calls.filter((c) => c.turn === turn);
    if (ofTurn.length === 0 || !ofTurn.every((c) => c.errorKind === 'schema')) break;
    count += 1;
  }
  return count;
};

export const decideNext = (conversation: Conversation, input: DecideInput): Decision => {
  const base = { tenantId: input.tenantId, sessionId: input.sessionId, turn: input.turn };
  if (input.action === 'finish') return { ...base, next: 'finalize', reason: 'completed' };
  if (input.action === 'stop')
    return { ...base, next: 'finalize', reason: input.planReason ?? 'token_budget' };

  const { session, toolCalls } = conversation;
  if (session.status !== 'running') {
    throw new SessionStateError(
      `Session ${session.sessionId} is ${session.status}; only a running session decides`,
    );
  }
  const unfinished = toolCalls.filter((c) => c.turn === input.turn && c.status === 'started');
  if (unfinished.length > 0) {
    throw new SessionStateError(
      `Turn ${input.turn} still has ${unfinished.length} tool call(s) without an outcome`,
    );
  }
  const profile = getProfile(session.agent);
  const { limits } = session;
  const tokensUsed =
    session.tokensInput + session.tokensOutput + session.tokensCacheRead + session.tokensCacheWrite;
  if (repeatStreak(toolCalls) > profile.limits.loopThreshold)
    return { ...base, next: 'finalize', reason: 'loop_detected' };
  if (schemaViolationTurns(toolCalls, input.turn) > profile.limits.maxSchemaRetries) {
    return { ...base, next: 'finalize', reason: 'schema_violations' };
  }
  if (tokensUsed >= limits.tokenBudget) return { ...base, next: 'finalize', reason: 'token_budget' };
  if (session.costUsd >= limits.usdBudget) return { ...base, next: 'finalize', reason: 'usd_budget' };
  if (session.turn >= limits.maxTurns) return { ...base, next: 'finalize', reason: 'max_turns' };
  return { ...base, next: 'plan', reason: null };
};

export const decide = async (store: SessionStore, input: DecideInput): Promise<Decision> =>
  decideNext(await store.loadConversation(input.tenantId, input.sessionId), input);
