/** Reads serverless.yml through `sls print` (cached), validates the subset the local stack needs, resolves intrinsics. */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIAL_ENV } from '../aws/credentials';
import { LocalError } from '../aws/errors';
import { defaultCacheDir, defaultRootDir } from './data-dir';

/** The account id every local ARN carries (re-exported here, where the Lambda stand-in reads it). */
export { LOCAL_ACCOUNT_ID } from '../aws/credentials';

export class ServerlessConfigError extends LocalError {}

/** `sls print` failed or printed something that is not JSON. */
export class ServerlessPrintError extends ServerlessConfigError {}

/** The printed configuration lacks something the local stack needs, or has it in an unexpected shape. */
export class InvalidServerlessConfigError extends ServerlessConfigError {}

/** A `Ref`/`Fn::GetAtt`/`Fn::Sub` names something the local stack does not know. */
export class UnresolvableReferenceError extends ServerlessConfigError {}

// ---------------------------------------------------------------------------------------------------------
// Schema of the printed configuration (only what the local stack reads; everything else passes through).

/** An environment value: a literal or an intrinsic function object resolved later. */
const envValueSchema = z.union([z.string(), z.number(), z.boolean(), z.record(z.string(), z.unknown())]);
// A variable whose value resolved to null (`${file(...), null}`: a stage option that is off) is left out of the
// template by `sls package`; the local stack leaves it out too.
const environmentSchema = z
  .record(z.string(), envValueSchema.nullable())
  .transform(
    (env): Record<string, EnvValue> =>
      Object.fromEntries(
        Object.entries(env).filter((entry): entry is [string, EnvValue] => entry[1] !== null),
      ),
  );

const eventBridgeEventSchema = z.looseObject({
  eventBus: z.unknown().optional(),
  pattern: z.record(z.string(), z.unknown()).optional(),
  schedule: z.string().optional(),
  name: z.string().optional(),
  enabled: z.boolean().optional(),
  /** The target's dead-letter queue (an ARN or an intrinsic): where EventBridge puts what it could not deliver. */
  deadLetterQueueArn: z.unknown().optional(),
});

const functionEventSchema = z.looseObject({ eventBridge: eventBridgeEventSchema.optional() });

const functionSchema = z.looseObject({
  handler: z
    .string()
    .regex(/^[^.]+(\.[^.]+)*\.[A-Za-z_$][\w$]*$/, 'handler must look like path/to/file.exportName'),
  name: z.string().min(1).optional(),
  environment: environmentSchema.optional(),
  timeout: z.number().int().positive().optional(),
  memorySize: z.number().int().positive().optional(),
  events: z.array(functionEventSchema).optional(),
  /** Files the function's package carries besides its bundle (serverless-esbuild packs them at their paths). */
  package: z.looseObject({ patterns: z.array(z.string().min(1)).optional() }).optional(),
  /** Asynchronous invocation: retries after a function error (0-2) and the oldest event tried (60-21600 s). */
  maximumRetryAttempts: z.number().int().min(0).max(2).optional(),
  maximumEventAge: z.number().int().min(60).max(21_600).optional(),
  destinations: z
    .looseObject({
      onFailure: z
        .union([z.string(), z.looseObject({ type: z.string().optional(), arn: z.unknown() })])
        .optional(),
    })
    .optional(),
});

/**
 * custom.esbuild: strict, because the local stack must build what serverless-esbuild builds; an option it does
 * not know would be silently left out of the local bundles.
 */
const esbuildOptionsSchema = z.strictObject({
  bundle: z.boolean().optional(),
  minify: z.boolean().optional(),
  sourcemap: z.union([z.boolean(), z.enum(['inline', 'external', 'linked', 'both'])]).optional(),
  sourcesContent: z.boolean().optional(),
  target: z.union([z.string(), z.array(z.string())]).optional(),
  platform: z.enum(['node', 'neutral', 'browser']).optional(),
  format: z.enum(['cjs', 'esm', 'iife']).optional(),
  exclude: z.union([z.array(z.string()), z.literal('*')]).optional(),
  external: z.array(z.string()).optional(),
  keepNames: z.boolean().optional(),
  define: z.record(z.string(), z.string()).optional(),
  mainFields: z.array(z.string()).optional(),
  conditions: z.array(z.string()).optional(),
  alias: z.record(z.string(), z.string()).optional(),
});

const stateMachineSchema = z.looseObject({
  id: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  type: z.enum(['STANDARD', 'EXPRESS']).optional(),
  definition: z.record(z.string(), z.unknown()),
});

const keySchemaSchema = z.array(
  z.object({ AttributeName: z.string().min(1), KeyType: z.enum(['HASH', 'RANGE']) }).strict(),
);
const projectionSchema = z.looseObject({
  ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']).optional(),
  NonKeyAttributes: z.array(z.string()).optional(),
});
const throughputSchema = z.looseObject({
  ReadCapacityUnits: z.coerce.number().int().positive(),
  WriteCapacityUnits: z.coerce.number().int().positive(),
});

/** CloudFormation properties of an AWS::DynamoDB::Table (the parts DynamoDB Local can honour). */
export const tablePropertiesSchema = z.looseObject({
  TableName: z.string().min(3, 'TableName needs 3+ characters'),
  BillingMode: z.enum(['PAY_PER_REQUEST', 'PROVISIONED']).optional(),
  AttributeDefinitions: z
    .array(z.object({ AttributeName: z.string().min(1), AttributeType: z.enum(['S', 'N', 'B']) }).strict())
    .min(1),
  KeySchema: keySchemaSchema.min(1),
  GlobalSecondaryIndexes: z
    .array(
      z.looseObject({
        IndexName: z.string().min(3),
        KeySchema: keySchemaSchema.min(1),
        Projection: projectionSchema,
        ProvisionedThroughput: throughputSchema.optional(),
      }),
    )
    .optional(),
  LocalSecondaryIndexes: z
    .array(
      z.looseObject({
        IndexName: z.string().min(3),
        KeySchema: keySchemaSchema.min(1),
        Projection: projectionSchema,
      }),
    )
    .optional(),
  ProvisionedThroughput: throughputSchema.optional(),
  StreamSpecification: z
    .looseObject({ StreamViewType: z.enum(['NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES', 'KEYS_ONLY']) })
    .optional(),
  TimeToLiveSpecification: z
    .looseObject({ AttributeName: z.string().min(1), Enabled: z.boolean() })
    .optional(),
});
export type TableProperties = z.infer<typeof tablePropertiesSchema>;

const resourceSchema = z.looseObject({
  Type: z.string().min(1),
  Properties: z.record(z.string(), z.unknown()).optional(),
});

/** A template output: its Value (and Export.Name) may hold intrinsics, resolved by whoever reports them. */
const outputSchema = z.looseObject({
  Value: z.unknown(),
  Description: z.string().optional(),
  Export: z.looseObject({ Name: z.unknown() }).optional(),
});

/** The shape of `sls print --format json` that the local stack relies on. */
export const slsPrintSchema = z.looseObject({
  service: z.union([z.string().min(1), z.looseObject({ name: z.string().min(1) })]),
  provider: z.looseObject({
    name: z.literal('aws'),
    region: z.string().min(1).default('us-east-1'),
    stage: z.string().min(1),
    runtime: z.string().optional(),
    environment: environmentSchema.optional(),
    timeout: z.number().int().positive().optional(),
    memorySize: z.number().int().positive().optional(),
  }),
  custom: z.looseObject({ esbuild: esbuildOptionsSchema.optional() }).optional(),
  functions: z.record(z.string(), functionSchema).default({}),
  stepFunctions: z
    .looseObject({ stateMachines: z.record(z.string(), stateMachineSchema).default({}) })
    .optional(),
  resources: z
    .looseObject({
      Resources: z.record(z.string(), resourceSchema).default({}),
      Outputs: z.record(z.string(), outputSchema).default({}),
    })
    .optional(),
});
export type SlsPrint = z.infer<typeof slsPrintSchema>;
export type EsbuildConfig = z.infer<typeof esbuildOptionsSchema>;
export type EnvValue = z.infer<typeof envValueSchema>;

// ---------------------------------------------------------------------------------------------------------
// The normalized configuration the local stack works with.

export interface EventBridgeEventConfig {
  /** As declared: a bus name, an ARN or an intrinsic; undefined means the default bus. */
  eventBus: unknown;
  pattern: Record<string, unknown>;
  name?: string;
  enabled: boolean;
  /** As declared (an ARN or an intrinsic); undefined: undeliverable events are dropped. */
  deadLetterQueueArn?: unknown;
}

/** How Lambda handles the function's asynchronous invocations (Lambda's defaults unless serverless.yml says). */
export interface AsyncInvokeConfig {
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
  /** The on-failure destination as declared (an ARN or an intrinsic), and its type (`sqs`, `sns`, ...). */
  onFailure?: { type?: string; arn: unknown };
}

export interface FunctionConfig {
  /** Key under `functions:` (e.g. `billingActionGroup`). */
  key: string;
  /** Deployed name, `<service>-<stage>-<key>` unless `name:` overrides it. */
  name: string;
  /** CloudFormation logical id (`BillingActionGroupLambdaFunction`). */
  logicalId: string;
  handler: string;
  environment: Record<string, EnvValue>;
  timeout: number;
  memorySize: number;
  eventBridge: EventBridgeEventConfig[];
  asyncInvoke: AsyncInvokeConfig;
  /** `package.patterns` of the function: files its zip carries at their paths, besides the bundle. */
  packagePatterns: string[];
}

export interface StateMachineConfig {
  key: string;
  id: string;
  name: string;
  type: 'STANDARD' | 'EXPRESS';
  /** The ASL object as printed: Task resources are still `{"Fn::GetAtt": [fn, "Arn"]}`. */
  definition: Record<string, unknown>;
}

export interface ResourceConfig {
  Type: string;
  Properties: Record<string, unknown>;
}

export interface OutputConfig {
  /** As declared (e.g. `{ Ref: AgentGoalStateMachine }`). */
  Value: unknown;
  Description?: string;
  /** `Export.Name` as declared, when the output is exported. */
  ExportName?: unknown;
}

export interface ServerlessConfig {
  service: string;
  stage: string;
  region: string;
  accountId: string;
  provider: { environment: Record<string, EnvValue>; timeout: number; memorySize: number; runtime?: string };
  esbuild: EsbuildConfig;
  functions: Record<string, FunctionConfig>;
  stateMachines: StateMachineConfig[];
  resources: Record<string, ResourceConfig>;
  /** `resources.Outputs`: what the deployed stack reports (DescribeStacks) and exports. */
  outputs: Record<string, OutputConfig>;
}

/** Serverless Framework defaults when a function and the provider leave them out. */
const DEFAULT_TIMEOUT_SECONDS = 6;
const DEFAULT_MEMORY_MB = 1024;

/** Serverless's `getNormalizedFunctionName`: upper-case first letter, `-` -> `Dash`, `_` -> `Underscore`. */
export const normalizedName = (name: string): string =>
  `${name.charAt(0).toUpperCase()}${name.slice(1)}`.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');

export const functionLogicalId = (key: string): string => `${normalizedName(key)}LambdaFunction`;

const formatIssues = (error: z.ZodError): string =>
  zodIssues(error)
    .map((line) => `  - ${line}`)
    .join('\n');

type PrintedFunction = SlsPrint['functions'][string];

/** A function's eventBridge events that can match something on the bus. */
const eventBridgeEventsOf = (fn: PrintedFunction): EventBridgeEventConfig[] =>
  (fn.events ?? []).flatMap((event): EventBridgeEventConfig[] => {
    const eb = event.eventBridge;
    // Schedule-only rules have no pattern: nothing on the bus can match them, so the local bus skips them.
    if (eb?.pattern === undefined) return [];
    return [
      {
        eventBus: eb.eventBus,
        pattern: eb.pattern,
        ...(eb.name === undefined ? {} : { name: eb.name }),
        enabled: eb.enabled ?? true,
        ...(eb.deadLetterQueueArn === undefined ? {} : { deadLetterQueueArn: eb.deadLetterQueueArn }),
      },
    ];
  });

/** Lambda retries an asynchronous invocation twice and keeps an event up to 6 hours, unless told otherwise. */
const asyncInvokeOf = (fn: PrintedFunction): AsyncInvokeConfig => {
  const onFailure = fn.destinations?.onFailure;
  return {
    maximumRetryAttempts: fn.maximumRetryAttempts ?? 2,
    maximumEventAgeSeconds: fn.maximumEventAge ?? 21_600,
    ...(onFailure === undefined
      ? {}
      : {
          onFailure:
            typeof onFailure === 'string'
              ? { arn: onFailure }
              : { arn: onFailure.arn, ...(onFailure.type === undefined ? {} : { type: onFailure.type }) },
        }),
  };
};

/** The functions with the framework's defaults: deployed name, logical id, provider timeout and memory. */
const functionsOf = (
  raw: SlsPrint,
  service: string,
  defaults: { timeout: number; memorySize: number },
): Record<string, FunctionConfig> =>
  Object.fromEntries(
    Object.entries(raw.functions).map(([key, fn]): [string, FunctionConfig] => [
      key,
      {
        key,
        name: fn.name ?? `${service}-${raw.provider.stage}-${key}`,
        logicalId: functionLogicalId(key),
        handler: fn.handler,
        environment: fn.environment ?? {},
        timeout: fn.timeout ?? defaults.timeout,
        memorySize: fn.memorySize ?? defaults.memorySize,
        eventBridge: eventBridgeEventsOf(fn),
        asyncInvoke: asyncInvokeOf(fn),
        packagePatterns: fn.package?.patterns ?? [],
      },
    ]),
  );

const stateMachinesOf = (raw: SlsPrint, service: string): StateMachineConfig[] =>
  Object.entries(raw.stepFunctions?.stateMachines ?? {}).map(
    ([key, sm]): StateMachineConfig => ({
      key,
      // serverless-step-functions' logical id: the `id`, else `<Key>StepFunctionsStateMachine`.
      id: sm.id ?? `${normalizedName(key)}StepFunctionsStateMachine`,
      name: sm.name ?? `${service}-${raw.provider.stage}-${key}`,
      type: sm.type ?? 'STANDARD',
      definition: sm.definition,
    }),
  );

const outputsOf = (raw: SlsPrint): Record<string, OutputConfig> =>
  Object.fromEntries(
    Object.entries(raw.resources?.Outputs ?? {}).map(([key, output]): [string, OutputConfig] => [
      key,
      {
        Value: output.Value,
        ...(output.Description === undefined ? {} : { Description: output.Description }),
        ...(output.Export === undefined ? {} : { ExportName: output.Export.Name }),
      },
    ]),
  );

/** Validates printed configuration and applies the framework's defaults. */
export const parseServerlessConfig = (printed: unknown): ServerlessConfig => {
  const result = slsPrintSchema.safeParse(printed);
  if (!result.success) {
    throw new InvalidServerlessConfigError(
      `serverless.yml (as printed by sls) does not have the shape the local stack needs:\n${formatIssues(result.error)}`,
    );
  }
  const raw = result.data;
  const service = typeof raw.service === 'string' ? raw.service : raw.service.name;
  const { stage, region } = raw.provider;
  const timeout = raw.provider.timeout ?? DEFAULT_TIMEOUT_SECONDS;
  const memorySize = raw.provider.memorySize ?? DEFAULT_MEMORY_MB;
  const resources: Record<string, ResourceConfig> = Object.fromEntries(
    Object.entries(raw.resources?.Resources ?? {}).map(([id, resource]) => [
      id,
      { Type: resource.Type, Properties: resource.Properties ?? {} },
    ]),
  );
  return {
    service,
    stage,
    region,
    accountId: LOCAL_ACCOUNT_ID,
    provider: {
      environment: raw.provider.environment ?? {},
      timeout,
      memorySize,
      ...(raw.provider.runtime === undefined ? {} : { runtime: raw.provider.runtime }),
    },
    esbuild: raw.custom?.esbuild ?? {},
    functions: functionsOf(raw, service, { timeout, memorySize }),
    stateMachines: stateMachinesOf(raw, service),
    resources,
    outputs: outputsOf(raw),
  };
};

/** The CloudFormation properties of a DynamoDB table resource (AgentTable), validated. */
export const tableProperties = (config: ServerlessConfig, logicalId = 'AgentTable'): TableProperties => {
  const resource = config.resources[logicalId];
  if (resource === undefined || resource.Type !== 'AWS::DynamoDB::Table') {
    throw new InvalidServerlessConfigError(
      `resources.Resources.${logicalId} must be an AWS::DynamoDB::Table (found ${resource?.Type ?? 'nothing'})`,
    );
  }
  const result = tablePropertiesSchema.safeParse(resource.Properties);
  if (!result.success) {
    throw new InvalidServerlessConfigError(
      `resources.Resources.${logicalId}.Properties cannot be created locally:\n${formatIssues(result.error)}`,
    );
  }
  return result.data;
};

/** The name of an AWS::Events::EventBus resource (AgentBus). */
export const eventBusName = (config: ServerlessConfig, logicalId = 'AgentBus'): string => {
  const resource = config.resources[logicalId];
  const name = resource?.Properties.Name;
  if (resource?.Type !== 'AWS::Events::EventBus' || typeof name !== 'string' || name === '') {
    throw new InvalidServerlessConfigError(
      `resources.Resources.${logicalId} must be an AWS::Events::EventBus with a literal Properties.Name`,
    );
  }
  return name;
};

// ---------------------------------------------------------------------------------------------------------
// Intrinsic functions, resolved to local values.

/** What one logical id resolves to: `Ref` and each `Fn::GetAtt` attribute. */
interface LocalResource {
  type: string;
  ref: string;
  attributes: Record<string, string>;
}

export interface IntrinsicContext {
  region: string;
  accountId: string;
  stackName: string;
  /** Logical id (and, for functions, the serverless function key) -> local values. */
  resources: Record<string, LocalResource>;
}

export const lambdaArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:lambda:${region}:${accountId}:function:${name}`;
export const stateMachineArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:states:${region}:${accountId}:stateMachine:${name}`;
export const tableArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:dynamodb:${region}:${accountId}:table/${name}`;
export const eventBusArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:events:${region}:${accountId}:event-bus/${name}`;
export const queueArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:sqs:${region}:${accountId}:${name}`;

export const topicArn = (region: string, name: string, accountId = LOCAL_ACCOUNT_ID): string =>
  `arn:aws:sns:${region}:${accountId}:${name}`;

/** An AWS::SNS::Topic's name: its TopicName, else `<stack>-<logicalId>` (AWS adds a random suffix too). */
export const topicNameOf = (config: ServerlessConfig, logicalId: string): string => {
  const name = config.resources[logicalId]?.Properties.TopicName;
  return typeof name === 'string' && name !== '' ? name : `${config.service}-${config.stage}-${logicalId}`;
};

/** An AWS::SQS::Queue's name: its QueueName, else `<stack>-<logicalId>` (AWS adds a random suffix too). */
export const queueNameOf = (config: ServerlessConfig, logicalId: string): string => {
  const name = config.resources[logicalId]?.Properties.QueueName;
  return typeof name === 'string' && name !== '' ? name : `${config.service}-${config.stage}-${logicalId}`;
};

/**
 * Builds the lookup table for `resolveIntrinsics` from the configuration: functions, state machines, resources.
 * A queue's Ref is its URL, which names the SQS endpoint (`sqsEndpoint`, once the local SQS listens; AWS's form
 * before).
 */
export const intrinsicContext = (config: ServerlessConfig, sqsEndpoint?: string): IntrinsicContext => {
  const { region, accountId } = config;
  const resources: Record<string, LocalResource> = {};
  for (const fn of Object.values(config.functions)) {
    const arn = lambdaArn(region, fn.name, accountId);
    const entry = { type: 'AWS::Lambda::Function', ref: fn.name, attributes: { Arn: arn } };
    resources[fn.logicalId] = entry;
    // serverless-step-functions lets ASL say `Fn::GetAtt: [fnKey, Arn]` with the function's key.
    resources[fn.key] ??= entry;
  }
  for (const sm of config.stateMachines) {
    const arn = stateMachineArn(region, sm.name, accountId);
    resources[sm.id] = {
      type: 'AWS::StepFunctions::StateMachine',
      ref: arn,
      attributes: { Arn: arn, Name: sm.name },
    };
  }
  for (const [id, resource] of Object.entries(config.resources)) {
    const props = resource.Properties;
    if (resource.Type === 'AWS::DynamoDB::Table' && typeof props.TableName === 'string') {
      resources[id] = {
        type: resource.Type,
        ref: props.TableName,
        attributes: { Arn: tableArn(region, props.TableName, accountId) },
      };
    } else if (resource.Type === 'AWS::Events::EventBus' && typeof props.Name === 'string') {
      resources[id] = {
        type: resource.Type,
        ref: props.Name,
        attributes: { Arn: eventBusArn(region, props.Name, accountId), Name: props.Name },
      };
    } else if (resource.Type === 'AWS::SNS::Topic') {
      const name = topicNameOf(config, id);
      const arn = topicArn(region, name, accountId);
      resources[id] = { type: resource.Type, ref: arn, attributes: { TopicArn: arn, TopicName: name } };
    } else if (resource.Type === 'AWS::SQS::Queue') {
      const name = queueNameOf(config, id);
      const url = `${sqsEndpoint ?? `https://sqs.${region}.amazonaws.com`}/${accountId}/${name}`;
      resources[id] = {
        type: resource.Type,
        ref: url,
        attributes: { Arn: queueArn(region, name, accountId), QueueName: name, QueueUrl: url },
      };
    }
  }
  return { region, accountId, stackName: `${config.service}-${config.stage}`, resources };
};

const isIntrinsic = (value: Record<string, unknown>): string | undefined => {
  const keys = Object.keys(value);
  const [only] = keys;
  return keys.length === 1 && only !== undefined && (only === 'Ref' || only.startsWith('Fn::'))
    ? only
    : undefined;
};

const describe = (value: unknown): string => JSON.stringify(value);

const pseudoParameter = (name: string, ctx: IntrinsicContext): string | undefined => {
  switch (name) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return ctx.stackName;
    default:
      return undefined;
  }
};

const knownIds = (ctx: IntrinsicContext): string => Object.keys(ctx.resources).sort().join(', ');

const resolveRef = (name: unknown, ctx: IntrinsicContext, at: string): string => {
  if (typeof name !== 'string') throw new UnresolvableReferenceError(`Ref at ${at} must name a logical id`);
  const pseudo = pseudoParameter(name, ctx);
  if (pseudo !== undefined) return pseudo;
  const resource = ctx.resources[name];
  if (resource === undefined) {
    throw new UnresolvableReferenceError(
      `Cannot resolve {"Ref": "${name}"} at ${at}: the local stack knows no resource "${name}" (known: ${knownIds(ctx)})`,
    );
  }
  return resource.ref;
};

const resolveGetAtt = (args: unknown, ctx: IntrinsicContext, at: string): string => {
  const parts = typeof args === 'string' ? args.split('.') : args;
  if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string')) {
    throw new UnresolvableReferenceError(
      `Fn::GetAtt at ${at} must be [logicalId, attribute], got ${describe(args)}`,
    );
  }
  const [id, attribute] = parts as [string, string];
  const resource = ctx.resources[id];
  if (resource === undefined) {
    throw new UnresolvableReferenceError(
      `Cannot resolve {"Fn::GetAtt": ["${id}", "${attribute}"]} at ${at}: the local stack knows no resource "${id}" (known: ${knownIds(ctx)})`,
    );
  }
  const value = resource.attributes[attribute];
  if (value === undefined) {
    throw new UnresolvableReferenceError(
      `Cannot resolve {"Fn::GetAtt": ["${id}", "${attribute}"]} at ${at}: ${resource.type} "${id}" has no local attribute "${attribute}" (known: ${Object.keys(resource.attributes).join(', ')})`,
    );
  }
  return value;
};

const resolveSub = (args: unknown, ctx: IntrinsicContext, at: string): string => {
  let template: unknown = args;
  let variables: Record<string, unknown> = {};
  if (Array.isArray(args)) {
    [template] = args;
    const vars: unknown = args[1];
    if (args.length !== 2 || typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
      throw new UnresolvableReferenceError(`Fn::Sub at ${at} must be a string or [string, {variables}]`);
    }
    variables = vars as Record<string, unknown>;
  }
  if (typeof template !== 'string')
    throw new UnresolvableReferenceError(`Fn::Sub at ${at} needs a string template`);
  return template.replace(/\$\{(!?)([^}]+)\}/g, (_match, literal: string, expression: string) => {
    if (literal === '!') return `\${${expression}}`;
    const name = expression.trim();
    if (name in variables) {
      const value = resolveAt(variables[name], ctx, `${at}.Fn::Sub.${name}`);
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new UnresolvableReferenceError(`Fn::Sub variable ${name} at ${at} must resolve to a string`);
      }
      return String(value);
    }
    const dot = name.indexOf('.');
    return dot === -1
      ? resolveRef(name, ctx, at)
      : resolveGetAtt([name.slice(0, dot), name.slice(dot + 1)], ctx, at);
  });
};

const resolveJoin = (args: unknown, ctx: IntrinsicContext, at: string): string => {
  if (!Array.isArray(args) || args.length !== 2 || typeof args[0] !== 'string') {
    throw new UnresolvableReferenceError(`Fn::Join at ${at} must be [separator, [parts]]`);
  }
  const parts = resolveAt(args[1], ctx, `${at}.Fn::Join`);
  if (!Array.isArray(parts) || !parts.every((p) => typeof p === 'string' || typeof p === 'number')) {
    throw new UnresolvableReferenceError(`Fn::Join parts at ${at} must resolve to a list of strings`);
  }
  return parts.join(args[0]);
};

const resolveAt = (value: unknown, ctx: IntrinsicContext, at: string): unknown => {
  if (Array.isArray(value)) return value.map((item, i) => resolveAt(item, ctx, `${at}[${i}]`));
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const fn = isIntrinsic(record);
  if (fn === undefined) {
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, resolveAt(v, ctx, `${at}.${k}`)]));
  }
  const args = record[fn];
  switch (fn) {
    case 'Ref':
      return resolveRef(args, ctx, at);
    case 'Fn::GetAtt':
      return resolveGetAtt(args, ctx, at);
    case 'Fn::Join':
      return resolveJoin(args, ctx, at);
    case 'Fn::Sub':
      return resolveSub(args, ctx, at);
    default:
      throw new UnresolvableReferenceError(
        `Cannot resolve ${describe(record)} at ${at}: the local stack supports Ref, Fn::GetAtt, Fn::Join and Fn::Sub only`,
      );
  }
};

/**
 * Replaces `Ref`, `Fn::GetAtt`, `Fn::Join` and `Fn::Sub` anywhere inside `value` with local names and ARNs.
 * `path` only labels error messages (e.g. `functions.intake.environment`).
 */
export const resolveIntrinsics = <T = unknown>(value: unknown, ctx: IntrinsicContext, path = '(value)'): T =>
  resolveAt(value, ctx, path) as T;

/** Resolves an environment map to strings, as Lambda sees it. */
export const resolveEnvironment = (
  environment: Record<string, EnvValue>,
  ctx: IntrinsicContext,
  path: string,
): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(environment)) {
    const value = resolveIntrinsics(raw, ctx, `${path}.${name}`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new UnresolvableReferenceError(
        `${path}.${name} must resolve to a string, got ${describe(value)}`,
      );
    }
    out[name] = String(value);
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------
// Running `sls print`, with a content-addressed cache.

export interface LoadServerlessConfigOptions {
  /** Repository root holding serverless.yml (default: the parent of local/). */
  rootDir?: string;
  stage?: string;
  /** Where printed configurations are cached (default `<data dir>/cache`, see data-dir.ts). */
  cacheDir?: string;
}

export { defaultRootDir } from './data-dir';

/** Files serverless.yml's `${file(...)}` resolvers read besides itself: the plan role's models come from the catalog. */
const RESOLVER_INPUTS = ['shared/agent/models/iam.js', 'shared/agent/models/catalog.json'];
/** Directories whose every file serverless.yml may read: its resource files and the saved queries they embed. */
const RESOLVER_INPUT_DIRS = ['infra', 'shared/observability/queries'];

/** RESOLVER_INPUTS and every file under RESOLVER_INPUT_DIRS that exists, sorted: what the hash covers. */
const resolverInputs = (rootDir: string): string[] => [
  ...RESOLVER_INPUTS,
  ...RESOLVER_INPUT_DIRS.flatMap((dir) =>
    existsSync(join(rootDir, dir))
      ? readdirSync(join(rootDir, dir), { recursive: true, encoding: 'utf8' })
          .map((f) => `${dir}/${f}`)
          .filter((f) => statSync(join(rootDir, f)).isFile())
          .sort()
      : [],
  ),
];

/** sha256 over serverless.yml, its resolver inputs and statemachines/*.asl.json: the inputs `sls print` reads. */
export const configInputsHash = (rootDir: string): string => {
  const hash = createHash('sha256');
  const ymlPath = join(rootDir, 'serverless.yml');
  if (!existsSync(ymlPath)) throw new ServerlessConfigError(`No serverless.yml in ${rootDir}`);
  hash.update('serverless.yml\0').update(readFileSync(ymlPath));
  for (const file of resolverInputs(rootDir)) {
    const path = join(rootDir, file);
    if (existsSync(path)) hash.update(`\0${file}\0`).update(readFileSync(path));
  }
  const smDir = join(rootDir, 'statemachines');
  const aslFiles = existsSync(smDir)
    ? readdirSync(smDir)
        .filter((f) => f.endsWith('.asl.json'))
        .sort()
    : [];
  for (const file of aslFiles) hash.update(`\0${file}\0`).update(readFileSync(join(smDir, file)));
  return hash.digest('hex');
};

/**
 * `${aws:accountId}` makes sls call STS GetCallerIdentity. Offline, a loopback STS answers with the local account;
 * every other AWS call sls might make (ssm:, cf:, s3: variables) gets a clear error instead of reaching the network.
 */
const startLocalSts = async (): Promise<{ url: string; close(): Promise<void> }> => {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      const action = new URLSearchParams(body).get('Action');
      if (action === 'GetCallerIdentity') {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local</Arn><UserId>LOCAL</UserId><Account>${LOCAL_ACCOUNT_ID}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
        return;
      }
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnsupportedOperation' });
      res.end(
        JSON.stringify({
          __type: 'UnsupportedOperation',
          message: `The local stack answers no AWS call while reading serverless.yml except sts:GetCallerIdentity (got ${req.url} ${action ?? body.slice(0, 80)})`,
        }),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
};

const runSlsPrint = async (rootDir: string, stage: string): Promise<string> => {
  const bin = join(rootDir, 'node_modules', '.bin', 'sls');
  if (!existsSync(bin))
    throw new ServerlessPrintError(`${bin} not found: run npm install (serverless = osls)`);
  const sts = await startLocalSts();
  try {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      // A developer's real profile or keys must not leak into (or be needed by) a local read of the config.
      if (!name.startsWith('AWS_')) env[name] = value;
    }
    Object.assign(env, {
      ...LOCAL_CREDENTIAL_ENV,
      AWS_ENDPOINT_URL: sts.url,
      AWS_ENDPOINT_URL_STS: sts.url,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
    });
    return await new Promise<string>((ok, fail) => {
      const child = spawn(bin, ['print', '--stage', stage, '--format', 'json'], {
        cwd: rootDir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', (cause) =>
        fail(new ServerlessPrintError(`Cannot run ${bin}: ${cause.message}`, { cause })),
      );
      child.on('close', (code) => {
        if (code === 0) {
          ok(Buffer.concat(out).toString('utf8'));
          return;
        }
        const detail = `${Buffer.concat(err).toString('utf8')}${Buffer.concat(out).toString('utf8')}`
          .split('\n')
          .filter(
            (line) => line.trim() !== '' && !/^(Environment|Docs|Support|Bugs|Issues):/.test(line.trim()),
          )
          .join('\n');
        fail(new ServerlessPrintError(`sls print --stage ${stage} failed (exit ${code}):\n${detail}`));
      });
    });
  } finally {
    await sts.close();
  }
};

/** The printed configuration, from the cache when serverless.yml and the ASL files are unchanged. */
export const printServerlessConfig = async (options: LoadServerlessConfigOptions = {}): Promise<unknown> => {
  const rootDir = options.rootDir ?? defaultRootDir();
  const stage = options.stage ?? 'local';
  const cacheDir = options.cacheDir ?? defaultCacheDir(rootDir);
  const cacheFile = join(cacheDir, `sls-print-${stage}-${configInputsHash(rootDir)}.json`);
  if (existsSync(cacheFile)) {
    try {
      return JSON.parse(readFileSync(cacheFile, 'utf8')) as unknown;
    } catch {
      // A truncated cache file (killed mid-write before rename existed) is simply printed again.
    }
  }
  const text = await runSlsPrint(rootDir, stage);
  let printed: unknown;
  try {
    printed = JSON.parse(text);
  } catch (cause) {
    throw new ServerlessPrintError(`sls print did not print JSON: ${text.slice(0, 200)}`, { cause });
  }
  mkdirSync(cacheDir, { recursive: true });
  // Write then rename: parallel jest workers may warm the same cache at once.
  const tmp = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(printed));
  renameSync(tmp, cacheFile);
  return printed;
};

/** Reads serverless.yml for a stage (through `sls print`, cached) and returns the validated subset. */
export const loadServerlessConfig = async (
  options: LoadServerlessConfigOptions = {},
): Promise<ServerlessConfig> => parseServerlessConfig(await printServerlessConfig(options));
