/**
 * Step Functions' side of X-Ray for a state machine with tracing enabled: an execution's segment
 * (`AWS::StepFunctions::StateMachine`), sent when it ends, in the trace of the StartExecution caller; its Lambda
 * tasks are invoked with the execution's trace header, so the functions' segments are its children.
 * Source (read 2026-12-02): https://docs.aws.amazon.com/step-functions/latest/dg/concepts-xray-tracing.html
 * Step Functions also records a subsegment per state; this stand-in does not.
 */
import { epochSeconds, sendSegment } from '../xray/emitter';
import type { ExecutionRecord } from './records';

const FAILED = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/** The execution's segment, from its record (start and stop dates, status). */
export const executionSegment = (
  r: ExecutionRecord,
  machineName: string,
): Record<string, unknown> | undefined => {
  if (!r.trace) return undefined;
  return {
    name: machineName,
    id: r.trace.segmentId,
    trace_id: r.trace.traceId,
    ...(r.trace.parentId ? { parent_id: r.trace.parentId } : {}),
    start_time: epochSeconds(Date.parse(r.startDate)),
    end_time: epochSeconds(Date.parse(r.stopDate ?? new Date().toISOString())),
    origin: 'AWS::StepFunctions::StateMachine',
    aws: { execution_arn: r.executionArn, state_machine_arn: r.stateMachineArn },
    ...(FAILED.has(r.status) ? { error: true } : {}),
    ...(r.error ? { cause: { exceptions: [{ type: r.error, message: r.cause ?? '' }] } } : {}),
  };
};

/** Sends the ended execution's segment when it is traced and sampled and a daemon runs. */
export const sendExecutionSegment = (
  daemonAddress: string | undefined,
  r: ExecutionRecord,
  machineName: string,
): void => {
  const segment = executionSegment(r, machineName);
  if (daemonAddress === undefined || segment === undefined || !r.trace?.sampled) return;
  void sendSegment(daemonAddress, segment, (line) => console.error(`[local stepfunctions] ${line}`));
};
