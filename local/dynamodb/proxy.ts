/**
 * A counting HTTP proxy in front of DynamoDB Local: forwards every request unchanged, counts them by operation and
 * adds up the consumed capacity DynamoDB Local reports in its answers.
 */

import {
  Agent,
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import { unitsOf } from '../../shared/runtime/clients/consumed-capacity';
import { LocalError } from '../aws/errors';
import { listenOnLoopback } from '../aws/http';

export class DynamoDbProxyError extends LocalError {}

export interface DynamoDbCountingProxy {
  /** e.g. http://127.0.0.1:PORT: a value for AWS_ENDPOINT_URL_DYNAMODB. */
  url: string;
  /** Requests seen since start (or the last reset) per operation, e.g. `{ Query: 3, TransactWriteItems: 2 }`. */
  counts(): Record<string, number>;
  /**
   * Capacity units the answers reported since start (or the last reset); the functions ask every request for
   * ReturnConsumedCapacity TOTAL, so a request whose answer has none (e.g. a failed condition) adds nothing.
   */
  capacity(): { readUnits: number; writeUnits: number };
  reset(): void;
  close(): Promise<void>;
}

/** Requests without a recognisable X-Amz-Target (no DynamoDB client sends those) are counted under this name. */
export const UNKNOWN_OPERATION = 'Unknown';

/** `DynamoDB_20120810.Query` -> `Query`. */
export const operationOf = (target: string | string[] | undefined): string => {
  const value = Array.isArray(target) ? target[0] : target;
  const dot = value?.lastIndexOf('.') ?? -1;
  return value !== undefined && dot > 0 && dot < value.length - 1 ? value.slice(dot + 1) : UNKNOWN_OPERATION;
};

/** The answer when DynamoDB Local does not: a 5xx the SDK retries like any DynamoDB server error, saying where. */
const answerUnreachable = (res: ServerResponse, host: string, error: Error): void => {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  res.writeHead(502, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(
    JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
      message: `DynamoDB counting proxy: ${host} did not answer: ${error.message}`,
    }),
  );
};

/** The ConsumedCapacity of a successful answer's body, if it has one. */
const consumedOf = (status: number | undefined, body: Buffer): unknown => {
  if (status !== 200) return undefined;
  try {
    return (JSON.parse(body.toString('utf8')) as { ConsumedCapacity?: unknown }).ConsumedCapacity;
  } catch {
    return undefined;
  }
};

type OnAnswer = (status: number | undefined, body: Buffer) => void;

/** Streams one request to `target` and its answer back, both unparsed; the answer's bytes also go to `onAnswer`. */
const forwardTo = (
  target: URL,
  agent: Agent,
  req: IncomingMessage,
  res: ServerResponse,
  onAnswer: OnAnswer,
): void => {
  const upstream = request(
    {
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers as OutgoingHttpHeaders,
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => onAnswer(answer.statusCode, Buffer.concat(chunks)));
      answer.pipe(res);
      answer.on('error', (error) => res.destroy(error));
    },
  );
  upstream.on('error', (error) => answerUnreachable(res, target.host, error));
  req.on('error', (error) => upstream.destroy(error));
  req.pipe(upstream);
};

/**
 * Listens on 127.0.0.1 (a free port unless `port` is given) and forwards to `target` (DynamoDB Local's endpoint).
 * Bodies are streamed both ways without being parsed, and headers pass through as received (the SDK signs `host`;
 * DynamoDB Local does not check signatures), so the functions see exactly what DynamoDB Local answers.
 */
export const startDynamoDbCountingProxy = async (options: {
  target: string;
  port?: number;
}): Promise<DynamoDbCountingProxy> => {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') {
    throw new DynamoDbProxyError(
      `The counting proxy forwards to http:// endpoints only, not ${options.target}`,
    );
  }
  const agent = new Agent({ keepAlive: true });
  let counts = new Map<string, number>();
  let capacity = { readUnits: 0, writeUnits: 0 };
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const operation = operationOf(req.headers['x-amz-target']);
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    forwardTo(target, agent, req, res, (status, body) => {
      const units = unitsOf(operation, consumedOf(status, body) as Parameters<typeof unitsOf>[1]);
      capacity = {
        readUnits: capacity.readUnits + units.readUnits,
        writeUnits: capacity.writeUnits + units.writeUnits,
      };
    });
  };

  const server = createServer(forward);
  const listener = await listenOnLoopback(
    server,
    options.port,
    (error) => new DynamoDbProxyError('The DynamoDB counting proxy could not listen', { cause: error }),
  );

  return {
    url: listener.url,
    counts: () => Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b))),
    capacity: () => ({ ...capacity }),
    reset: () => {
      counts = new Map();
      capacity = { readUnits: 0, writeUnits: 0 };
    },
    close: async () => {
      await listener.close();
      agent.destroy();
    },
  };
};
