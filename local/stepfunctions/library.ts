/** aws-local-stepfunctions, loaded once, with the types the local Step Functions modules use from it. */

// The package is typed as ESM but ships a CommonJS build, which require() picks through its "exports" map.
type LocalStepFunctions = typeof import('aws-local-stepfunctions', { with: { 'resolution-mode': 'import' }});
export type StateMachine = InstanceType<LocalStepFunctions['StateMachine']>;
export type StateMachineDefinition = ConstructorParameters<LocalStepFunctions['StateMachine']>[0];
type RunOptions = NonNullable<Parameters<StateMachine['run']>[1]>;
export type RunInput = Parameters<StateMachine['run']>[0];
export type RunningExecution = ReturnType<StateMachine['run']>;
export type LibraryEvent = RunningExecution['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
export type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
export type TaskHandler = TaskHandlers[string];

export const {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine: StateMachineClass,
}: LocalStepFunctions = require('aws-local-stepfunctions');
