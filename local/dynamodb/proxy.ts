/** A counting HTTP proxy in front of DynamoDB Local: forwards every request unchanged, counts them by operation. */

import {
  Agent,
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from 'node:http';
import { LocalError } from '../aws/errors';
import { listenOnLoopback } from '../aws/http';

export class DynamoDbProxyError extends LocalError {}

export interface DynamoDbCountingProxy {
  /** e.g. http://127.0.0.1:PORT: a value for AWS_ENDPOINT_URL_DYNAMODB. */
  url: string;
  /** Requests seen since start (or the last reset) per operation, e.g. `{ Query: 3, TransactWriteItems: 2 }`. */
  counts(): Record<string, number>;
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

/** Streams one request to `target` and its answer back, both unparsed. */
const forwardTo = (target: URL, agent: Agent, req: IncomingMessage, res: ServerResponse): void => {
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
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const operation = operationOf(req.headers['x-amz-target']);
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    forwardTo(target, agent, req, res);
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
    reset: () => {
      counts = new Map();
    },
    close: async () => {
      await listener.close();
      agent.destroy();
    },
  };
};
