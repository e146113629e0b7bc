/** DynamoDB Local's saturated request rate: plain PutItems with more and more in flight, until the rate stops rising. */
import { Agent } from 'node:http';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS } from '../aws/credentials';

export interface StoreRateStep {
  parallelism: number;
  writes: number;
  requestsPerSecond: number;
}

export interface StoreRate {
  /** The best step's rate: the store floor's denominator. */
  requestsPerSecond: number;
  /** Writes of the best step. */
  writes: number;
  /** Requests in flight at the best step. */
  parallelism: number;
  steps: StoreRateStep[];
}

export interface StoreRateOptions {
  /** DynamoDB Local itself (not the counting proxy): the floor is the store's, not the proxy's. */
  endpoint: string;
  tableName: string;
  /** PutItems per step (default 2,000). */
  writesPerStep?: number;
  /** Requests in flight per step, in order (default 1, 2, 4, ... 128). */
  parallelisms?: number[];
  /** Stop once this many steps in a row did not beat the best rate by 5 % (default 2). */
  flatSteps?: number;
}

const DEFAULT_PARALLELISMS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * A few hundred bytes, like the session and tool-call items the product writes (messages are larger, which only
 * makes the floor stricter for them). The run id keeps keys apart from every session's and from other runs'.
 */
const putFor = (tableName: string, runId: string, i: number): PutItemCommand =>
  new PutItemCommand({
    TableName: tableName,
    Item: {
      pk: { S: `BENCH#store-rate#${runId}#${i}` },
      sk: { S: 'WRITE' },
      entity: { S: 'benchWrite' },
      payload: { S: 'x'.repeat(256) },
      // Like every product item: the table's TTL removes them on AWS (DynamoDB Local keeps them; they are few).
      expiresAt: { N: String(Math.floor(Date.now() / 1000) + 86_400) },
    },
  });

/** `writes` PutItems, `parallelism` at a time (each lane starts its next write when the last one is answered). */
const runStep = async (
  client: DynamoDBClient,
  tableName: string,
  runId: string,
  parallelism: number,
  writes: number,
): Promise<StoreRateStep> => {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < writes; i = next++) await client.send(putFor(tableName, runId, i));
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: parallelism }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { parallelism, writes, requestsPerSecond: writes / seconds };
};

/**
 * Measures the rate at each parallelism (after an unmeasured warm-up that lets the JVM compile its hot paths) and
 * returns the best. One client with enough sockets for every lane: a shared agent capped below the parallelism
 * would queue requests in this process and measure the agent, not DynamoDB Local.
 */
export const measureStoreRate = async (options: StoreRateOptions): Promise<StoreRate> => {
  const writesPerStep = options.writesPerStep ?? 2000;
  const parallelisms = options.parallelisms ?? DEFAULT_PARALLELISMS;
  const flatSteps = options.flatSteps ?? 2;
  const maxParallelism = Math.max(...parallelisms);
  const agent = new Agent({ keepAlive: true, maxSockets: maxParallelism });
  const client = new DynamoDBClient({
    endpoint: options.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { httpAgent: agent, connectionTimeout: 1000, requestTimeout: 10_000 },
  });
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await runStep(client, options.tableName, `${runId}-warm`, Math.min(16, maxParallelism), writesPerStep);
    const steps: StoreRateStep[] = [];
    let best: StoreRateStep | undefined;
    let flat = 0;
    for (const parallelism of parallelisms) {
      const step = await runStep(
        client,
        options.tableName,
        `${runId}-${parallelism}`,
        parallelism,
        writesPerStep,
      );
      steps.push(step);
      if (best === undefined || step.requestsPerSecond > best.requestsPerSecond * 1.05) {
        flat = 0;
      } else if (++flat >= flatSteps) {
        if (step.requestsPerSecond > best.requestsPerSecond) best = step;
        break;
      }
      if (best === undefined || step.requestsPerSecond > best.requestsPerSecond) best = step;
    }
    if (best === undefined) throw new RangeError('measureStoreRate needs at least one parallelism');
    return { ...best, steps };
  } finally {
    client.destroy();
    agent.destroy();
  }
};
