/** Turns aws-local-stepfunctions' event log into Step Functions history events, within the 25,000-event quota. */

import { LAMBDA_INVOKE_INTEGRATION } from './lambda-tasks';
import type { LibraryEvent } from './library';
import type { LoadedMachine } from './machines';
import { type ExecutionRecord, type HistoryEvent, json, localRoleArn, MAX_HISTORY_EVENTS } from './records';

type EventOf<T extends LibraryEvent['type']> = Extract<LibraryEvent, { type: T }>;
export interface StopDetails {
  error?: string;
  cause?: string;
}

export const historyLimitFailure = {
  error: 'States.Runtime',
  cause: `The execution reached the maximum number of history events (${MAX_HISTORY_EVENTS}).`,
};

const causeText = (cause: unknown): string | undefined =>
  cause === undefined ? undefined : typeof cause === 'string' ? cause : json(cause);

/** Appends one event and keeps the record's historyEventCount in step. */
export const appendEvent = (
  record: ExecutionRecord,
  history: HistoryEvent[],
  type: string,
  detailsField?: string,
  details?: Record<string, unknown>,
  at?: number,
): void => {
  const id = history.length + 1;
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
  history.push(event);
  record.historyEventCount = history.length;
};

/** A Task's events are `LambdaFunction*` for a function ARN and `Task*` for the lambda:invoke integration. */
const taskEvents = (resource: string) =>
  resource === LAMBDA_INVOKE_INTEGRATION
    ? { prefix: 'Task', field: 'task', resourceDetails: { resourceType: 'lambda', resource: 'invoke' } }
    : { prefix: 'LambdaFunction', field: 'lambdaFunction', resourceDetails: {} };

/** Records one execution's history; counts state transitions on its record. */
export class HistoryRecorder {
  /** Task attempts that failed, by `state#mapIndex`, so their exit is not reported as a Lambda success. */
  readonly #failedAttempts = new Set<string>();
  #limitHit = false;

  constructor(
    private readonly record: ExecutionRecord,
    private readonly history: HistoryEvent[],
    private readonly machine: LoadedMachine,
    private readonly region: string,
    private readonly stopDetails: () => StopDetails,
    private readonly onLimitReached: () => void,
  ) {}

  /** The history reached the quota: the execution failed then, whatever the library went on to do. */
  get limitHit(): boolean {
    return this.#limitHit;
  }

  onEvent(ev: LibraryEvent): void {
    if (this.#limitHit) return;
    const at = ev.timestamp;
    switch (ev.type) {
      case 'ExecutionStarted':
        this.push(
          'ExecutionStarted',
          'executionStartedEventDetails',
          {
            input: this.record.input,
            inputDetails: { truncated: false },
            roleArn: localRoleArn(this.machine.arnParts.account),
          },
          at,
        );
        return;
      case 'StateEntered':
        this.stateEntered(ev, at);
        return;
      case 'StateFailed':
        this.stateFailed(ev, at);
        return;
      case 'StateRetried':
        this.record.stateTransitions++;
        this.#failedAttempts.delete(`${ev.state.name}#${ev.index ?? ''}`);
        if (ev.state.type === 'Task') this.taskScheduled(ev.state.name, at);
        return;
      case 'StateExited':
        this.stateExited(ev, at);
        return;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const field = `mapIteration${ev.type.slice('MapIteration'.length)}EventDetails`;
        this.push(ev.type, field, { name: ev.parentState.name, index: ev.index }, at);
        return;
      }
      default:
        this.executionEnded(ev, at);
        return;
    }
  }

  private executionEnded(ev: LibraryEvent, at: number): void {
    switch (ev.type) {
      case 'ExecutionSucceeded':
        this.push(
          'ExecutionSucceeded',
          'executionSucceededEventDetails',
          {
            output: json(ev.output),
            outputDetails: { truncated: false },
          },
          at,
        );
        return;
      case 'ExecutionFailed':
        this.push(
          'ExecutionFailed',
          'executionFailedEventDetails',
          {
            error: ev.Error,
            cause: causeText(ev.Cause),
          },
          at,
        );
        return;
      case 'ExecutionAborted':
        this.push('ExecutionAborted', 'executionAbortedEventDetails', { ...this.stopDetails() }, at);
        return;
      case 'ExecutionTimeout':
        this.push('ExecutionTimedOut', 'executionTimedOutEventDetails', { error: 'States.Timeout' }, at);
        return;
      default:
        // StateCaught and Parallel branch events have no Step Functions history counterpart.
        return;
    }
  }

  private stateEntered(ev: EventOf<'StateEntered'>, at: number): void {
    this.record.stateTransitions++;
    const { name, type, input } = ev.state;
    this.push(
      `${type}StateEntered`,
      'stateEnteredEventDetails',
      {
        name,
        input: json(input),
        inputDetails: { truncated: false },
      },
      at,
    );
    if (type === 'Task') this.taskScheduled(name, at);
    if (type === 'Map') this.push('MapStateStarted', undefined, undefined, at);
    if (type === 'Parallel') this.push('ParallelStateStarted', undefined, undefined, at);
  }

  private stateFailed(ev: EventOf<'StateFailed'>, at: number): void {
    const { name, type } = ev.state;
    this.#failedAttempts.add(`${name}#${ev.index ?? ''}`);
    if (type === 'Task') {
      const { prefix, field, resourceDetails } = taskEvents(this.resourceOf(name));
      const outcome = ev.Error === 'States.Timeout' ? 'TimedOut' : 'Failed';
      this.push(
        `${prefix}${outcome}`,
        `${field}${outcome}EventDetails`,
        {
          ...resourceDetails,
          error: ev.Error,
          cause: causeText(ev.Cause),
        },
        at,
      );
    }
    if (type === 'Map') this.push('MapStateFailed', undefined, undefined, at);
    if (type === 'Parallel') this.push('ParallelStateFailed', undefined, undefined, at);
  }

  private stateExited(ev: EventOf<'StateExited'>, at: number): void {
    const { name, type, output } = ev.state;
    const failed = this.#failedAttempts.delete(`${name}#${ev.index ?? ''}`);
    if (!failed && type === 'Task') {
      const { prefix, field, resourceDetails } = taskEvents(this.resourceOf(name));
      this.push(`${prefix}Succeeded`, `${field}SucceededEventDetails`, resourceDetails, at);
    }
    if (!failed && type === 'Map') this.push('MapStateSucceeded', undefined, undefined, at);
    if (!failed && type === 'Parallel') this.push('ParallelStateSucceeded', undefined, undefined, at);
    this.push(
      `${type}StateExited`,
      'stateExitedEventDetails',
      {
        name,
        output: json(output),
        outputDetails: { truncated: false },
      },
      at,
    );
  }

  private taskScheduled(stateName: string, at: number): void {
    const resource = this.resourceOf(stateName);
    const { prefix, resourceDetails } = taskEvents(resource);
    if (prefix === 'Task') {
      this.push(
        'TaskScheduled',
        'taskScheduledEventDetails',
        { ...resourceDetails, region: this.region },
        at,
      );
      this.push('TaskStarted', 'taskStartedEventDetails', resourceDetails, at);
    } else {
      this.push('LambdaFunctionScheduled', 'lambdaFunctionScheduledEventDetails', { resource }, at);
      this.push('LambdaFunctionStarted', undefined, undefined, at);
    }
  }

  private resourceOf(stateName: string): string {
    return this.machine.taskResources.get(stateName) ?? '';
  }

  private push(type: string, detailsField?: string, details?: Record<string, unknown>, at?: number): void {
    appendEvent(this.record, this.history, type, detailsField, details, at);
    if (this.history.length === MAX_HISTORY_EVENTS - 1 && this.record.status === 'RUNNING') {
      // The quota's last event is the failure; the library's later events are dropped (see onEvent()).
      this.#limitHit = true;
      appendEvent(
        this.record,
        this.history,
        'ExecutionFailed',
        'executionFailedEventDetails',
        historyLimitFailure,
        at,
      );
      this.onLimitReached();
    }
  }
}
