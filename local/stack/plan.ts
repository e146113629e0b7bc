/** The stack to start, read from serverless.yml and resolved in full before anything starts (a bad reference fails fast). */
import type { EventRule } from '../eventbridge/service';
import type { LambdaFunctionSpec } from '../lambda/api';
import type { QueueSpec } from '../sqs/service';
import type { StateMachineSpec } from '../stepfunctions/api';
import {
  eventBusName,
  intrinsicContext,
  loadServerlessConfig,
  type ServerlessConfig,
  type TableProperties,
  tableProperties,
} from './serverless-config';
import { eventRules, functionSpecs, queueSpecs, stateMachineSpecs } from './specs';
import { LocalStackError } from './teardown';

export interface StackPlan {
  config: ServerlessConfig;
  table: TableProperties;
  busName: string;
  functions: LambdaFunctionSpec[];
  machines: StateMachineSpec[];
  rules: EventRule[];
  queues: QueueSpec[];
}

export const planStack = async (
  options: { stage?: string; functionEnvironment?: Record<string, Record<string, string>> },
  rootDir: string,
): Promise<StackPlan> => {
  const config = await loadServerlessConfig({ rootDir, stage: options.stage ?? 'local' });
  const ctx = intrinsicContext(config);
  const functions = functionSpecs(config, ctx, rootDir).map((spec) => ({
    ...spec,
    environment: { ...spec.environment, ...options.functionEnvironment?.[spec.key] },
  }));
  const unknownKeys = Object.keys(options.functionEnvironment ?? {}).filter(
    (key) => !(key in config.functions),
  );
  if (unknownKeys.length > 0) {
    throw new LocalStackError(
      `functionEnvironment names no function of serverless.yml: ${unknownKeys.join(', ')} (functions: ${Object.keys(config.functions).join(', ')})`,
    );
  }
  return {
    config,
    table: tableProperties(config),
    busName: eventBusName(config),
    functions,
    machines: stateMachineSpecs(config, ctx),
    rules: eventRules(config, ctx),
    queues: queueSpecs(config),
  };
};
