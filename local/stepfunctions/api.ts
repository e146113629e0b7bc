/**
 * Local Step Functions: runs STANDARD workflows with aws-local-stepfunctions behind the subset of the Step Functions
 * API (AWS JSON 1.0) that sovereign-agent and its CLI use: StartExecution, DescribeExecution, ListExecutions,
 * StopExecution, GetExecutionHistory, DescribeStateMachine, ListStateMachines.
 *
 * Task states invoke Lambda through the real `@aws-sdk/client-lambda` client (endpoint from AWS_ENDPOINT_URL_LAMBDA,
 * as the library's own client does), but through a per-state override so failures are named as Step Functions
 * names them: a function error keeps its `errorType` with the error payload as Cause, and a Lambda service error
 * becomes `Lambda.<ExceptionName>` (e.g. `Lambda.TooManyRequestsException`), which the ASL Retry lists match.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
  type LambdaClientConfig,
} from '@aws-sdk/client-lambda';
import { z } from 'zod';
import {
  AwsApiError,
  decodeToken,
  encodeToken,
  epochSeconds,
  LocalServiceError,
  parseInput,
  startAwsJsonServer,
  utf8Length,
} from '../aws-json-protocol';

// The package is typed as ESM but ships a CommonJS build, which require() picks through its "exports" map.
type LocalStepFunctions = typeof import('aws-local-stepfunctions', { with: { 'resolution-mode': 'import' }});
type StateMachine = InstanceType<LocalStepFunctions['StateMachine']>;
type StateMachineDefinition = ConstructorParameters<LocalStepFunctions['StateMachine']>[0];
type RunOptions = NonNullable<Parameters<StateMachine['run']>[1]>;
const {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine: StateMachineClass,
}: LocalStepFunctions = require('aws-local-stepfunctions');

export interface StateMachineSpec {
  arn: string;
  name: string;
  /** ASL (JSONPath); Task Resources are Lambda function ARNs or `arn:aws:states:::lambda:invoke`. */
  definition: Record<string, unknown>;
}

export interface StepFunctionsServiceOptions {
  stateMachines: StateMachineSpec[];
  /** When given, execution records and histories persist under `<dataDir>/executions/`. */
  dataDir?: string;
  region: string;
  /** Per state name: milliseconds to wait before each retry instead of the Retry's backoff (tests). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Defaults to a free port on 127.0.0.1. */
  port?: number;
}

export interface StepFunctionsService {
  url: string;
  executions(): ExecutionRecord[];
  waitForExecution(executionArn: string, timeoutMs?: number): Promise<ExecutionRecord>;
  close(): Promise<void>;
}

const executionStatusSchema = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
export type ExecutionStatus = z.infer<typeof executionStatusSchema>;

const executionRecordSchema = z.object({
  executionArn: z.string(),
  stateMachineArn: z.string(),
  name: z.string(),
  status: executionStatusSchema,
  /** The input string as given to StartExecution (idempotency compares it byte for byte). */
  input: z.string(),
  output: z.string().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  startDate: z.string(),
  stopDate: z.string().optional(),
  /** States entered plus retries: what Step Functions bills as state transitions. */
  stateTransitions: z.number().int(),
  historyEventCount: z.number().int(),
  /** The process that ran the execution; a RUNNING record of another process is dead on restart. */
  ownerPid: z.number().int(),
});
export type ExecutionRecord = z.infer<typeof executionRecordSchema>;

const historyEventSchema = z.object({
  id: z.number().int(),
  previousEventId: z.number().int(),
  timestamp: z.string(),
  type: z.string(),
  /** The API field holding the details, e.g. `stateEnteredEventDetails`. */
  detailsField: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type HistoryEvent = z.infer<typeof historyEventSchema>;

const persistedExecutionSchema = z.object({
  record: executionRecordSchema,
  history: z.array(historyEventSchema),
});

/** Step Functions quotas: 256 KiB payloads, 25,000 history events per execution. */
const MAX_PAYLOAD_BYTES = 262_144;
const MAX_HISTORY_EVENTS = 25_000;
const EXECUTION_NAME = /^[0-9A-Za-z_-]+$/;
const STATE_MACHINE_ARN =
  /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([0-9A-Za-z_-]{1,80})$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/;
const LAMBDA_FUNCTION_ARN =
  /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[$A-Za-z0-9_-]+)?$/;
const LAMBDA_INVOKE_INTEGRATION = 'arn:aws:states:::lambda:invoke';
const historyLimitFailure = {
  error: 'States.Runtime',
  cause: `The execution reached the maximum number of history events (${MAX_HISTORY_EVENTS}).`,
};
/** The local stand-ins do not check signatures; these only keep the SDK from searching for credentials. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

type RunInput = Parameters<StateMachine['run']>[0];
type LibraryEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type TaskHandler = TaskHandlers[string];

/**
 * A Task failure as Step Functions reports it: `name` is the ASL error code that Retry/Catch match, the message is
 * the Cause. Terminal errors (States.DataLimitExceeded) are neither retried nor caught, as in Step Functions.
 * It takes no `{ cause }`: the library reports `error.cause ?? error.message` as Cause, so a JS cause would
 * replace the Cause Step Functions shows.
 */
class TaskFailedError extends LocalServiceError {
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

interface LoadedMachine {
  spec: StateMachineSpec;
  machine: StateMachine;
  handlers: TaskHandlers;
  taskResources: Map<string, string>;
  createdAt: string;
  arnParts: { partition: string; region: string; account: string };
}

interface Execution {
  record: ExecutionRecord;
  history: HistoryEvent[];
  abort?: () => void;
  stop?: { error?: string; cause?: string };
  historyLimitHit?: boolean;
  /** Task attempts that failed, by `state#mapIndex`, so their exit is not reported as a Lambda success. */
  failedAttempts: Set<string>;
  done?: Promise<void>;
  writing: Promise<void>;
}

const json = (value: unknown): string => JSON.stringify(value ?? null);
const causeText = (cause: unknown): string | undefined =>
  cause === undefined ? undefined : typeof cause === 'string' ? cause : json(cause);
const nowIso = (): string => new Date().toISOString();
const fileNameFor = (record: ExecutionRecord): string => {
  const smName = record.stateMachineArn.split(':').pop() ?? 'unknown';
  return `${smName}.${record.name}.json`;
};

/** Every Task state (including those inside Map and Parallel) by name, with its Resource. */
const collectTaskResources = (definition: unknown, into: Map<string, string>, smName: string): void => {
  if (typeof definition !== 'object' || definition === null) return;
  const states = (definition as { States?: unknown }).States;
  if (typeof states !== 'object' || states === null) return;
  for (const [name, raw] of Object.entries(states)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const state = raw as Record<string, unknown>;
    if (state.Type === 'Task') {
      const resource = state.Resource;
      if (
        typeof resource !== 'string' ||
        (!LAMBDA_FUNCTION_ARN.test(resource) && resource !== LAMBDA_INVOKE_INTEGRATION)
      ) {
        throw new LocalServiceError(
          `State machine ${smName}, Task state ${name}: Resource ${json(resource)} is not a Lambda function ARN or ` +
            `${LAMBDA_INVOKE_INTEGRATION}; only Lambda tasks run locally`,
        );
      }
      // Task overrides are routed by state name; asl-validator already refused duplicate names (nested included).
      into.set(name, resource);
    }
    if (state.Type === 'Map') collectTaskResources(state.ItemProcessor ?? state.Iterator, into, smName);
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      for (const branch of state.Branches) collectTaskResources(branch, into, smName);
    }
  }
};

export const startStepFunctionsService = async (
  o: StepFunctionsServiceOptions,
): Promise<StepFunctionsService> => {
  const executionsDir = o.dataDir === undefined ? undefined : join(o.dataDir, 'executions');
  const executions = new Map<string, Execution>();
  const closed = new EventEmitter();
  closed.setMaxListeners(0);
  const lambdaClients = new Map<string, LambdaClient>();

  /** Created on first use and per AWS_ENDPOINT_URL_LAMBDA value, because the stack sets it after importing this module. */
  const lambdaClient = (): LambdaClient => {
    const key = process.env.AWS_ENDPOINT_URL_LAMBDA ?? '';
    let client = lambdaClients.get(key);
    if (!client) {
      const config: LambdaClientConfig = { region: o.region, maxAttempts: 1 };
      // maxAttempts 1: the state's Retry list decides about retries, as in Step Functions.
      if (!process.env.AWS_ACCESS_KEY_ID) config.credentials = LOCAL_CREDENTIALS;
      client = new LambdaClient(config);
      lambdaClients.set(key, client);
    }
    return client;
  };

  const invokeLambda = async (functionName: string, payload: unknown): Promise<unknown> => {
    let response: InvokeCommandOutput;
    try {
      response = await lambdaClient().send(
        new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(json(payload)) }),
      );
    } catch (err) {
      const e = err as {
        name?: string;
        message?: string;
        $metadata?: { httpStatusCode?: number; requestId?: string };
      };
      const status = e.$metadata?.httpStatusCode;
      if (status !== undefined && e.name) {
        throw new TaskFailedError(
          `Lambda.${e.name}`,
          `${e.message ?? e.name} (Service: AWSLambda; Status Code: ${status}; Error Code: ${e.name}; ` +
            `Request ID: ${e.$metadata?.requestId ?? 'unknown'})`,
        );
      }
      throw new TaskFailedError(
        'Lambda.SdkClientException',
        `Unable to invoke ${functionName}: ${e.message ?? String(err)}`,
      );
    }
    const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : '';
    if (response.FunctionError) {
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
      throw new TaskFailedError(errorType ?? 'Lambda.Unknown', text);
    }
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

  const taskHandler = (resource: string): TaskHandler => {
    if (resource === LAMBDA_INVOKE_INTEGRATION) {
      // The optimized integration: Parameters carry FunctionName and Payload; the result wraps the payload.
      return async (input) => {
        const params = (input ?? {}) as { FunctionName?: unknown; Payload?: unknown };
        if (typeof params.FunctionName !== 'string') {
          throw new TaskFailedError('States.Runtime', 'lambda:invoke needs Parameters.FunctionName', {
            terminal: true,
          });
        }
        const payload = await invokeLambda(params.FunctionName, params.Payload ?? input);
        return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 } as Awaited<
          ReturnType<TaskHandler>
        >;
      };
    }
    return async (input) => (await invokeLambda(resource, input)) as Awaited<ReturnType<TaskHandler>>;
  };

  const machines = new Map<string, LoadedMachine>();
  for (const spec of o.stateMachines) {
    const parts = STATE_MACHINE_ARN.exec(spec.arn);
    if (!parts || parts[4] !== spec.name) {
      throw new LocalServiceError(
        `State machine ${spec.name}: ARN ${spec.arn} is not arn:aws:states:<region>:<account>:stateMachine:${spec.name}`,
      );
    }
    let machine: StateMachine;
    try {
      // The library validates the ASL (asl-validator, with ARN and path checks) here.
      machine = new StateMachineClass(spec.definition as unknown as StateMachineDefinition, {
        validationOptions: { checkArn: true, checkPaths: true },
      });
    } catch (err) {
      throw new LocalServiceError(
        `State machine ${spec.name} has an invalid definition: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const taskResources = new Map<string, string>();
    collectTaskResources(spec.definition, taskResources, spec.name);
    const handlers: TaskHandlers = {};
    for (const [stateName, resource] of taskResources) handlers[stateName] = taskHandler(resource);
    machines.set(spec.arn, {
      spec,
      machine,
      handlers,
      taskResources,
      createdAt: nowIso(),
      arnParts: {
        partition: parts[1] ?? 'aws',
        region: parts[2] ?? o.region,
        account: parts[3] ?? '000000000000',
      },
    });
  }

  const persist = (exec: Execution): Promise<void> => {
    if (!executionsDir) return Promise.resolve();
    const snapshot = JSON.stringify({ record: exec.record, history: exec.history });
    const file = join(executionsDir, fileNameFor(exec.record));
    exec.writing = exec.writing
      .then(async () => {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, snapshot);
        await rename(tmp, file);
      })
      .catch((err: unknown) => {
        // The execution itself goes on; only its durable copy is stale. Say so instead of failing the run.
        console.error(`[local stepfunctions] could not write ${file}`, err);
      });
    return exec.writing;
  };

  if (executionsDir) {
    await mkdir(executionsDir, { recursive: true });
    for (const file of (await readdir(executionsDir)).filter((f) => f.endsWith('.json'))) {
      const path = join(executionsDir, file);
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(path, 'utf8'));
      } catch (err) {
        console.warn(`[local stepfunctions] ignoring ${path}: not JSON (${String(err)})`);
        continue;
      }
      const parsed = persistedExecutionSchema.safeParse(raw);
      if (!parsed.success) {
        console.warn(
          `[local stepfunctions] ignoring ${path}: not an execution record (${parsed.error.message})`,
        );
        continue;
      }
      const exec: Execution = { ...parsed.data, failedAttempts: new Set(), writing: Promise.resolve() };
      if (exec.record.status === 'RUNNING') {
        // Its process is gone (executions do not survive their process): close it so callers stop waiting.
        const stopDate = nowIso();
        exec.record = {
          ...exec.record,
          status: 'ABORTED',
          stopDate,
          error: 'LocalStackRestarted',
          cause:
            `The local Step Functions process (pid ${exec.record.ownerPid}) that ran this execution exited before it ` +
            `finished; marked ABORTED when the service restarted at ${stopDate}.`,
        };
        pushEvent(exec, 'ExecutionAborted', 'executionAbortedEventDetails', {
          error: exec.record.error,
          cause: exec.record.cause,
        });
        await persist(exec);
      }
      executions.set(exec.record.executionArn, exec);
    }
  }

  function pushEvent(
    exec: Execution,
    type: string,
    detailsField?: string,
    details?: Record<string, unknown>,
    at?: number,
  ) {
    const id = exec.history.length + 1;
    const event: HistoryEvent = {
      id,
      previousEventId: id - 1,
      timestamp: new Date(at ?? Date.now()).toISOString(),
      type,
    };
    if (detailsField && details) {
      event.detailsField = detailsField;
      event.details = details;
    }
    exec.history.push(event);
    exec.record.historyEventCount = exec.history.length;
    if (exec.history.length === MAX_HISTORY_EVENTS - 1 && exec.record.status === 'RUNNING') {
      // The quota's last event is the failure; the library's later events are dropped (see recordLibraryEvent).
      exec.historyLimitHit = true;
      pushEvent(exec, 'ExecutionFailed', 'executionFailedEventDetails', historyLimitFailure, at);
      exec.abort?.();
    }
  }

  /** Maps aws-local-stepfunctions' event log to Step Functions history events, as far as the log goes. */
  const recordLibraryEvent = (exec: Execution, ev: LibraryEvent, loaded: LoadedMachine): void => {
    if (exec.historyLimitHit) return;
    const at = ev.timestamp;
    const taskEvents = (resource: string) =>
      resource === LAMBDA_INVOKE_INTEGRATION
        ? { prefix: 'Task', resourceDetails: { resourceType: 'lambda', resource: 'invoke' } }
        : { prefix: 'LambdaFunction', resourceDetails: {} };
    const schedule = (stateName: string) => {
      const resource = loaded.taskResources.get(stateName) ?? '';
      const { prefix, resourceDetails } = taskEvents(resource);
      if (prefix === 'Task') {
        pushEvent(
          exec,
          'TaskScheduled',
          'taskScheduledEventDetails',
          { ...resourceDetails, region: o.region },
          at,
        );
        pushEvent(exec, 'TaskStarted', 'taskStartedEventDetails', resourceDetails, at);
      } else {
        pushEvent(exec, 'LambdaFunctionScheduled', 'lambdaFunctionScheduledEventDetails', { resource }, at);
        pushEvent(exec, 'LambdaFunctionStarted', undefined, undefined, at);
      }
    };
    switch (ev.type) {
      case 'ExecutionStarted':
        pushEvent(
          exec,
          'ExecutionStarted',
          'executionStartedEventDetails',
          {
            input: exec.record.input,
            inputDetails: { truncated: false },
            roleArn: `arn:aws:iam::${loaded.arnParts.account}:role/stepfunctions-local`,
          },
          at,
        );
        return;
      case 'StateEntered': {
        exec.record.stateTransitions++;
        const { name, type, input } = ev.state;
        pushEvent(
          exec,
          `${type}StateEntered`,
          'stateEnteredEventDetails',
          { name, input: json(input), inputDetails: { truncated: false } },
          at,
        );
        if (type === 'Task') schedule(name);
        if (type === 'Map') pushEvent(exec, 'MapStateStarted', undefined, undefined, at);
        if (type === 'Parallel') pushEvent(exec, 'ParallelStateStarted', undefined, undefined, at);
        return;
      }
      case 'StateFailed': {
        const { name, type } = ev.state;
        const key = `${name}#${ev.index ?? ''}`;
        exec.failedAttempts.add(key);
        const details = { error: ev.Error, cause: causeText(ev.Cause) };
        if (type === 'Task') {
          const { prefix, resourceDetails } = taskEvents(loaded.taskResources.get(name) ?? '');
          const outcome = ev.Error === 'States.Timeout' ? 'TimedOut' : 'Failed';
          pushEvent(
            exec,
            `${prefix}${outcome}`,
            `${prefix.charAt(0).toLowerCase()}${prefix.slice(1)}${outcome}EventDetails`,
            { ...resourceDetails, ...details },
            at,
          );
        }
        if (type === 'Map') pushEvent(exec, 'MapStateFailed', undefined, undefined, at);
        if (type === 'Parallel') pushEvent(exec, 'ParallelStateFailed', undefined, undefined, at);
        return;
      }
      case 'StateRetried':
        exec.record.stateTransitions++;
        exec.failedAttempts.delete(`${ev.state.name}#${ev.index ?? ''}`);
        if (ev.state.type === 'Task') schedule(ev.state.name);
        return;
      case 'StateCaught':
        return;
      case 'StateExited': {
        const { name, type, output } = ev.state;
        const key = `${name}#${ev.index ?? ''}`;
        const failed = exec.failedAttempts.delete(key);
        if (!failed && type === 'Task') {
          const { prefix, resourceDetails } = taskEvents(loaded.taskResources.get(name) ?? '');
          pushEvent(
            exec,
            `${prefix}Succeeded`,
            `${prefix === 'Task' ? 'task' : 'lambdaFunction'}SucceededEventDetails`,
            resourceDetails,
            at,
          );
        }
        if (!failed && type === 'Map') pushEvent(exec, 'MapStateSucceeded', undefined, undefined, at);
        if (!failed && type === 'Parallel')
          pushEvent(exec, 'ParallelStateSucceeded', undefined, undefined, at);
        pushEvent(
          exec,
          `${type}StateExited`,
          'stateExitedEventDetails',
          { name, output: json(output), outputDetails: { truncated: false } },
          at,
        );
        return;
      }
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const field = `mapIteration${ev.type.slice('MapIteration'.length)}EventDetails`;
        pushEvent(exec, ev.type, field, { name: ev.parentState.name, index: ev.index }, at);
        return;
      }
      case 'ExecutionSucceeded':
        pushEvent(
          exec,
          'ExecutionSucceeded',
          'executionSucceededEventDetails',
          { output: json(ev.output), outputDetails: { truncated: false } },
          at,
        );
        return;
      case 'ExecutionFailed':
        pushEvent(
          exec,
          'ExecutionFailed',
          'executionFailedEventDetails',
          { error: ev.Error, cause: causeText(ev.Cause) },
          at,
        );
        return;
      case 'ExecutionAborted':
        pushEvent(exec, 'ExecutionAborted', 'executionAbortedEventDetails', { ...exec.stop }, at);
        return;
      case 'ExecutionTimeout':
        pushEvent(
          exec,
          'ExecutionTimedOut',
          'executionTimedOutEventDetails',
          { error: 'States.Timeout' },
          at,
        );
        return;
      default:
        // Parallel branch events have no Step Functions history counterpart.
        return;
    }
  };

  const finish = async (
    exec: Execution,
    outcome: { ok: true; output: unknown } | { ok: false; err: unknown },
  ) => {
    const r = exec.record;
    r.stopDate = nowIso();
    if (exec.historyLimitHit) {
      // Whatever the library went on to do, the execution failed when its history reached the quota.
      r.status = 'FAILED';
      r.error = historyLimitFailure.error;
      r.cause = historyLimitFailure.cause;
    } else if (outcome.ok) {
      r.status = 'SUCCEEDED';
      r.output = json(outcome.output);
    } else if (outcome.err instanceof ExecutionAbortedError) {
      r.status = 'ABORTED';
      r.error = exec.stop?.error;
      r.cause = exec.stop?.cause;
    } else if (outcome.err instanceof ExecutionTimeoutError) {
      r.status = 'TIMED_OUT';
      r.error = 'States.Timeout';
    } else if (outcome.err instanceof ExecutionError && outcome.err.cause instanceof Error) {
      const failure = outcome.err.cause;
      r.status = 'FAILED';
      r.error = failure.name;
      // A Fail state without Cause gets the library's default message; Step Functions reports no cause then.
      const isDefaultFailCause =
        failure.constructor.name === 'FailStateError' &&
        failure.message === 'Execution failed because of a Fail state';
      r.cause = isDefaultFailCause ? undefined : failure.message;
    } else {
      r.status = 'FAILED';
      r.error = 'States.Runtime';
      r.cause = outcome.err instanceof Error ? outcome.err.message : String(outcome.err);
    }
    delete exec.abort;
    await persist(exec);
    closed.emit('closed', r.executionArn);
  };

  const run = (exec: Execution, loaded: LoadedMachine, input: RunInput): Promise<void> => {
    const r = exec.record;
    const execution = loaded.machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: loaded.handlers,
        ...(o.retryIntervalOverrides ? { retryIntervalOverrides: o.retryIntervalOverrides } : {}),
      },
      context: {
        Execution: {
          Id: r.executionArn,
          Name: r.name,
          RoleArn: `arn:aws:iam::${loaded.arnParts.account}:role/stepfunctions-local`,
          RedriveCount: 0,
        },
        StateMachine: { Id: loaded.spec.arn, Name: loaded.spec.name },
      },
    });
    exec.abort = execution.abort;
    const consumeLog = (async () => {
      for await (const ev of execution.eventLogs) recordLibraryEvent(exec, ev, loaded);
    })();
    return execution.result.then(
      async (output) => {
        await consumeLog;
        await finish(exec, { ok: true, output });
      },
      async (err: unknown) => {
        await consumeLog;
        await finish(exec, { ok: false, err });
      },
    );
  };

  const machineFor = (arn: string): LoadedMachine => {
    if (!STATE_MACHINE_ARN.test(arn)) throw new AwsApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const loaded = machines.get(arn);
    if (!loaded) throw new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return loaded;
  };

  const executionFor = (arn: string): Execution => {
    if (!EXECUTION_ARN.test(arn)) throw new AwsApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const exec = executions.get(arn);
    if (!exec) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return exec;
  };

  const lengthError = (field: string, value: string, max: number) =>
    new AwsApiError(
      'ValidationException',
      `1 validation error detected: Value '${value.length > 100 ? `${value.slice(0, 100)}...` : value}' at '${field}' ` +
        `failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );

  const startExecution = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({ stateMachineArn: z.string(), name: z.string().optional(), input: z.string().optional() }),
      input,
      'StartExecution',
    );
    const name = req.name ?? randomUUID();
    const executionInput = req.input ?? '{}';
    // Length limits are model constraints: Step Functions answers them with ValidationException.
    if (name.length > 80) throw lengthError('name', name, 80);
    if (name.length === 0) {
      throw new AwsApiError(
        'ValidationException',
        "1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    if (utf8Length(executionInput) > MAX_PAYLOAD_BYTES)
      throw lengthError('input', executionInput, MAX_PAYLOAD_BYTES);
    const loaded = machineFor(req.stateMachineArn);
    if (!EXECUTION_NAME.test(name)) throw new AwsApiError('InvalidName', `Invalid Name: '${name}'`);
    let parsedInput: RunInput;
    try {
      parsedInput = JSON.parse(executionInput);
    } catch (err) {
      throw new AwsApiError(
        'InvalidExecutionInput',
        `Invalid State Machine Execution Input: '${(err as Error).message}'`,
      );
    }
    const { partition, region, account } = loaded.arnParts;
    const executionArn = `arn:${partition}:states:${region}:${account}:execution:${loaded.spec.name}:${name}`;
    const existing = executions.get(executionArn);
    if (existing) {
      // StartExecution is idempotent for STANDARD workflows: same name and input while running -> same answer.
      if (existing.record.status === 'RUNNING' && existing.record.input === executionInput) {
        return { executionArn, startDate: epochSeconds(existing.record.startDate) };
      }
      throw new AwsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const exec: Execution = {
      record: {
        executionArn,
        stateMachineArn: loaded.spec.arn,
        name,
        status: 'RUNNING',
        input: executionInput,
        startDate: nowIso(),
        stateTransitions: 0,
        historyEventCount: 0,
        ownerPid: process.pid,
      },
      history: [],
      failedAttempts: new Set(),
      writing: Promise.resolve(),
    };
    executions.set(executionArn, exec);
    void persist(exec);
    exec.done = run(exec, loaded, parsedInput).catch((err: unknown) => {
      console.error(`[local stepfunctions] execution ${executionArn} could not be recorded`, err);
    });
    return { executionArn, startDate: epochSeconds(exec.record.startDate) };
  };

  const describeExecution = (input: Record<string, unknown>) => {
    const { executionArn } = parseInput(z.object({ executionArn: z.string() }), input, 'DescribeExecution');
    const r = executionFor(executionArn).record;
    return {
      executionArn: r.executionArn,
      stateMachineArn: r.stateMachineArn,
      name: r.name,
      status: r.status,
      startDate: epochSeconds(r.startDate),
      ...(r.stopDate ? { stopDate: epochSeconds(r.stopDate) } : {}),
      input: r.input,
      inputDetails: { included: true },
      ...(r.output !== undefined ? { output: r.output, outputDetails: { included: true } } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(r.cause !== undefined ? { cause: r.cause } : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  };

  const pageSize = (maxResults: number | undefined) =>
    maxResults === undefined || maxResults === 0 ? 100 : maxResults;

  const listExecutions = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({
        stateMachineArn: z.string(),
        statusFilter: z
          .enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'])
          .optional(),
        maxResults: z.number().int().min(0).max(1000).optional(),
        nextToken: z.string().optional(),
      }),
      input,
      'ListExecutions',
    );
    machineFor(req.stateMachineArn);
    const scope = `${req.stateMachineArn}|${req.statusFilter ?? ''}`;
    const offset = decodeToken(req.nextToken, scope, 'InvalidToken');
    const matching = [...executions.values()]
      .map((e) => e.record)
      .filter(
        (r) =>
          r.stateMachineArn === req.stateMachineArn && (!req.statusFilter || r.status === req.statusFilter),
      )
      .sort((a, b) => b.startDate.localeCompare(a.startDate) || b.executionArn.localeCompare(a.executionArn));
    const size = pageSize(req.maxResults);
    const page = matching.slice(offset, offset + size);
    return {
      executions: page.map((r) => ({
        executionArn: r.executionArn,
        stateMachineArn: r.stateMachineArn,
        name: r.name,
        status: r.status,
        startDate: epochSeconds(r.startDate),
        ...(r.stopDate ? { stopDate: epochSeconds(r.stopDate) } : {}),
      })),
      ...(offset + size < matching.length ? { nextToken: encodeToken(offset + size, scope) } : {}),
    };
  };

  const stopExecution = async (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({
        executionArn: z.string(),
        error: z.string().max(256).optional(),
        cause: z.string().max(32768).optional(),
      }),
      input,
      'StopExecution',
    );
    const exec = executionFor(req.executionArn);
    if (exec.record.status === 'RUNNING' && exec.abort) {
      exec.stop = {
        ...(req.error !== undefined ? { error: req.error } : {}),
        ...(req.cause !== undefined ? { cause: req.cause } : {}),
      };
      exec.abort();
      await exec.done;
    }
    return { stopDate: epochSeconds(exec.record.stopDate ?? nowIso()) };
  };

  const getExecutionHistory = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({
        executionArn: z.string(),
        maxResults: z.number().int().min(0).max(1000).optional(),
        reverseOrder: z.boolean().optional(),
        nextToken: z.string().optional(),
        includeExecutionData: z.boolean().optional(),
      }),
      input,
      'GetExecutionHistory',
    );
    const exec = executionFor(req.executionArn);
    const scope = `${req.executionArn}|${req.reverseOrder ? 'r' : 'f'}`;
    const offset = decodeToken(req.nextToken, scope, 'InvalidToken');
    const ordered = req.reverseOrder ? [...exec.history].reverse() : exec.history;
    const size = pageSize(req.maxResults);
    const includeData = req.includeExecutionData ?? true;
    return {
      events: ordered.slice(offset, offset + size).map((e) => {
        const out: Record<string, unknown> = {
          timestamp: epochSeconds(e.timestamp),
          type: e.type,
          id: e.id,
          previousEventId: e.previousEventId,
        };
        if (e.detailsField && e.details) {
          const { input: _in, output: _out, ...withoutData } = e.details;
          out[e.detailsField] = includeData ? e.details : withoutData;
        }
        return out;
      }),
      ...(offset + size < ordered.length ? { nextToken: encodeToken(offset + size, scope) } : {}),
    };
  };

  const describeStateMachine = (input: Record<string, unknown>) => {
    const { stateMachineArn } = parseInput(
      z.object({ stateMachineArn: z.string() }),
      input,
      'DescribeStateMachine',
    );
    const loaded = machineFor(stateMachineArn);
    return {
      stateMachineArn,
      name: loaded.spec.name,
      status: 'ACTIVE',
      definition: JSON.stringify(loaded.spec.definition),
      roleArn: `arn:aws:iam::${loaded.arnParts.account}:role/stepfunctions-local`,
      type: 'STANDARD',
      creationDate: epochSeconds(loaded.createdAt),
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
      tracingConfiguration: { enabled: false },
    };
  };

  const listStateMachines = () => ({
    stateMachines: [...machines.values()].map((m) => ({
      stateMachineArn: m.spec.arn,
      name: m.spec.name,
      type: 'STANDARD',
      creationDate: epochSeconds(m.createdAt),
    })),
  });

  const server = await startAwsJsonServer({
    targetPrefix: 'AWSStepFunctions',
    jsonVersion: '1.0',
    ...(o.port !== undefined ? { port: o.port } : {}),
    operations: {
      StartExecution: startExecution,
      DescribeExecution: describeExecution,
      ListExecutions: listExecutions,
      StopExecution: stopExecution,
      GetExecutionHistory: getExecutionHistory,
      DescribeStateMachine: describeStateMachine,
      ListStateMachines: listStateMachines,
    },
  });

  const snapshot = (r: ExecutionRecord): ExecutionRecord => structuredClone(r);

  return {
    url: server.url,
    executions: () =>
      [...executions.values()]
        .map((e) => snapshot(e.record))
        .sort((a, b) => a.startDate.localeCompare(b.startDate)),
    waitForExecution: (executionArn, timeoutMs = 30_000) =>
      new Promise<ExecutionRecord>((resolve, reject) => {
        const settledRecord = () => {
          const r = executions.get(executionArn)?.record;
          return r && r.status !== 'RUNNING' ? r : undefined;
        };
        const now = settledRecord();
        if (now) {
          resolve(snapshot(now));
          return;
        }
        const onClosed = (arn: string) => {
          if (arn !== executionArn) return;
          const r = settledRecord();
          if (!r) return;
          clearTimeout(timer);
          closed.off('closed', onClosed);
          resolve(snapshot(r));
        };
        const timer = setTimeout(() => {
          closed.off('closed', onClosed);
          const status = executions.get(executionArn)?.record.status ?? 'not started';
          reject(
            new LocalServiceError(
              `Execution ${executionArn} did not finish within ${timeoutMs} ms (status: ${status})`,
            ),
          );
        }, timeoutMs);
        closed.on('closed', onClosed);
      }),
    close: async () => {
      const running = [...executions.values()].filter((e) => e.record.status === 'RUNNING' && e.abort);
      for (const exec of running) {
        exec.stop = {
          error: 'LocalStackShutdown',
          cause: 'The local Step Functions service was closed while the execution was running.',
        };
        exec.abort?.();
      }
      await Promise.all(running.map((e) => e.done));
      await server.close();
      await Promise.all([...executions.values()].map((e) => e.writing));
      for (const client of lambdaClients.values()) client.destroy();
    },
  };
};
