/** The state machines the local Step Functions runs: ARN checks, ASL validation and their Lambda Task handlers. */
import { LocalServiceError } from '../aws/json-protocol';
import {
  CALLBACK_TIMEOUT_KEY,
  LAMBDA_FUNCTION_ARN,
  LAMBDA_INVOKE_CALLBACK,
  LAMBDA_INVOKE_INTEGRATION,
  type LambdaTaskRunner,
  TASK_TOKEN_PLACEHOLDER,
} from './lambda-tasks';
import {
  type StateMachine,
  StateMachineClass,
  type StateMachineDefinition,
  type TaskHandlers,
} from './library';
import { json } from './records';

export interface StateMachineSpec {
  arn: string;
  name: string;
  /** ASL (JSONPath); Task Resources are Lambda function ARNs or `arn:aws:states:::lambda:invoke`. */
  definition: Record<string, unknown>;
}

export interface LoadedMachine {
  spec: StateMachineSpec;
  machine: StateMachine;
  /** The Task handlers of one execution: each invocation carries the execution's trace header. */
  handlers: (traceHeader?: string) => TaskHandlers;
  /** Task state name (nested ones included) -> its Resource. */
  taskResources: Map<string, string>;
  arnParts: { partition: string; region: string; account: string };
}

export const STATE_MACHINE_ARN =
  /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([0-9A-Za-z_-]{1,80})$/;

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
        (!LAMBDA_FUNCTION_ARN.test(resource) &&
          resource !== LAMBDA_INVOKE_INTEGRATION &&
          resource !== LAMBDA_INVOKE_CALLBACK)
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

/** A Task's default TimeoutSeconds when it sets none (the Amazon States Language's 99999999). */
const DEFAULT_TASK_TIMEOUT_SECONDS = 99_999_999;
/** The library's own timer for a callback Task, past any local one (TaskTokens times the Task). */
const LIBRARY_CALLBACK_TIMEOUT_SECONDS = 2_000_000;

/** Parameters with each `"<key>.$": "$$.Task.Token"` turned into `"<key>": TASK_TOKEN_PLACEHOLDER`. */
const placeholderParameters = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(placeholderParameters);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) =>
      key.endsWith('.$') && v === '$$.Task.Token'
        ? [key.slice(0, -2), TASK_TOKEN_PLACEHOLDER]
        : [key, placeholderParameters(v)],
    ),
  );
};

/** A `.waitForTaskToken` Task as the library can run it: the token a placeholder, the timeout a parameter. */
const localCallbackTask = (state: Record<string, unknown>): Record<string, unknown> => {
  const { TimeoutSeconds, TimeoutSecondsPath, Parameters, ...rest } = state;
  const timeout =
    typeof TimeoutSecondsPath === 'string'
      ? { [`${CALLBACK_TIMEOUT_KEY}.$`]: TimeoutSecondsPath }
      : { [CALLBACK_TIMEOUT_KEY]: TimeoutSeconds ?? DEFAULT_TASK_TIMEOUT_SECONDS };
  return {
    ...rest,
    TimeoutSeconds: LIBRARY_CALLBACK_TIMEOUT_SECONDS,
    Parameters: { ...(placeholderParameters(Parameters ?? {}) as Record<string, unknown>), ...timeout },
  };
};

/** The definition with every callback Task (nested ones included) rewritten by localCallbackTask. */
const localDefinition = (definition: unknown): unknown => {
  if (typeof definition !== 'object' || definition === null) return definition;
  const states = (definition as { States?: unknown }).States;
  if (typeof states !== 'object' || states === null) return definition;
  const rewritten = Object.fromEntries(
    Object.entries(states).map(([name, raw]) => {
      const state = raw as Record<string, unknown>;
      if (state.Type === 'Task' && state.Resource === LAMBDA_INVOKE_CALLBACK)
        return [name, localCallbackTask(state)];
      if (state.Type === 'Map') {
        const key = state.ItemProcessor ? 'ItemProcessor' : 'Iterator';
        return [name, { ...state, [key]: localDefinition(state[key]) }];
      }
      if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
        return [name, { ...state, Branches: state.Branches.map(localDefinition) }];
      }
      return [name, state];
    }),
  );
  return { ...definition, States: rewritten };
};

/** Checks the ARN and the definition (the library runs asl-validator), and routes every Task to Lambda. */
export const loadStateMachine = (
  spec: StateMachineSpec,
  region: string,
  tasks: LambdaTaskRunner,
): LoadedMachine => {
  const parts = STATE_MACHINE_ARN.exec(spec.arn);
  if (!parts || parts[4] !== spec.name) {
    throw new LocalServiceError(
      `State machine ${spec.name}: ARN ${spec.arn} is not arn:aws:states:<region>:<account>:stateMachine:${spec.name}`,
    );
  }
  let machine: StateMachine;
  try {
    machine = new StateMachineClass(localDefinition(spec.definition) as unknown as StateMachineDefinition, {
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
  const handlers = (traceHeader?: string): TaskHandlers => {
    const byState: TaskHandlers = {};
    for (const [stateName, resource] of taskResources)
      byState[stateName] = tasks.handlerFor(resource, traceHeader);
    return byState;
  };
  return {
    spec,
    machine,
    handlers,
    taskResources,
    arnParts: {
      partition: parts[1] ?? 'aws',
      region: parts[2] ?? region,
      account: parts[3] ?? '000000000000',
    },
  };
};
