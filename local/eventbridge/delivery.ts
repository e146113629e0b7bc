/** Delivery of a matched event to a Lambda target, as EventBridge does: Invoke with InvocationType "Event", retried. */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { localClientCredentials } from '../aws/credentials';
import type { BusDelivery, BusEventRecord } from './bus-events';

export interface DeliveryOptions {
  /** The Lambda Invoke endpoint targets are delivered to. */
  lambdaEndpoint: string;
  region: string;
  /** Tries per delivery (EventBridge retries for hours; locally a few quick tries). */
  attempts?: number;
  baseDelayMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends events to their targets through the real Lambda client, with exponential waits between tries. */
export class LambdaDelivery {
  private readonly lambda: LambdaClient;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(o: DeliveryOptions) {
    this.lambda = new LambdaClient({
      region: o.region,
      endpoint: o.lambdaEndpoint,
      maxAttempts: 1,
      ...localClientCredentials(),
    });
    this.attempts = Math.max(1, o.attempts ?? 4);
    this.baseDelayMs = o.baseDelayMs ?? 200;
  }

  /** Delivers `record`'s event for one of its deliveries, updating that delivery in place. */
  async deliver(record: BusEventRecord, delivery: BusDelivery): Promise<void> {
    const payload = Buffer.from(JSON.stringify(record.event));
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
        if (attempt < this.attempts) await sleep(this.baseDelayMs * 2 ** (attempt - 1));
      }
    }
    delivery.status = 'failed';
    console.warn(
      `[local eventbridge] gave up delivering ${record.event.id} (rule ${delivery.rule}) to ${delivery.functionArn} ` +
        `after ${this.attempts} attempts: ${delivery.lastError}`,
    );
  }

  close(): void {
    this.lambda.destroy();
  }
}
