/**
 * The wire protocol of the local SQS stand-in: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`) with SQS's
 * query-compatible errors (`__type: com.amazonaws.sqs#<Shape>` plus `x-amzn-query-error: <Code>;Sender`).
 *
 * Reference: "Interpreting Amazon SQS JSON API responses" (SQS Developer Guide), e.g. status 400,
 * `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`,
 * `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`.
 * @aws-sdk/client-sqs names the error after the header's code's shape (QueueDoesNotExist) and sets `Code`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LocalError } from '../aws/errors';
import { type LoopbackListener, listenOnLoopback, readBody } from '../aws/http';

/** An error SQS answers with: its shape (the `__type`), its query code (the header) and status. */
export class SqsApiError extends LocalError {
  constructor(
    readonly shape: string,
    readonly queryCode: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

export const queueDoesNotExist = (): SqsApiError =>
  new SqsApiError(
    'QueueDoesNotExist',
    'AWS.SimpleQueueService.NonExistentQueue',
    'The specified queue does not exist.',
  );

export const invalidParameterValue = (reason: string): SqsApiError =>
  new SqsApiError(
    'InvalidParameterValue',
    'InvalidParameterValue',
    `One or more parameters are invalid. Reason: ${reason}`,
  );

export type SqsOperation = (input: Record<string, unknown>) => unknown;

const CONTENT_TYPE = 'application/x-amz-json-1.0';
/** SendMessage bodies go up to 1 MiB; the request around one is a little larger. */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(text)),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(text);
};

const sendError = (res: ServerResponse, error: SqsApiError) =>
  send(
    res,
    error.statusCode,
    { __type: `com.amazonaws.sqs#${error.shape}`, message: error.message },
    { 'x-amzn-query-error': `${error.queryCode};Sender` },
  );

const readInput = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  const tooLarge = () => invalidParameterValue(`Request must be smaller than ${MAX_REQUEST_BYTES} bytes.`);
  const raw = (await readBody(req, MAX_REQUEST_BYTES, tooLarge)).toString('utf8');
  let input: unknown;
  try {
    input = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    throw new SqsApiError('InvalidRequest', 'InvalidRequest', 'The request body is not valid JSON.');
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SqsApiError('InvalidRequest', 'InvalidRequest', 'The request body must be a JSON object.');
  }
  return input as Record<string, unknown>;
};

const operationOf = (req: IncomingMessage, operations: Record<string, SqsOperation>): SqsOperation => {
  const target = req.headers['x-amz-target'];
  const [prefix, name] = typeof target === 'string' ? target.split('.', 2) : [];
  const operation = name !== undefined && Object.hasOwn(operations, name) ? operations[name] : undefined;
  if (req.method !== 'POST' || prefix !== 'AmazonSQS' || operation === undefined) {
    throw new SqsApiError(
      'UnsupportedOperation',
      'AWS.SimpleQueueService.UnsupportedOperation',
      `The local SQS serves ${Object.keys(operations).join(', ')} only (got ${req.method} ${String(target)})`,
    );
  }
  return operation;
};

/** Serves `operations` on 127.0.0.1; any path is accepted, since the SDK may post to the QueueUrl's path. */
export const startSqsServer = async (
  operations: Record<string, SqsOperation>,
  port = 0,
): Promise<LoopbackListener> => {
  const server = createServer((req, res) => {
    const handle = async () => {
      const operation = operationOf(req, operations);
      send(res, 200, (await operation(await readInput(req))) ?? {});
    };
    handle().catch((error: unknown) => {
      if (error instanceof SqsApiError) {
        sendError(res, error);
        return;
      }
      // A bug in the stand-in, not a modelled SQS error: say so, and answer as SQS does for internal failures.
      console.error('[local sqs] internal error', error);
      const message = error instanceof Error ? error.message : String(error);
      sendError(res, new SqsApiError('InternalError', 'InternalError', message, 500));
    });
  });
  return listenOnLoopback(server, port);
};
