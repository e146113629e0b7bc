/** The Finalize step: persists how a session ended (completed or stopped) and announces it on the bus. */
import * as z from 'zod';
import { textOf } from '../agent/conversation';
import { STOP_EXPLANATIONS, stopReasonSchema } from '../agent/stop-reasons';
import { type EventPublisher, GOAL_COMPLETED, GOAL_STOPPED, summary } from '../contracts/lifecycle-events';
import type { EndedSession, SessionItem, SessionStore } from '../store/session-store';

export const finalizeInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  /** The session's last committed turn: its assistant message is the output (none at turn 0). */
  turn: z.number().int().min(0),
  reason: stopReasonSchema,
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

export const finalizeSession = async (
  deps: { store: SessionStore; events: EventPublisher },
  input: FinalizeInput,
) => {
  // Only the last answer is read (one GetItem), not the whole conversation.
  const last =
    input.turn > 0 ? await deps.store.getMessage(input.tenantId, input.sessionId, input.turn) : undefined;
  const lastAnswer = textOf(last?.role === 'assistant' ? last : undefined);
  const { reason } = input;
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
