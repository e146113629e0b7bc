/** Lambda runtime stand-in inside a worker thread: loads one bundled handler (init) and runs the invocations sent to it. */
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerInit {
  bundlePath: string;
  handlerExport: string;
  /** The function's NODE_OPTIONS asks for source maps (workers ignore NODE_OPTIONS, so the runtime turns them on). */
  enableSourceMaps: boolean;
}

/** What the Node.js runtime puts in a function error's payload; Step Functions reads errorType as the error name. */
export interface FunctionErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export interface InvokeMessage {
  type: 'invoke';
  requestId: string;
  /** The request payload as received (JSON text). */
  payload: string;
  deadlineMs: number;
  /** `_X_AMZN_TRACE_ID` for this invocation (Root, Parent, Sampled), as the Lambda service sets it. */
  traceHeader?: string;
  context: {
    functionName: string;
    functionVersion: string;
    invokedFunctionArn: string;
    memoryLimitInMB: string;
    logGroupName: string;
    logStreamName: string;
    clientContext?: unknown;
  };
}

export type WorkerMessage =
  | { type: 'ready'; initDurationMs: number }
  | { type: 'init-error'; error: FunctionErrorPayload }
  | { type: 'result'; requestId: string; ok: true; payload: string }
  /** `fatal`: the sandbox is ending (unhandled rejection, uncaught exception); it must not be reused. */
  | { type: 'result'; requestId: string; ok: false; error: FunctionErrorPayload; fatal?: boolean };

type Callback = (error?: unknown, result?: unknown) => void;
type Handler = (event: unknown, context: unknown, callback: Callback) => unknown;

export const toErrorPayload = (error: unknown, fallbackType = 'Error'): FunctionErrorPayload => {
  if (error instanceof Error) {
    return {
      errorType: error.name || error.constructor.name || fallbackType,
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    };
  }
  return { errorType: fallbackType, errorMessage: String(error), trace: [] };
};

const port = parentPort;
const init = workerData as WorkerInit | undefined;
let currentRequestId: string | undefined;

const post = (message: WorkerMessage): void => {
  port?.postMessage(message);
};

/** Lambda's console format (timestamp, request id, level), so log files read like CloudWatch. */
const patchConsole = (): void => {
  const levels = [
    ['log', 'INFO'],
    ['info', 'INFO'],
    ['warn', 'WARN'],
    ['error', 'ERROR'],
    ['debug', 'DEBUG'],
  ] as const;
  for (const [method, level] of levels) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]): void => {
      original(
        `${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\t${level}\t${format(...args)}`,
      );
    };
  }
};

const runHandler = (handler: Handler, event: unknown, context: Record<string, unknown>): Promise<unknown> =>
  new Promise((resolveResult, rejectResult) => {
    let settled = false;
    const callback: Callback = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== undefined && error !== null) rejectResult(error);
      else resolveResult(result);
    };
    context.done = callback;
    context.succeed = (result: unknown) => callback(undefined, result);
    context.fail = (error: unknown) => callback(error ?? new Error('context.fail called'));
    try {
      const returned = handler(event, context, callback);
      if (returned !== null && typeof returned === 'object' && 'then' in returned) {
        (returned as Promise<unknown>).then(
          (result) => callback(undefined, result),
          (error: unknown) => callback(error ?? new Error('Handler rejected with no reason')),
        );
      } else if (handler.length < 3) {
        // A synchronous two-argument handler: its return value is the result.
        callback(undefined, returned);
      }
    } catch (error) {
      callback(error);
    }
  });

const serialize = (result: unknown): string => JSON.stringify(result === undefined ? null : result);

/** The init phase: loads the bundle and finds the handler, or reports the init error as Lambda does. */
const loadHandler = (w: WorkerInit): Handler | undefined => {
  try {
    const mod = require(w.bundlePath) as Record<string, unknown>;
    const candidate = mod[w.handlerExport];
    if (typeof candidate === 'function') return candidate as Handler;
    post({
      type: 'init-error',
      error: {
        errorType: 'Runtime.HandlerNotFound',
        errorMessage: `${w.bundlePath}.${w.handlerExport} is undefined or not exported`,
        trace: [],
      },
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    post({
      type: 'init-error',
      error: toErrorPayload(error, code === 'MODULE_NOT_FOUND' ? 'Runtime.ImportModuleError' : 'Error'),
    });
  }
  return undefined;
};

/** Like the Node.js runtime: an unhandled rejection or uncaught exception fails the invocation and ends the sandbox. */
const failFatally = (): void => {
  process.on('unhandledRejection', (reason) => {
    const error = toErrorPayload(reason);
    post({
      type: 'result',
      requestId: currentRequestId ?? '',
      ok: false,
      error: { ...error, errorType: 'Runtime.UnhandledPromiseRejection' },
      fatal: true,
    });
    process.exit(128);
  });
  process.on('uncaughtException', (error) => {
    post({
      type: 'result',
      requestId: currentRequestId ?? '',
      ok: false,
      error: toErrorPayload(error),
      fatal: true,
    });
    process.exit(129);
  });
};

/** Runs one invocation and posts its result (or error). */
const invokeHandler = (handler: Handler, message: InvokeMessage): void => {
  currentRequestId = message.requestId;
  const { requestId } = message;
  // A worker's process.env is its own copy (the Worker's `env` option): this never reaches another sandbox.
  if (message.traceHeader === undefined) delete process.env._X_AMZN_TRACE_ID;
  else process.env._X_AMZN_TRACE_ID = message.traceHeader;
  const context: Record<string, unknown> = {
    ...message.context,
    awsRequestId: requestId,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
  };
  let event: unknown;
  try {
    event = JSON.parse(message.payload);
  } catch (error) {
    post({ type: 'result', requestId, ok: false, error: toErrorPayload(error) });
    return;
  }
  runHandler(handler, event, context).then(
    (result) => {
      let payload: string;
      try {
        payload = serialize(result);
      } catch (error) {
        post({
          type: 'result',
          requestId,
          ok: false,
          error: toErrorPayload(error, 'Runtime.MalformedHandlerResponse'),
        });
        return;
      }
      post({ type: 'result', requestId, ok: true, payload });
    },
    (error: unknown) => post({ type: 'result', requestId, ok: false, error: toErrorPayload(error) }),
  );
};

const main = (): void => {
  if (port === null || init === undefined) return;
  if (init.enableSourceMaps) process.setSourceMapsEnabled(true);
  patchConsole();
  const started = performance.now();
  const handler = loadHandler(init);
  if (handler === undefined) return;
  failFatally();
  port.on('message', (message: InvokeMessage) => {
    if (message.type === 'invoke') invokeHandler(handler, message);
  });
  post({ type: 'ready', initDurationMs: performance.now() - started });
};

main();
