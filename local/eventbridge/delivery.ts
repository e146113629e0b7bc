/**
 * Delivery of a matched event to a Lambda target, as EventBridge does: Invoke with InvocationType "Event", retried;
 * what cannot be delivered goes to the target's dead-letter queue, when it has one.
 *
 * Dead letters: "Using dead-letter queues to process undelivered events in EventBridge" (EventBridge User Guide):
 * the message is the event, with the attributes RULE_ARN, TARGET_ARN, ERROR_CODE (e.g. NO_RESOURCE, THROTTLING,
 * CONNECTION_FAILURE, INTERNAL_ERROR, SDK_CLIENT_ERROR), ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and
 * RETRY_ATTEMPTS. Errors that retrying cannot fix (a target that does not exist) go there without retries.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID, localClientCredentials } from '../aws/credentials';
import { localSqsClient, sendToQueueArn } from '../sqs/client';
import type { BusDelivery, BusEventRecord } from './bus-events';
import { busNameOf, DEFAULT_BUS } from './put-events';

export interface DeliveryOptions {
  /** The Lambda Invoke endpoint targets are delivered to. */
  lambdaEndpoint: string;
  region: string;
  /** Tries per delivery (EventBridge retries for hours; locally a few quick tries). */
  attempts?: number;
  baseDelayMs?: number;
  /** The rules' targets, for their dead-letter queues. */
  rules?: { name: string; targets: { functionArn: string; deadLetterQueueArn?: string }[] }[];
  /** The local SQS, where dead letters are sent; without it they are only logged. */
  sqsEndpoint?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** EventBridge's ERROR_CODE for a failed Invoke, and whether retrying could help. */
const classify = (err: unknown): { code: string; retryable: boolean } => {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'ResourceNotFoundException' || status === 404)
    return { code: 'NO_RESOURCE', retryable: false };
  if (status === 429 || e.name === 'TooManyRequestsException') return { code: 'THROTTLING', retryable: true };
  if (status !== undefined && status >= 500) return { code: 'INTERNAL_ERROR', retryable: true };
  if (status === undefined && /ECONNREFUSED|ECONNRESET|socket hang up/.test(String(e.code ?? err)))
    return { code: 'CONNECTION_FAILURE', retryable: true };
  return { code: 'SDK_CLIENT_ERROR', retryable: false };
};

const ruleArn = (region: string, busName: string, rule: string): string =>
  busName === DEFAULT_BUS
    ? `arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${rule}`
    : `arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${busName}/${rule}`;

/** Sends events to their targets through the real Lambda client, with exponential waits between tries. */
export class LambdaDelivery {
  private readonly lambda: LambdaClient;
  private readonly sqs: SQSClient | undefined;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(private readonly o: DeliveryOptions) {
    this.lambda = new LambdaClient({
      region: o.region,
      endpoint: o.lambdaEndpoint,
      maxAttempts: 1,
      ...localClientCredentials(),
    });
    this.sqs = o.sqsEndpoint === undefined ? undefined : localSqsClient(o.sqsEndpoint, o.region);
    this.attempts = Math.max(1, o.attempts ?? 4);
    this.baseDelayMs = o.baseDelayMs ?? 200;
  }

  /** Delivers `record`'s event for one of its deliveries, updating that delivery in place. */
  async deliver(record: BusEventRecord, delivery: BusDelivery): Promise<void> {
    const payload = Buffer.from(JSON.stringify(record.event));
    let failure = { code: 'UNKNOWN', retryable: true };
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      delivery.attempts = attempt;
      try {
        await this.lambda.send(
          new InvokeCommand({
            FunctionName: delivery.functionArn,
            InvocationType: 'Event',
            Payload: payload,
          }),
        );
        delivery.status = 'delivered';
        delivery.deliveredAt = new Date().toISOString();
        delete delivery.lastError;
        return;
      } catch (err) {
        delivery.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        failure = classify(err);
        if (!failure.retryable) break;
        if (attempt < this.attempts) await sleep(this.baseDelayMs * 2 ** (attempt - 1));
      }
    }
    delivery.status = 'failed';
    console.warn(
      `[local eventbridge] gave up delivering ${record.event.id} (rule ${delivery.rule}) to ${delivery.functionArn} ` +
        `after ${delivery.attempts} attempts: ${delivery.lastError}`,
    );
    await this.deadLetter(record, delivery, failure.code);
  }

  /** Sends the undelivered event to the target's dead-letter queue, with the attributes EventBridge adds. */
  private async deadLetter(record: BusEventRecord, delivery: BusDelivery, errorCode: string): Promise<void> {
    const target = this.o.rules
      ?.find((r) => r.name === delivery.rule)
      ?.targets.find((t) => t.functionArn === delivery.functionArn);
    const queueArn = target?.deadLetterQueueArn;
    if (queueArn === undefined || this.sqs === undefined) return;
    const attributes = {
      RULE_ARN: ruleArn(this.o.region, busNameOf(record.eventBusName), delivery.rule),
      TARGET_ARN: delivery.functionArn,
      ERROR_CODE: errorCode,
      ERROR_MESSAGE: delivery.lastError ?? 'unknown',
      EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
      RETRY_ATTEMPTS: String(delivery.attempts - 1),
    };
    try {
      await sendToQueueArn(this.sqs, queueArn, JSON.stringify(record.event), attributes);
    } catch (err) {
      console.warn(
        `[local eventbridge] could not send ${record.event.id} to its dead-letter queue: ${String(err)}`,
      );
    }
  }

  close(): void {
    this.lambda.destroy();
    this.sqs?.destroy();
  }
}
