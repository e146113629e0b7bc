/** The AWS JSON 1.0/1.1 wire protocol for the local Step Functions and EventBridge stand-ins: routing, errors, timestamps, tokens. */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { z } from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { LocalError } from './errors';
import { listenOnLoopback, readBody } from './http';

/** Base error of the local AWS stand-ins. */
export class LocalServiceError extends LocalError {}

/**
 * An error the stand-in answers with, as AWS does: status (400 unless said), `x-amzn-errortype: <code>` and
 * `{"__type": "<code>", "message": "..."}`. The SDK maps `code` to its exception class of the same name.
 */
export class AwsApiError extends LocalServiceError {
  readonly code: string;
  readonly statusCode: number;
  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.name = 'AwsApiError';
    this.code = code;
    this.statusCode = options?.statusCode ?? 400;
  }
}

/** An operation: the request's JSON object, and the request itself for what travels in headers (X-Amzn-Trace-Id). */
export type OperationHandler = (
  input: Record<string, unknown>,
  request: { headers: IncomingHttpHeaders },
) => unknown;

/** A plain HTTP route beside the JSON protocol (e.g. `GET /_local/events`); returns undefined when it does not apply. */
export type ExtraRoute = (
  method: string,
  url: URL,
) => Promise<{ status: number; body: unknown } | undefined> | { status: number; body: unknown } | undefined;

export interface AwsJsonServerOptions {
  /** `AWSStepFunctions` or `AWSEvents`: the part of `X-Amz-Target` before the dot. */
  targetPrefix: string;
  /** `1.0` for Step Functions, `1.1` for EventBridge (the Content-Type the SDK sends and expects). */
  jsonVersion: '1.0' | '1.1';
  operations: Record<string, OperationHandler>;
  extraRoutes?: ExtraRoute;
  /** Defaults to 0 (a free port). Always bound to 127.0.0.1. */
  port?: number;
}

export interface AwsJsonServer {
  url: string;
  close(): Promise<void>;
}

/** Requests larger than this are refused before parsing; AWS's own payload limits are far below it. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

const send = (
  res: ServerResponse,
  status: number,
  contentType: string,
  body: unknown,
  errorType?: string,
) => {
  const text = JSON.stringify(body ?? {});
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('x-amzn-requestid', randomUUID());
  if (errorType) res.setHeader('x-amzn-errortype', errorType);
  res.end(text);
};

/** The operation `X-Amz-Target` names and the request's JSON object, or the AwsApiError AWS answers instead. */
const readOperation = async (
  req: IncomingMessage,
  o: AwsJsonServerOptions,
): Promise<{ handler: OperationHandler; input: Record<string, unknown> }> => {
  const target = req.headers['x-amz-target'];
  const [prefix, operation] = typeof target === 'string' ? target.split('.', 2) : [];
  if (prefix !== o.targetPrefix || !operation) {
    throw new AwsApiError(
      'UnknownOperationException',
      `X-Amz-Target must be ${o.targetPrefix}.<Operation>, got ${String(target)}`,
    );
  }
  const handler = Object.hasOwn(o.operations, operation) ? o.operations[operation] : undefined;
  if (!handler) {
    throw new AwsApiError('UnknownOperationException', `Operation ${operation} is not supported locally`);
  }
  const raw = (
    await readBody(
      req,
      MAX_BODY_BYTES,
      () => new AwsApiError('RequestEntityTooLargeException', 'Request body too large', { statusCode: 413 }),
    )
  ).toString('utf8');
  let input: unknown;
  try {
    input = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch (err) {
    throw new AwsApiError('SerializationException', 'Request body is not valid JSON', { cause: err });
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AwsApiError('SerializationException', 'Request body must be a JSON object');
  }
  return { handler, input: input as Record<string, unknown> };
};

/** Starts an HTTP server on 127.0.0.1 speaking the AWS JSON protocol (`POST /` + `X-Amz-Target: <prefix>.<Operation>`). */
export const startAwsJsonServer = async (o: AwsJsonServerOptions): Promise<AwsJsonServer> => {
  const contentType = `application/x-amz-json-${o.jsonVersion}`;
  const sendError = (res: ServerResponse, err: AwsApiError) =>
    send(res, err.statusCode, contentType, { __type: err.code, message: err.message }, err.code);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const routed = o.extraRoutes ? await o.extraRoutes(method, url) : undefined;
    if (routed) {
      send(res, routed.status, 'application/json', routed.body);
      return;
    }
    if (method !== 'POST' || url.pathname !== '/') {
      throw new AwsApiError('UnknownOperationException', `No route for ${method} ${url.pathname}`, {
        statusCode: 404,
      });
    }
    const { handler, input } = await readOperation(req, o);
    send(res, 200, contentType, (await handler(input, { headers: req.headers })) ?? {});
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof AwsApiError) {
        sendError(res, err);
        return;
      }
      // A bug in the stand-in, not a modelled AWS error: say so loudly, answer as AWS does for internal failures.
      console.error(`[local ${o.targetPrefix}] internal error`, err);
      sendError(
        res,
        new AwsApiError('InternalFailure', err instanceof Error ? err.message : String(err), {
          statusCode: 500,
        }),
      );
    });
  });
  return listenOnLoopback(server, o.port);
};

/** Validates an operation's input; zod issues become the ValidationException AWS answers for malformed requests. */
export const parseInput = <T>(schema: z.ZodType<T>, input: unknown, operation: string): T => {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error, '(input)');
  throw new AwsApiError(
    'ValidationException',
    `${issues.length} validation error${issues.length === 1 ? '' : 's'} detected in ${operation}: ${issues.join('; ')}`,
  );
};

/** AWS JSON protocols carry timestamps as epoch seconds (fractions allowed). */
export const epochSeconds = (iso: string): number => Date.parse(iso) / 1000;

export const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/** An opaque pagination token holding an offset, as AWS's nextToken is opaque to callers. */
export const encodeToken = (offset: number, scope: string): string =>
  Buffer.from(JSON.stringify({ o: offset, s: scope })).toString('base64url');

export const decodeToken = (token: string | undefined, scope: string, invalidCode: string): number => {
  if (token === undefined || token === '') return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'o' in parsed &&
      's' in parsed &&
      typeof parsed.o === 'number' &&
      parsed.s === scope
    ) {
      return parsed.o;
    }
  } catch {
    // Falls through to the error below: a token we did not issue.
  }
  throw new AwsApiError(invalidCode, `Invalid Token: '${token}'`);
};
