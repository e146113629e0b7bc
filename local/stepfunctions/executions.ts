/** The executions of the local Step Functions: running them on the engine, settling their records, stopping, waiting. */
import { EventEmitter } from 'node:events';
import { LocalServiceError } from '../aws/json-protocol';
import type { ServiceTrace } from '../xray/emitter';
import { HistoryRecorder, historyLimitFailure, type StopDetails } from './history';
import { ExecutionAbortedError, ExecutionError, ExecutionTimeoutError, type RunInput } from './library';
import type { LoadedMachine } from './machines';
import type { ExecutionFiles } from './persistence';
import {
  type ExecutionRecord,
  type HistoryEvent,
  json,
  localRoleArn,
  nowIso,
  type PersistedExecution,
} from './records';
import { StatusChangeOutbox } from './status-events';
import { sendExecutionSegment } from './tracing';

export interface Execution {
  readonly record: ExecutionRecord;
  readonly history: HistoryEvent[];
  /** Set while the engine runs it. */
  abort?: () => void;
  stop?: StopDetails;
  done?: Promise<void>;
}

export interface ExecutionsOptions {
  region: string;
  /** Per state name: milliseconds to wait before each retry instead of the Retry's backoff (tests). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Where records and histories persist; in memory only without it. */
  files?: ExecutionFiles;
  /** The X-Ray daemon each traced execution's segment goes to when it ends (none: nothing is sent). */
  xrayDaemonAddress?: string;
}

type Outcome = { ok: true; output: unknown } | { ok: false; err: unknown };

/** The record's end state for what the engine's run ended with. */
const settle = (r: ExecutionRecord, outcome: Outcome, stop: StopDetails | undefined): void => {
  if (outcome.ok) {
    r.status = 'SUCCEEDED';
    r.output = json(outcome.output);
  } else if (outcome.err instanceof ExecutionAbortedError) {
    r.status = 'ABORTED';
    r.error = stop?.error;
    r.cause = stop?.cause;
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
};

export class Executions {
  readonly #byArn = new Map<string, Execution>();
  /** Emits 'closed' with the execution ARN when an execution settles. */
  readonly #settled = new EventEmitter().setMaxListeners(0);

  /** Status changes for the default bus, held until one is connected (statusEvents.connect). */
  readonly statusEvents: StatusChangeOutbox;

  constructor(private readonly o: ExecutionsOptions) {
    this.statusEvents = new StatusChangeOutbox((record) => {
      const exec = this.#byArn.get(record.executionArn);
      if (exec) void this.save(exec);
    });
  }

  /** Executions of earlier processes, as loaded from disk; ended ones whose status change never left send it. */
  restore(persisted: PersistedExecution[]): void {
    for (const { record, history } of persisted) {
      this.#byArn.set(record.executionArn, { record, history });
      if (record.status !== 'RUNNING' && record.statusEventSent !== true) this.statusEvents.emit(record);
    }
  }

  find(executionArn: string): Execution | undefined {
    return this.#byArn.get(executionArn);
  }

  records(): ExecutionRecord[] {
    return [...this.#byArn.values()].map((e) => e.record);
  }

  /** Copies of every record, oldest first. */
  snapshots(): ExecutionRecord[] {
    return this.records()
      .map((r) => structuredClone(r))
      .sort((a, b) => a.startDate.localeCompare(b.startDate));
  }

  /** Records a new execution and runs it on the engine in the background. */
  start(
    machine: LoadedMachine,
    executionArn: string,
    name: string,
    input: string,
    parsedInput: RunInput,
    trace?: ServiceTrace,
  ): Execution {
    const exec: Execution = {
      record: {
        executionArn,
        stateMachineArn: machine.spec.arn,
        name,
        status: 'RUNNING',
        input,
        startDate: nowIso(),
        stateTransitions: 0,
        historyEventCount: 0,
        ownerPid: process.pid,
        ...(trace ? { trace } : {}),
      },
      history: [],
    };
    this.#byArn.set(executionArn, exec);
    void this.save(exec);
    this.statusEvents.emit(exec.record);
    exec.done = this.run(exec, machine, parsedInput).catch((err: unknown) => {
      console.error(`[local stepfunctions] execution ${executionArn} could not be recorded`, err);
    });
    return exec;
  }

  /** Aborts a running execution with the given error and cause, and waits until it is recorded. */
  async stop(exec: Execution, details: StopDetails): Promise<void> {
    if (exec.record.status !== 'RUNNING' || !exec.abort) return;
    exec.stop = details;
    exec.abort();
    await exec.done;
  }

  /** Resolves with a copy of the record once the execution has settled. */
  waitFor(executionArn: string, timeoutMs: number): Promise<ExecutionRecord> {
    const settledRecord = () => {
      const r = this.#byArn.get(executionArn)?.record;
      return r && r.status !== 'RUNNING' ? structuredClone(r) : undefined;
    };
    return new Promise<ExecutionRecord>((resolve, reject) => {
      const now = settledRecord();
      if (now) return resolve(now);
      const onSettled = (arn: string) => {
        const r = arn === executionArn ? settledRecord() : undefined;
        if (!r) return;
        clearTimeout(timer);
        this.#settled.off('closed', onSettled);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.#settled.off('closed', onSettled);
        const status = this.#byArn.get(executionArn)?.record.status ?? 'not started';
        reject(
          new LocalServiceError(
            `Execution ${executionArn} did not finish within ${timeoutMs} ms (status: ${status})`,
          ),
        );
      }, timeoutMs);
      this.#settled.on('closed', onSettled);
    });
  }

  /** Stops every running execution (the service is closing) and waits for their records to be written. */
  async close(): Promise<void> {
    const running = [...this.#byArn.values()].filter((e) => e.record.status === 'RUNNING' && e.abort);
    await Promise.all(
      running.map((exec) =>
        this.stop(exec, {
          error: 'LocalStackShutdown',
          cause: 'The local Step Functions service was closed while the execution was running.',
        }),
      ),
    );
  }

  private run(exec: Execution, loaded: LoadedMachine, input: RunInput): Promise<void> {
    const r = exec.record;
    const { retryIntervalOverrides } = this.o;
    const execution = loaded.machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: loaded.handlers(r.trace?.header),
        ...(retryIntervalOverrides ? { retryIntervalOverrides } : {}),
      },
      context: {
        Execution: {
          Id: r.executionArn,
          Name: r.name,
          RoleArn: localRoleArn(loaded.arnParts.account),
          RedriveCount: 0,
        },
        StateMachine: { Id: loaded.spec.arn, Name: loaded.spec.name },
      },
    });
    exec.abort = execution.abort;
    const recorder = new HistoryRecorder(
      r,
      exec.history,
      loaded,
      this.o.region,
      () => exec.stop ?? {},
      () => exec.abort?.(),
    );
    const consumeLog = (async () => {
      for await (const ev of execution.eventLogs) recorder.onEvent(ev);
    })();
    const finish = async (outcome: Outcome) => {
      await consumeLog;
      r.stopDate = nowIso();
      if (recorder.limitHit) Object.assign(r, { status: 'FAILED', ...historyLimitFailure });
      else settle(r, outcome, exec.stop);
      delete exec.abort;
      sendExecutionSegment(this.o.xrayDaemonAddress, r, loaded.spec.name);
      await this.save(exec);
      this.statusEvents.emit(r);
      this.#settled.emit('closed', r.executionArn);
    };
    return execution.result.then(
      (output) => finish({ ok: true, output }),
      (err: unknown) => finish({ ok: false, err }),
    );
  }

  private save(exec: Execution): Promise<void> {
    return this.o.files?.save(exec.record, exec.history) ?? Promise.resolve();
  }
}
