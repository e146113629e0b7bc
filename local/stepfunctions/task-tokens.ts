/**
 * Task tokens of the callback pattern (`.waitForTaskToken`): the tokens the local Step Functions hands out, what
 * SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat do with them, and the Task's timeout (States.Timeout).
 * Errors and limits as the API reference documents them
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html, read 2026-12-02):
 * InvalidToken for a token that is not one, TaskTimedOut when "the task token has either expired or the task
 * associated with the token has already been closed", InvalidOutput for output that is not JSON.
 */
import { randomBytes } from 'node:crypto';
import { AwsApiError, LocalServiceError, utf8Length } from '../aws/json-protocol';
import { MAX_PAYLOAD_BYTES } from './records';

/** A Task failure named as Step Functions names it (the ASL error code Retry/Catch match), the message its Cause. */
export class TaskFailedError extends LocalServiceError {
  readonly #terminal: boolean;
  constructor(errorName: string, cause: string, options?: { terminal?: boolean }) {
    super(cause);
    this.name = errorName;
    this.#terminal = options?.terminal ?? false;
  }
  get isRetryable(): boolean {
    return !this.#terminal;
  }
  get isCatchable(): boolean {
    return !this.#terminal;
  }
}

/** taskToken is at most 2048 characters (API reference); these are 128, base64 of random bytes. */
const TOKEN = /^[A-Za-z0-9+/]{126}==$|^[A-Za-z0-9+/]{128}$/;
const MAX_TOKEN_CHARS = 2048;
/** setTimeout holds at most 2^31-1 ms (about 24.8 days); a longer wait has no local timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Waiting {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

export class TaskTokens {
  readonly #waiting = new Map<string, Waiting>();

  /** A new token and the Task's result: the output SendTaskSuccess sends, or the error of a failure or timeout. */
  issue(timeoutSeconds: number): { token: string; result: Promise<unknown> } {
    const token = randomBytes(96).toString('base64');
    const result = new Promise<unknown>((resolve, reject) => {
      const waiting: Waiting = { resolve, reject };
      const ms = timeoutSeconds * 1000;
      if (ms <= MAX_TIMER_MS) {
        waiting.timer = setTimeout(() => {
          this.#waiting.delete(token);
          reject(new TaskFailedError('States.Timeout', 'The task timed out waiting for its task token.'));
        }, ms);
        waiting.timer.unref();
      }
      this.#waiting.set(token, waiting);
    });
    return { token, result };
  }

  /** The Task ended another way (its invocation failed, the execution stopped): its token is closed. */
  cancel(token: string, error: Error): void {
    const waiting = this.#take(token);
    waiting?.reject(error);
  }

  succeed(token: string, output: string): void {
    if (utf8Length(output) > MAX_PAYLOAD_BYTES) {
      throw new AwsApiError(
        'ValidationException',
        `1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PAYLOAD_BYTES}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch (err) {
      throw new AwsApiError('InvalidOutput', `Invalid Output: '${(err as Error).message}'`);
    }
    this.#require(token).resolve(parsed);
  }

  fail(token: string, error: string | undefined, cause: string | undefined): void {
    // Without an error code the failure has none to match but States.ALL (a local choice: States.TaskFailed).
    this.#require(token).reject(new TaskFailedError(error ?? 'States.TaskFailed', cause ?? ''));
  }

  /** Resets no clock: the Tasks here set no HeartbeatSeconds. Answers whether the token is open, as AWS does. */
  heartbeat(token: string): void {
    this.#check(token);
    if (!this.#waiting.has(token)) throw this.#timedOut();
  }

  pending(): number {
    return this.#waiting.size;
  }

  close(): void {
    for (const token of [...this.#waiting.keys()]) {
      this.cancel(token, new TaskFailedError('States.Runtime', 'The local Step Functions stopped.'));
    }
  }

  #require(token: string): Waiting {
    this.#check(token);
    const waiting = this.#take(token);
    if (!waiting) throw this.#timedOut();
    return waiting;
  }

  #check(token: string): void {
    if (token.length > MAX_TOKEN_CHARS) {
      throw new AwsApiError(
        'ValidationException',
        `1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TOKEN_CHARS}`,
      );
    }
    if (!TOKEN.test(token)) throw new AwsApiError('InvalidToken', `Invalid Token: '${token}'`);
  }

  #take(token: string): Waiting | undefined {
    const waiting = this.#waiting.get(token);
    if (!waiting) return undefined;
    this.#waiting.delete(token);
    if (waiting.timer) clearTimeout(waiting.timer);
    return waiting;
  }

  #timedOut(): AwsApiError {
    return new AwsApiError(
      'TaskTimedOut',
      'The task token has either expired or the task associated with the token has already been closed.',
    );
  }
}
