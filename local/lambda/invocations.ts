/** Running invocations: tool faults first, then a pooled sandbox; each one recorded and logged as Lambda logs it. */
import { randomUUID } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { AsyncInvocations } from './async-invocations';
import { ServiceException } from './errors';
import type { LambdaFunctionSpec } from './functions';
import type { Sandbox, SandboxPool } from './sandboxes';
import {
  type ActionGroupFields,
  actionGroupFields,
  type FaultState,
  type ToolFaultInjector,
} from './tool-faults';
import { type InvocationTrace, invocationTrace, sendFunctionSegment } from './tracing';
import type { FunctionErrorPayload, InvokeMessage } from './worker';

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export type InvocationOutcome = 'success' | 'error' | 'timeout' | 'injected-failure' | 'injected-crash';

export interface InvocationRecord {
  requestId: string;
  functionName: string;
  invocationType: InvocationType;
  startedAt: string;
  durationMs: number;
  outcome: InvocationOutcome;
  errorType?: string;
  coldStart: boolean;
  /** From a Bedrock action-group payload (`function`, `sessionId`), when the payload has that shape. */
  tool?: string;
  sessionId?: string;
}

export interface InvokeResult {
  requestId: string;
  /** 200 (RequestResponse), 202 (Event), 204 (DryRun). */
  statusCode: number;
  functionError?: 'Unhandled';
  /** The handler's result (JSON text), or the error payload when functionError is set. */
  payload: string;
}

/** A function as the invoker runs it. */
export interface DeployedFunction {
  spec: LambdaFunctionSpec;
  arn: string;
  pool: SandboxPool;
  logStream: WriteStream;
}

const MAX_RECORDS = 10_000;

/** The log stream an invocation's lines go to locally (one per request id; `sovereign-agent logs` reads it back). */
export const logStreamNameOf = (requestId: string): string => `local/[$LATEST]${requestId.replace(/-/g, '')}`;

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/** One invocation's record and log lines, written when it ends. */
class Invocation {
  readonly #started = performance.now();
  readonly #startedAt = new Date();
  coldStart = false;

  constructor(
    readonly fn: DeployedFunction,
    readonly invocationType: InvocationType,
    readonly requestId: string,
    readonly fields: ActionGroupFields,
    private readonly records: InvocationRecord[],
    readonly trace: InvocationTrace,
    private readonly xray: { daemonAddress?: string; log: (line: string) => void },
  ) {}

  finish(
    outcome: InvocationOutcome,
    result: Omit<InvokeResult, 'requestId' | 'statusCode'>,
    errorType?: string,
  ) {
    const { spec, logStream } = this.fn;
    const { requestId } = this;
    const durationMs = performance.now() - this.#started;
    this.records.push({
      requestId,
      functionName: spec.name,
      invocationType: this.invocationType,
      startedAt: this.#startedAt.toISOString(),
      durationMs,
      outcome,
      ...(errorType === undefined ? {} : { errorType }),
      coldStart: this.coldStart,
      ...this.fields,
    });
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
    sendFunctionSegment(
      this.xray.daemonAddress,
      this.trace,
      {
        functionName: spec.name,
        functionArn: this.fn.arn,
        requestId,
        startedMs: this.#startedAt.getTime(),
        endedMs: this.#startedAt.getTime() + durationMs,
        ...(errorType === undefined ? {} : { errorType }),
      },
      this.xray.log,
    );
    logStream.write(
      `END RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${spec.memorySize} MB\tOutcome: ${outcome}\n`,
    );
    return { requestId, statusCode: this.invocationType === 'Event' ? 202 : 200, ...result };
  }

  /** A function error with this payload (as the Node.js runtime writes it). */
  failed(outcome: InvocationOutcome, error: FunctionErrorPayload): InvokeResult {
    return this.finish(
      outcome,
      { functionError: 'Unhandled', payload: JSON.stringify(error) },
      error.errorType,
    );
  }

  functionError(outcome: InvocationOutcome, errorType: string, errorMessage: string): InvokeResult {
    return this.failed(outcome, { errorType, errorMessage, trace: [] });
  }

  /** Lambda's wording, prefixed with time and request id as in CloudWatch. */
  timedOut(): InvokeResult {
    const seconds = this.fn.spec.timeoutSeconds.toFixed(2);
    return this.functionError(
      'timeout',
      'Sandbox.Timedout',
      `${new Date().toISOString()} ${this.requestId} Task timed out after ${seconds} seconds`,
    );
  }
}

const invokeMessage = (
  call: Invocation,
  payload: string,
  deadlineMs: number,
  clientContext: unknown,
): InvokeMessage => {
  const { spec, arn } = call.fn;
  return {
    type: 'invoke',
    requestId: call.requestId,
    payload,
    deadlineMs,
    traceHeader: call.trace.header,
    context: {
      functionName: spec.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: arn,
      memoryLimitInMB: String(spec.memorySize),
      logGroupName: `/aws/lambda/${spec.name}`,
      logStreamName: logStreamNameOf(call.requestId),
      ...(clientContext === undefined ? {} : { clientContext }),
    },
  };
};

/** Runs one invocation in a sandbox; `recycle`: the sandbox must not be reused (timeout, crash, fatal error). */
const runInSandbox = async (
  call: Invocation,
  sandbox: Sandbox,
  message: { payload: string; clientContext: unknown; timeoutMs: number },
  fault: FaultState | undefined,
): Promise<{ result: InvokeResult; recycle: boolean }> => {
  const ready = await sandbox.ready;
  if (!ready.ok) return { result: call.failed('error', ready.error), recycle: true };
  if (call.coldStart)
    call.fn.logStream.write(`INIT_REPORT Init Duration: ${ready.initDurationMs.toFixed(2)} ms\n`);
  const deadlineMs = Date.now() + message.timeoutMs;
  const outcome = await sandbox.run(
    invokeMessage(call, message.payload, deadlineMs, message.clientContext),
    deadlineMs - Date.now(),
  );
  if (outcome.kind === 'timeout') return { result: call.timedOut(), recycle: true };
  if (outcome.kind === 'exit') {
    const text = `RequestId: ${call.requestId} Error: Runtime exited with error: exit status ${outcome.code}`;
    return { result: call.functionError('error', 'Runtime.ExitError', text), recycle: true };
  }
  if (fault !== undefined && fault.remainingCrashes > 0) {
    fault.remainingCrashes--;
    const text = `RequestId: ${call.requestId} Error: Runtime exited with error: signal: killed (fault injected by the local stack: tool ${call.fields.tool} crashed after side effect)`;
    return { result: call.functionError('injected-crash', 'Runtime.ExitError', text), recycle: true };
  }
  const result = outcome.message;
  if (result.ok) return { result: call.finish('success', { payload: result.payload }), recycle: false };
  return { result: call.failed('error', result.error), recycle: result.fatal === true };
};

export class Invoker {
  /** Every invocation so far (the last 10,000), oldest first. */
  readonly records: InvocationRecord[] = [];
  readonly #background = new Set<Promise<unknown>>();
  #closed = false;
  readonly #async: AsyncInvocations;

  constructor(
    private readonly faults: ToolFaultInjector,
    private readonly log: (line: string) => void,
    asyncInvocations?: AsyncInvocations,
    /** The X-Ray daemon each traced invocation's function segment goes to (none: nothing is sent). */
    private readonly xrayDaemonAddress?: string,
  ) {
    this.#async = asyncInvocations ?? new AsyncInvocations({ log });
  }

  /** RequestResponse waits for the result; Event answers 202 and runs in the background; DryRun runs nothing. */
  async invoke(
    fn: DeployedFunction,
    payload: string,
    invocationType: InvocationType,
    clientContext: unknown,
    /** The request's X-Amzn-Trace-Id: the invocation continues the caller's trace. */
    traceHeader?: string,
  ): Promise<InvokeResult> {
    if (this.#closed)
      throw new ServiceException(503, 'ServiceException', 'The local Lambda service is shutting down');
    if (invocationType === 'DryRun') return { requestId: randomUUID(), statusCode: 204, payload: '' };
    if (invocationType !== 'Event')
      return this.execute(fn, payload, invocationType, clientContext, randomUUID(), traceHeader);
    const requestId = randomUUID();
    // Lambda's retries and on-failure destination (async-invocations.ts); every try keeps the request id.
    const run = this.#async
      .run(fn, requestId, payload, () =>
        this.execute(fn, payload, invocationType, clientContext, requestId, traceHeader),
      )
      .catch((error: unknown) => {
        this.log(`Event invocation of ${fn.spec.name} failed: ${String(error)}`);
      });
    this.#background.add(run);
    void run.finally(() => this.#background.delete(run));
    return { requestId, statusCode: 202, payload: '' };
  }

  /** Refuses new invocations at once; the promise settles when the background (Event) ones have ended. */
  close(): Promise<unknown> {
    this.#closed = true;
    this.#async.stop();
    return Promise.allSettled([...this.#background]);
  }

  private async execute(
    fn: DeployedFunction,
    payload: string,
    invocationType: InvocationType,
    clientContext: unknown,
    requestId: string,
    traceHeader: string | undefined,
  ): Promise<InvokeResult> {
    const fields = actionGroupFields(payload);
    const fault = this.faults.faultFor(fields);
    const call = new Invocation(
      fn,
      invocationType,
      requestId,
      fields,
      this.records,
      invocationTrace(traceHeader),
      {
        ...(this.xrayDaemonAddress === undefined ? {} : { daemonAddress: this.xrayDaemonAddress }),
        log: this.log,
      },
    );
    const timeoutMs = fn.spec.timeoutSeconds * 1000;
    fn.logStream.write(`START RequestId: ${requestId} Version: $LATEST\n`);
    // An injected delay is time the tool spends, so it counts against the timeout; waiting for a free sandbox
    // and the cold start (Lambda's separate init phase) do not.
    let delayedMs = 0;
    if (fault !== undefined && fault.delayMs > 0) {
      delayedMs = Math.min(fault.delayMs, timeoutMs);
      await sleep(delayedMs);
      if (fault.delayMs >= timeoutMs) return call.timedOut();
    }
    if (fault !== undefined && fault.remainingFailures > 0) {
      fault.remainingFailures--;
      return call.functionError(
        'injected-failure',
        fault.error,
        `Fault injected by the local stack: tool ${fields.tool} failed for session ${fields.sessionId} (${fault.remainingFailures} more to fail)`,
      );
    }
    const { sandbox, cold } = await fn.pool.acquire();
    call.coldStart = cold;
    let recycle = false;
    try {
      const run = await runInSandbox(
        call,
        sandbox,
        { payload, clientContext, timeoutMs: timeoutMs - delayedMs },
        fault,
      );
      recycle = run.recycle;
      return run.result;
    } finally {
      fn.pool.release(sandbox, recycle);
    }
  }
}
