/**
 * Lambda's asynchronous invocation (InvocationType Event): after a function error it tries again up to the
 * function's `maximumRetryAttempts` (AWS waits about 1 then 2 minutes; locally `retryDelaysMs`), stops trying an
 * event older than `maximumEventAge`, and then sends an invocation record to the on-failure destination.
 *
 * Record shape: "Capturing records of Lambda asynchronous invocations" (Lambda Developer Guide): `version`,
 * `timestamp`, `requestContext` {requestId, functionArn (qualified), condition: RetriesExhausted | EventAgeExceeded,
 * approximateInvokeCount}, `requestPayload`, `responseContext` {statusCode, executedVersion, functionError},
 * `responsePayload`. Retries keep the request id.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendToQueueArn } from '../sqs/client';
import type { AsyncInvokeSpec } from './functions';
import type { DeployedFunction, InvokeResult } from './invocations';

export type FailureCondition = 'RetriesExhausted' | 'EventAgeExceeded';

/** Lambda's defaults for a function that does not configure asynchronous invocation. */
const DEFAULT_ASYNC: AsyncInvokeSpec = { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 };

/** AWS waits about a minute before the first retry and two before the second; locally a second and two. */
export const DEFAULT_RETRY_DELAYS_MS = [1_000, 2_000];

export interface AsyncInvocationOptions {
  /** Wait before retry n (the last one repeats); default DEFAULT_RETRY_DELAYS_MS. */
  retryDelaysMs?: number[];
  /** Sends on-failure records; without it, a function with a destination only logs that it has none locally. */
  sqs?: SQSClient;
  log: (line: string) => void;
}

const jsonOrText = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** The record Lambda sends to an on-failure destination. */
export const invocationRecord = (
  fn: DeployedFunction,
  requestId: string,
  payload: string,
  last: InvokeResult,
  failure: { condition: FailureCondition; invokeCount: number },
) => ({
  version: '1.0',
  timestamp: new Date().toISOString(),
  requestContext: {
    requestId,
    functionArn: `${fn.arn}:$LATEST`,
    condition: failure.condition,
    approximateInvokeCount: failure.invokeCount,
  },
  requestPayload: jsonOrText(payload),
  responseContext: {
    statusCode: 200,
    executedVersion: '$LATEST',
    ...(last.functionError === undefined ? {} : { functionError: last.functionError }),
  },
  responsePayload: jsonOrText(last.payload),
});

/** Runs Event invocations with Lambda's retries and on-failure destination. */
export class AsyncInvocations {
  private readonly stopping = new AbortController();

  constructor(private readonly o: AsyncInvocationOptions) {}

  /** Resolves after `ms`, or at once when the service stops. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping.signal.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopping.signal.addEventListener('abort', done);
    });
  }

  /** Tries `execute` until it succeeds or Lambda would give up, then sends the record to the destination. */
  async run(
    fn: DeployedFunction,
    requestId: string,
    payload: string,
    execute: () => Promise<InvokeResult>,
  ): Promise<void> {
    const config = fn.spec.asyncInvoke ?? DEFAULT_ASYNC;
    const delays = this.o.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const queuedAt = Date.now();
    for (let invokeCount = 1; ; invokeCount++) {
      const last = await execute();
      if (last.functionError === undefined) return;
      let condition: FailureCondition | undefined;
      if (invokeCount > config.maximumRetryAttempts) condition = 'RetriesExhausted';
      else {
        await this.wait(delays[Math.min(invokeCount - 1, delays.length - 1)] ?? 0);
        if (this.stopping.signal.aborted) {
          this.o.log(
            `Event invocation ${requestId} of ${fn.spec.name} not retried: the Lambda service stopped`,
          );
          return;
        }
        if (Date.now() - queuedAt > config.maximumEventAgeSeconds * 1000) condition = 'EventAgeExceeded';
      }
      if (condition !== undefined) {
        await this.deliverFailure(
          fn,
          invocationRecord(fn, requestId, payload, last, { condition, invokeCount }),
        );
        return;
      }
    }
  }

  /** Sends the record to the on-failure queue; a failed send is logged (AWS counts DestinationDeliveryFailures). */
  private async deliverFailure(
    fn: DeployedFunction,
    record: ReturnType<typeof invocationRecord>,
  ): Promise<void> {
    const { requestId, condition, approximateInvokeCount } = record.requestContext;
    const arn = fn.spec.asyncInvoke?.onFailureQueueArn;
    const what = `Event invocation ${requestId} of ${fn.spec.name} failed (${condition}, ${approximateInvokeCount} tries)`;
    if (arn === undefined || this.o.sqs === undefined) {
      this.o.log(`${what}; no on-failure destination, the event is dropped`);
      return;
    }
    try {
      await sendToQueueArn(this.o.sqs, arn, JSON.stringify(record));
      this.o.log(`${what}; record sent to ${arn}`);
    } catch (error) {
      this.o.log(`${what}; the record could not be sent to ${arn}: ${String(error)}`);
    }
  }

  /** Cuts the waits short: events still waiting for a retry are not tried again. */
  stop(): void {
    this.stopping.abort();
  }
}
