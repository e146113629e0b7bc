/** The Finalize step: persists how a session ended (completed or stopped) and announces it on the bus. */
import { z } from 'zod';
import { textOf } from '../agent/conversation';
import { STOP_EXPLANATIONS, type StopReason, stopReasonSchema } from '../agent/stop-reasons';
import { type EventPublisher, GOAL_COMPLETED, GOAL_STOPPED, summary } from '../contracts/lifecycle-events';
import type { SessionStore } from '../store/session-store';

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
  await deps.events.publish(completed ? GOAL_COMPLETED : GOAL_STOPPED, {
    ...summary(session),
    reason,
    output,
  });
  return { ...summary(session), reason };
};
