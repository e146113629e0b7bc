/** DynamoDB Local's saturated request rate: plain PutItems with more and more in flight, until the rate stops rising. */
import { Agent, request } from 'node:http';
import { LocalError } from '../aws/errors';

export class StoreRateError extends LocalError {}

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
const putItemBody = (tableName: string, runId: string, i: number): string =>
  JSON.stringify({
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

/**
 * The headers an SDK request carries. DynamoDB Local checks no signature (and runs with -sharedDb: one database
 * whatever the credential), but it wants a well-formed Authorization header.
 */
const HEADERS = {
  'content-type': 'application/x-amz-json-1.0',
  'x-amz-target': 'DynamoDB_20120810.PutItem',
  'x-amz-date': '20260101T000000Z',
  authorization: `AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
};

/** One PutItem as plain HTTP: the client's own CPU (SDK serialisation and signing) stays out of the store's rate. */
const putItem = (endpoint: URL, agent: Agent, body: string): Promise<void> =>
  new Promise((done, fail) => {
    const req = request(
      {
        hostname: endpoint.hostname,
        port: endpoint.port,
        path: '/',
        method: 'POST',
        agent,
        headers: HEADERS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (res.statusCode === 200) done();
          else
            fail(
              new StoreRateError(`PutItem answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`),
            );
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(body);
  });

/** `writes` PutItems, `parallelism` at a time (each lane starts its next write when the last one is answered). */
const runStep = async (
  target: { endpoint: URL; agent: Agent },
  tableName: string,
  runId: string,
  parallelism: number,
  writes: number,
): Promise<StoreRateStep> => {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < writes; i = next++) {
      await putItem(target.endpoint, target.agent, putItemBody(tableName, runId, i));
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: parallelism }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { parallelism, writes, requestsPerSecond: writes / seconds };
};

/**
 * Measures the rate at each parallelism (after an unmeasured warm-up that lets the JVM compile its hot paths) and
 * returns the best. One agent with a kept-alive socket for every lane: an agent capped below the parallelism would
 * queue requests in this process and measure the agent, not DynamoDB Local.
 */
export const measureStoreRate = async (options: StoreRateOptions): Promise<StoreRate> => {
  const writesPerStep = options.writesPerStep ?? 2000;
  const parallelisms = options.parallelisms ?? DEFAULT_PARALLELISMS;
  const flatSteps = options.flatSteps ?? 2;
  const maxParallelism = Math.max(...parallelisms);
  const agent = new Agent({ keepAlive: true, maxSockets: maxParallelism });
  const target = { endpoint: new URL(options.endpoint), agent };
  const runId = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await runStep(target, options.tableName, `${runId}-warm`, Math.min(16, maxParallelism), writesPerStep);
    const steps: StoreRateStep[] = [];
    let best: StoreRateStep | undefined;
    let flat = 0;
    for (const parallelism of parallelisms) {
      const step = await runStep(
        target,
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
    agent.destroy();
  }
};
