/**
 * Lambda's side of X-Ray for one invocation, as the Lambda service does it for a function with active tracing: the
 * trace header the function sees in `_X_AMZN_TRACE_ID` (Root, Parent = the function segment, Sampled), continued
 * from the caller's `X-Amzn-Trace-Id` when there is one, and the `AWS::Lambda::Function` segment sent to the daemon,
 * which is the parent of the SDK's subsegments (the SDK's facade segment takes its id from Parent).
 * Source (read 2026-12-02): https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html
 */
import { epochSeconds, type ServiceTrace, sendSegment } from '../xray/emitter';

export { continueTrace as invocationTrace, type ServiceTrace as InvocationTrace } from '../xray/emitter';

export interface FunctionRun {
  functionName: string;
  functionArn: string;
  requestId: string;
  startedMs: number;
  endedMs: number;
  /** A function error (the runtime's or an injected one) marks the segment as a fault. */
  errorType?: string;
}

/** The `AWS::Lambda::Function` segment of one invocation. */
export const functionSegment = (trace: ServiceTrace, run: FunctionRun): Record<string, unknown> => ({
  name: run.functionName,
  id: trace.segmentId,
  trace_id: trace.traceId,
  ...(trace.parentId ? { parent_id: trace.parentId } : {}),
  start_time: epochSeconds(run.startedMs),
  end_time: epochSeconds(run.endedMs),
  origin: 'AWS::Lambda::Function',
  aws: { function_arn: run.functionArn, request_id: run.requestId },
  ...(run.errorType === undefined ? {} : { fault: true, cause: { exceptions: [{ type: run.errorType }] } }),
});

/** Sends the segment when the invocation is sampled and a daemon is configured. */
export const sendFunctionSegment = (
  daemonAddress: string | undefined,
  trace: ServiceTrace,
  run: FunctionRun,
  log: (line: string) => void,
): void => {
  if (daemonAddress === undefined || !trace.sampled) return;
  void sendSegment(daemonAddress, functionSegment(trace, run), log);
};
