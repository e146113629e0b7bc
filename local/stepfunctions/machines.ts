/** The state machines the local Step Functions runs: ARN checks, ASL validation and their Lambda Task handlers. */
import { LocalServiceError } from '../aws/json-protocol';
import { LAMBDA_FUNCTION_ARN, LAMBDA_INVOKE_INTEGRATION, type LambdaTaskRunner } from './lambda-tasks';
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
