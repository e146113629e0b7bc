/** The Finalize step: persists how a session ended (completed or stopped) and announces it on the bus. */
import * as z from 'zod';
import { textOf } from '../agent/conversation';
import { STOP_EXPLANATIONS, type StopReason, stopReasonSchema } from '../agent/stop-reasons';
import { type EventPublisher, GOAL_COMPLETED, GOAL_STOPPED, summary } from '../contracts/lifecycle-events';
import type { EndedSession, SessionItem, SessionStore } from '../store/session-store';

export const finalizeInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
  next: z.literal('finalize'),
  reason: stopReasonSchema.nullable(),
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

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
  // A retried Finalize finds the session already ended the same way and publishes again: a PutEvents that
  // failed after the session committed must not lose the event.
  await publishEnded(deps.events, session);
  return { ...summary(session), reason };
};

/**
 * Announces how an ended session ended: Agent Goal Completed or Agent Goal Stopped with its summary, reason and
 * output as stored. Finalize sends it; RecordFailure sends it again for a session Finalize already ended.
 */
export const publishEnded = async (
  events: EventPublisher,
  session: EndedSession,
): Promise<typeof GOAL_COMPLETED | typeof GOAL_STOPPED> => {
  const detailType = session.status === 'completed' ? GOAL_COMPLETED : GOAL_STOPPED;
  await events.publish(detailType, {
    ...summary(session),
    reason: session.stopReason,
    output: session.output,
  });
  return detailType;
};

export const hasEnded = (session: SessionItem | undefined): session is EndedSession =>
  session?.status === 'completed' || session?.status === 'stopped';
