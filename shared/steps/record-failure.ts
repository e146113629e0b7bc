/** The RecordFailure step: keeps a resumable checkpoint of a failed goal and announces Agent Goal Failed. */
import * as z from 'zod';
import { type EventPublisher, GOAL_FAILED, summary } from '../contracts/lifecycle-events';
import type { SessionStore } from '../store/session-store';
import { hasEnded, publishEnded } from './finalize';

export const recordFailureInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});
export type RecordFailureInput = z.infer<typeof recordFailureInputSchema>;

/** Step Functions puts the task's error JSON in Cause; dig out a readable message. */
export const describeCause = (cause: string | undefined): string => {
  if (!cause) return 'no cause recorded';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
};

export const recordFailure = async (
  deps: { store: SessionStore; events: EventPublisher },
  input: RecordFailureInput,
) => {
  const errorType = input.error.Error ?? 'Unknown';
  const message = describeCause(input.error.Cause);
  const result = await deps.store.failSession({
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    errorType,
    message,
  });
  const failed = result.failed ? result.session : undefined;
  const detail = {
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    error: { type: errorType, message },
    resumable: failed !== undefined,
    checkpointTurn: failed?.turn ?? null,
    ...(failed ? { summary: summary(failed) } : {}),
  };
  if (failed) {
    await deps.events.publish(GOAL_FAILED, detail);
    return { ...detail, published: true, event: GOAL_FAILED, status: failed.status };
  }
  // The session already ended (completed or stopped) or does not exist: announcing a failure would contradict
  // it. An ended session announces its own end again instead, in case Finalize's PutEvents was what failed.
  const current = result.session;
  if (!hasEnded(current))
    return { ...detail, published: false, event: null, status: current?.status ?? null };
  const event = await publishEnded(deps.events, current);
  return { ...detail, published: true, event, status: current.status };
};
