/** The stack to start, read from serverless.yml and resolved in full before anything starts (a bad reference fails fast). */
import type { EventRule } from '../eventbridge/service';
import type { LambdaFunctionSpec } from '../lambda/api';
import type { TopicSpec } from '../sns/service';
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
import { eventRules, functionSpecs, queueSpecs, stateMachineSpecs, topicSpecs } from './specs';
import { LocalStackError } from './teardown';

export interface StackPlan {
  config: ServerlessConfig;
  table: TableProperties;
  busName: string;
  functions: LambdaFunctionSpec[];
  machines: StateMachineSpec[];
  rules: EventRule[];
  queues: QueueSpec[];
  topics: TopicSpec[];
}

/**
 * Renames the stage's table (a test stack's own table on a shared DynamoDB Local): the resource, and the
 * functions' TABLE_NAME, so breakers and sessions of one stack never meet another's.
 */
const renameTable = (config: ServerlessConfig, tableName: string): string => {
  const resource = config.resources.AgentTable;
  const previous = tableProperties(config).TableName;
  if (resource) resource.Properties = { ...resource.Properties, TableName: tableName };
  return previous;
};

export const planStack = async (
  options: {
    stage?: string;
    functionEnvironment?: Record<string, Record<string, string>>;
    tableName?: string;
  },
  rootDir: string,
): Promise<StackPlan> => {
  const config = await loadServerlessConfig({ rootDir, stage: options.stage ?? 'local' });
  const previousTable = options.tableName === undefined ? undefined : renameTable(config, options.tableName);
  const ctx = intrinsicContext(config);
  // TABLE_NAME only: the bus has the same `${service}-${stage}` name and keeps it.
  const renamed = (environment: Record<string, string>) =>
    previousTable !== undefined && options.tableName !== undefined && environment.TABLE_NAME === previousTable
      ? { ...environment, TABLE_NAME: options.tableName }
      : environment;
  const functions = functionSpecs(config, ctx, rootDir).map((spec) => ({
    ...spec,
    environment: { ...renamed(spec.environment), ...options.functionEnvironment?.[spec.key] },
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
    topics: topicSpecs(config),
  };
};
