/** The Decide step: after a turn, continue planning, finish, or stop on a limit (turns, budget, loop, schema). */
import * as z from 'zod';
import { budgetExceeded } from '../agent/budget';
import { limitReached } from '../agent/limits';
import { getProfile } from '../agent/profiles';
import { type StopReason, stopReasonSchema } from '../agent/stop-reasons';
import { SessionStateError } from '../runtime/errors';
import type { Conversation, SessionStore } from '../store/session-store';

export const decideInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
  action: z.enum(['tools', 'finish', 'stop']),
  planReason: stopReasonSchema.nullable(),
});
export type DecideInput = z.infer<typeof decideInputSchema>;

export interface Decision {
  tenantId: string;
  sessionId: string;
  turn: number;
  next: 'plan' | 'finalize';
  reason: StopReason | null;
}

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
  const reason =
    limitReached(toolCalls, input.turn, profile.limits) ??
    budgetExceeded(session, session.limits) ??
    (session.turn >= session.limits.maxTurns ? 'max_turns' : undefined);
  return reason ? { ...base, next: 'finalize', reason } : { ...base, next: 'plan', reason: null };
};

export const decide = async (store: SessionStore, input: DecideInput): Promise<Decision> =>
  decideNext(await store.loadConversation(input.tenantId, input.sessionId), input);
