/**
 * Task states run as Lambda invocations through the real `@aws-sdk/client-lambda` client (endpoint from
 * AWS_ENDPOINT_URL_LAMBDA, as the library's own client does), with failures named as Step Functions names them:
 * a function error keeps its `errorType` with the error payload as Cause, and a Lambda service error becomes
 * `Lambda.<ExceptionName>` (e.g. `Lambda.TooManyRequestsException`), which the ASL Retry lists match.
 */
import {
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  type LambdaClientConfig,
} from '@aws-sdk/client-lambda';
import { utf8Length } from '../aws/json-protocol';
import type { TaskHandler } from './library';
import { json, MAX_PAYLOAD_BYTES } from './records';
import { TaskFailedError, type TaskTokens } from './task-tokens';

export const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[$A-Za-z0-9_-]+)?$/;
export const LAMBDA_INVOKE_INTEGRATION = 'arn:aws:states:::lambda:invoke';
/** The callback pattern: invoke, then wait for SendTaskSuccess/SendTaskFailure with the Task's token. */
export const LAMBDA_INVOKE_CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
/**
 * The library has no `$$.Task.Token`: machines.ts rewrites the path to this value, which the callback handler
 * replaces with the token it issues, and passes the Task's timeout (TimeoutSeconds or TimeoutSecondsPath, read
 * from the state input as Step Functions reads it) under CALLBACK_TIMEOUT_KEY.
 */
export const TASK_TOKEN_PLACEHOLDER = '<local:$$.Task.Token>';
export const CALLBACK_TIMEOUT_KEY = '__localCallbackTimeoutSeconds';
/** The local stand-ins do not check signatures; these only keep the SDK from searching for credentials. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The SDK's error for a failed Invoke call, named as Step Functions names Lambda service errors. */
const invokeCallFailure = (functionName: string, err: unknown): TaskFailedError => {
  const e = err as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number; requestId?: string };
  };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && e.name) {
    return new TaskFailedError(
      `Lambda.${e.name}`,
      `${e.message ?? e.name} (Service: AWSLambda; Status Code: ${status}; Error Code: ${e.name}; ` +
        `Request ID: ${e.$metadata?.requestId ?? 'unknown'})`,
    );
  }
  return new TaskFailedError(
    'Lambda.SdkClientException',
    `Unable to invoke ${functionName}: ${e.message ?? String(err)}`,
  );
};

/** A function error: its payload's errorType is the error name, the whole payload the Cause. */
const functionFailure = (text: string): TaskFailedError => {
  let errorType: string | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'errorType' in parsed &&
      typeof parsed.errorType === 'string'
    ) {
      errorType = parsed.errorType;
    }
  } catch {
    // A non-JSON error payload has no errorType; it is reported as Lambda.Unknown below, with the text as Cause.
  }
  return new TaskFailedError(errorType ?? 'Lambda.Unknown', text);
};

const taskResult = (functionName: string, text: string): unknown => {
  if (utf8Length(text) > MAX_PAYLOAD_BYTES) {
    throw new TaskFailedError(
      'States.DataLimitExceeded',
      `The state/task '${functionName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
      { terminal: true },
    );
  }
  try {
    return text === '' ? null : JSON.parse(text);
  } catch (err) {
    throw new TaskFailedError(
      'Lambda.SdkClientException',
      `The function returned a non-JSON payload: ${String(err)}`,
    );
  }
};

/** Step Functions passes the execution's trace on to the functions it invokes, in the X-Amzn-Trace-Id header. */
const withTraceHeader = (command: InvokeCommand, header: string): void => {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['X-Amzn-Trace-Id'] = header;
      return next(args);
    },
    { step: 'build', name: 'executionTraceHeader' },
  );
};

/** Builds the per-state Task handlers that aws-local-stepfunctions calls instead of its own Lambda client. */
export class LambdaTaskRunner {
  readonly #clients = new Map<string, LambdaClient>();

  constructor(
    private readonly region: string,
    private readonly tokens: TaskTokens,
  ) {}

  /** The handler for a Task whose Resource is a function ARN, the `lambda:invoke` integration or its callback form. */
  handlerFor(resource: string, traceHeader?: string): TaskHandler {
    if (resource === LAMBDA_INVOKE_CALLBACK)
      return (input) => this.invokeAndWait(input, traceHeader) as ReturnType<TaskHandler>;
    if (resource !== LAMBDA_INVOKE_INTEGRATION) {
      return async (input) =>
        (await this.invoke(resource, input, traceHeader)) as Awaited<ReturnType<TaskHandler>>;
    }
    // The optimized integration: Parameters carry FunctionName and Payload; the result wraps the payload.
    return async (input) => {
      const params = (input ?? {}) as { FunctionName?: unknown; Payload?: unknown };
      if (typeof params.FunctionName !== 'string') {
        throw new TaskFailedError('States.Runtime', 'lambda:invoke needs Parameters.FunctionName', {
          terminal: true,
        });
      }
      const payload = await this.invoke(params.FunctionName, params.Payload ?? input, traceHeader);
      return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 } as Awaited<
        ReturnType<TaskHandler>
      >;
    };
  }

  /**
   * `.waitForTaskToken`: issue a token, invoke the function with it (its answer is ignored, its failure fails the
   * Task), then wait for the token's SendTaskSuccess (the output is the Task's result), SendTaskFailure or timeout.
   */
  private async invokeAndWait(input: unknown, traceHeader?: string): Promise<unknown> {
    const { [CALLBACK_TIMEOUT_KEY]: timeout, ...params } = (input ?? {}) as Record<string, unknown>;
    if (typeof params.FunctionName !== 'string' || typeof timeout !== 'number' || timeout < 1) {
      throw new TaskFailedError(
        'States.Runtime',
        'lambda:invoke.waitForTaskToken needs Parameters.FunctionName and a TimeoutSeconds of at least 1',
        { terminal: true },
      );
    }
    const { token, result } = this.tokens.issue(timeout);
    try {
      await this.invoke(params.FunctionName, withToken(params.Payload ?? {}, token), traceHeader);
    } catch (err) {
      this.tokens.cancel(token, err as Error);
    }
    return result;
  }

  destroy(): void {
    for (const client of this.#clients.values()) client.destroy();
  }

  private async invoke(functionName: string, payload: unknown, traceHeader?: string): Promise<unknown> {
    let response: InvokeCommandOutput;
    try {
      const command = new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(json(payload)) });
      if (traceHeader !== undefined) withTraceHeader(command, traceHeader);
      response = await this.client().send(command);
    } catch (err) {
      throw invokeCallFailure(functionName, err);
    }
    const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '';
    if (response.FunctionError) throw functionFailure(text);
    return taskResult(functionName, text);
  }

  /** Created on first use and per AWS_ENDPOINT_URL_LAMBDA value, because the stack sets it after importing this module. */
  private client(): LambdaClient {
    const key = process.env.AWS_ENDPOINT_URL_LAMBDA ?? '';
    let client = this.#clients.get(key);
    if (!client) {
      // maxAttempts 1: the state's Retry list decides about retries, as in Step Functions.
      const config: LambdaClientConfig = { region: this.region, maxAttempts: 1 };
      if (!process.env.AWS_ACCESS_KEY_ID) config.credentials = LOCAL_CREDENTIALS;
      client = new LambdaClient(config);
      this.#clients.set(key, client);
    }
    return client;
  }
}

/** The payload with every placeholder value replaced by the issued token. */
const withToken = (value: unknown, token: string): unknown => {
  if (value === TASK_TOKEN_PLACEHOLDER) return token;
  if (Array.isArray(value)) return value.map((v) => withToken(v, token));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withToken(v, token)]));
  }
  return value;
};
