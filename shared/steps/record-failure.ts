/** The RecordFailure step: keeps a resumable checkpoint of a failed goal and announces Agent Goal Failed once. */
import * as z from 'zod';
import { GOAL_FAILED, summary } from '../contracts/lifecycle-events';
import { type AnnounceDeps, announceOnce } from './announce';
import { hasEnded, publishEnded } from './finalize';

export const recordFailureInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
  /** The state that failed: each Catch passes through a Pass state that names it (statemachines/agent-goal.asl.json). */
  step: z.string().min(1).optional(),
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

export const recordFailure = async (deps: AnnounceDeps, input: RecordFailureInput) => {
  const errorType = input.error.Error ?? 'Unknown';
  const message = describeCause(input.error.Cause);
  const step = input.step ?? null;
  const result = await deps.store.failSession({
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    errorType,
    message,
    ...(input.step ? { step: input.step } : {}),
  });
  const failed = result.failed ? result.session : undefined;
  const detail = {
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    error: { type: errorType, message, step },
    resumable: failed !== undefined,
    checkpointTurn: failed?.turn ?? null,
    ...(failed ? { summary: summary(failed) } : {}),
  };
  if (failed) {
    const { eventId, published } = await announceOnce(deps, failed, GOAL_FAILED, detail);
    return { ...detail, eventId, published, event: GOAL_FAILED, status: failed.status };
  }
  // The session already ended (completed or stopped) or does not exist: announcing a failure would contradict
  // it. An ended session announces its own end instead, in case Finalize's PutEvents was what failed.
  const current = result.session;
  if (!hasEnded(current))
    return { ...detail, eventId: null, published: false, event: null, status: current?.status ?? null };
  const ended = await publishEnded(deps, current);
  return {
    ...detail,
    eventId: ended.eventId,
    published: ended.published,
    event: ended.detailType,
    status: current.status,
  };
};
