/** The Finalize step: persists how a session ended (completed or stopped) and announces it on the bus. */
import { z } from 'zod';
import { textOf } from '../agent/conversation';
import { type EventPublisher, GOAL_COMPLETED, GOAL_STOPPED } from '../contracts/lifecycle-events';
import type { SessionItem, SessionStore } from '../store/session-store';
import type { StopReason } from './decide';

const STOP_EXPLANATIONS: Record<Exclude<StopReason, 'completed'>, string> = {
  max_turns: 'the turn limit was reached',
  token_budget: 'the token budget was used up',
  usd_budget: 'the USD budget was used up',
  loop_detected: 'the agent kept calling the same tool without progress',
  schema_violations: 'the model kept sending tool parameters that break the schema',
};

export const finalizeInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
  next: z.literal('finalize'),
  reason: z
    .enum(['completed', 'max_turns', 'token_budget', 'usd_budget', 'loop_detected', 'schema_violations'])
    .nullable(),
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

export const summary = (session: SessionItem) => ({
  tenantId: session.tenantId,
  sessionId: session.sessionId,
  agent: session.agent,
  status: session.status,
  turns: session.turn,
  toolCalls: session.toolCalls,
  tokens: {
    input: session.tokensInput,
    output: session.tokensOutput,
    cacheRead: session.tokensCacheRead,
    cacheWrite: session.tokensCacheWrite,
  },
  costUsd: session.costUsd,
  models: session.models,
});

export const finalizeSession = async (
  deps: { store: SessionStore; events: EventPublisher },
  input: Pick<FinalizeInput, 'tenantId' | 'sessionId' | 'reason'>,
) => {
  const conversation = await deps.store.loadConversation(input.tenantId, input.sessionId);
  const lastAnswer = textOf(conversation.messages.filter((m) => m.role === 'assistant').at(-1));
  const reason: StopReason = input.reason ?? 'completed';
  const completed = reason === 'completed';
  const output = completed
    ? lastAnswer
    : `Stopped because ${STOP_EXPLANATIONS[reason]}.${lastAnswer ? ` Last answer: ${lastAnswer}` : ''}`;
  const session = await deps.store.finishSession({
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    status: completed ? 'completed' : 'stopped',
    output,
    stopReason: reason,
  });
  await deps.events.publish(completed ? GOAL_COMPLETED : GOAL_STOPPED, {
    ...summary(session),
    reason,
    output,
  });
  return { ...summary(session), reason };
};
