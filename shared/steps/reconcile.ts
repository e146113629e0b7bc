/**
 * The reconciler: an execution that ended outside the workflow's own ending (stopped, timed out, a runtime error,
 * the stack killed) leaves its session running; this marks it failed and resumable and announces Agent Goal Failed.
 */
import * as z from 'zod';
import { type EventPublisher, GOAL_FAILED, summary } from '../contracts/lifecycle-events';
import type { SessionItem, SessionStore } from '../store/session-store';
import { announceOnce } from './announce';

/**
 * "Step Functions Execution Status Change", which Step Functions puts on the account's default bus (best effort):
 * source aws.states, the execution ARN in resources, and in detail executionArn, stateMachineArn, name, status,
 * startDate, stopDate, input and output (JSON strings, null when over the size EventBridge carries), error, cause.
 * https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html
 * https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html
 */
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

export const executionStatusChangeSchema = z.object({
  source: z.literal('aws.states'),
  'detail-type': z.literal(EXECUTION_STATUS_CHANGE),
  detail: z.looseObject({
    executionArn: z.string().min(1),
    stateMachineArn: z.string().min(1),
    name: z.string(),
    status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
    input: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});
export type ExecutionStatusChange = z.infer<typeof executionStatusChangeSchema>;

/** The part of the execution input (intake's or ContinueAsNew's) that names the session. */
const sessionOfInput = z.object({ tenantId: z.string().min(1), sessionId: z.string().min(1) });

/** The failure a status names: ExecutionAborted, ExecutionTimedOut, or the execution's own error. */
export const failureOf = (detail: ExecutionStatusChange['detail']): { type: string; message: string } => {
  const type =
    detail.status === 'ABORTED'
      ? 'ExecutionAborted'
      : detail.status === 'TIMED_OUT'
        ? 'ExecutionTimedOut'
        : (detail.error ?? 'ExecutionFailed');
  const said = [detail.error, detail.cause].filter((s): s is string => typeof s === 'string' && s !== '');
  const message =
    `Execution ${detail.name} ended ${detail.status} outside the workflow` +
    (said.length > 0 ? `: ${said.join(': ')}` : '');
  return { type, message };
};

export type ReconcileOutcome =
  | { outcome: 'failed'; tenantId: string; sessionId: string; error: { type: string; message: string } }
  | { outcome: 'ignored'; reason: string };

const failedDetail = (
  session: SessionItem,
  executionArn: string,
  error: { type: string; message: string },
) => ({
  tenantId: session.tenantId,
  sessionId: session.sessionId,
  error,
  resumable: true,
  checkpointTurn: session.turn,
  executionArn,
  summary: summary(session),
});

/**
 * Fails the session only while it is still running under THIS execution; a session RecordFailure already failed,
 * or that a newer execution runs, is left alone. A redelivery after the write announces it only if the first
 * delivery's PutEvents failed: the event has the run's deterministic id, recorded on the session once published.
 */
export const reconcileExecution = async (
  deps: { store: SessionStore; events: EventPublisher },
  event: ExecutionStatusChange,
): Promise<ReconcileOutcome> => {
  const { detail } = event;
  if (!['ABORTED', 'TIMED_OUT', 'FAILED'].includes(detail.status)) {
    return { outcome: 'ignored', reason: `status ${detail.status}` };
  }
  let input: unknown;
  try {
    input = JSON.parse(detail.input ?? 'null');
  } catch {
    input = null;
  }
  const ids = sessionOfInput.safeParse(input);
  if (!ids.success) return { outcome: 'ignored', reason: 'the execution input names no session' };
  const { tenantId, sessionId } = ids.data;
  const error = failureOf(detail);
  const result = await deps.store.failSession({
    tenantId,
    sessionId,
    underExecution: detail.executionArn,
    errorType: error.type,
    message: error.message,
  });
  const current = result.session;
  const redelivered =
    !result.failed &&
    current?.status === 'failed' &&
    current.executionArn === detail.executionArn &&
    current.error?.type === error.type &&
    current.error.message === error.message;
  if (!result.failed && !redelivered) {
    const why = current ? `${current.status} under ${current.executionArn ?? 'no execution'}` : 'absent';
    return { outcome: 'ignored', reason: `session ${sessionId} is ${why}` };
  }
  if (current)
    await announceOnce(deps, current, GOAL_FAILED, failedDetail(current, detail.executionArn, error));
  return { outcome: 'failed', tenantId, sessionId, error };
};
