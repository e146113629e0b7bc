/** What the local stand-ins run, read from serverless.yml: Lambda functions, state machines, bus rules and queues. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EventRule } from '../eventbridge/service';
import type { LambdaFunctionSpec } from '../lambda/api';
import type { AsyncInvokeSpec } from '../lambda/functions';
import type { TopicSpec } from '../sns/service';
import type { QueueSpec } from '../sqs/service';
import type { StateMachineSpec } from '../stepfunctions/api';
import {
  defaultRootDir,
  type FunctionConfig,
  type IntrinsicContext,
  InvalidServerlessConfigError,
  lambdaArn,
  queueArn,
  queueNameOf,
  resolveEnvironment,
  resolveIntrinsics,
  type ServerlessConfig,
  stateMachineArn,
  topicArn,
  topicNameOf,
  UnresolvableReferenceError,
} from './serverless-config';

/** An ARN given literally or as an intrinsic, resolved to a string. */
const arnAt = (value: unknown, ctx: IntrinsicContext, at: string): string => {
  const resolved = resolveIntrinsics(value, ctx, at);
  if (typeof resolved !== 'string' || !resolved.startsWith('arn:')) {
    throw new UnresolvableReferenceError(`${at} must resolve to an ARN, got ${JSON.stringify(resolved)}`);
  }
  return resolved;
};

/** Retries, event age and the on-failure queue; the local Lambda sends on-failure records to SQS queues only. */
const asyncInvokeSpec = (fn: FunctionConfig, ctx: IntrinsicContext): AsyncInvokeSpec => {
  const { maximumRetryAttempts, maximumEventAgeSeconds, onFailure } = fn.asyncInvoke;
  if (onFailure === undefined) return { maximumRetryAttempts, maximumEventAgeSeconds };
  const at = `functions.${fn.key}.destinations.onFailure`;
  const arn = arnAt(onFailure.arn, ctx, `${at}.arn`);
  if ((onFailure.type ?? 'sqs') !== 'sqs' || !arn.startsWith('arn:aws:sqs:')) {
    throw new InvalidServerlessConfigError(
      `${at}: the local stack delivers on-failure records to SQS queues only (got ${onFailure.type ?? arn})`,
    );
  }
  return { maximumRetryAttempts, maximumEventAgeSeconds, onFailureQueueArn: arn };
};

/**
 * The files a function's `package.patterns` name: a file path, or `dir/*<suffix>` for the files of one folder
 * ending so. Those are the patterns this repository uses; any other glob is refused rather than matched wrongly.
 */
const packageFilesOf = (rootDir: string, fn: FunctionConfig): string[] =>
  fn.packagePatterns.flatMap((pattern) => {
    const at = `functions.${fn.key}.package.patterns`;
    const star = pattern.lastIndexOf('/*');
    if (!pattern.includes('*')) {
      if (!existsSync(join(rootDir, pattern)))
        throw new InvalidServerlessConfigError(`${at}: no file ${pattern}`);
      return [pattern];
    }
    const dir = pattern.slice(0, star);
    const suffix = pattern.slice(star + 2);
    if (star < 0 || dir.includes('*') || suffix.includes('*') || suffix.includes('/')) {
      throw new InvalidServerlessConfigError(
        `${at}: the local stack packs a file path or dir/*<suffix> only, not ${pattern}`,
      );
    }
    return readdirSync(join(rootDir, dir))
      .filter((name) => name.endsWith(suffix))
      .sort()
      .map((name) => `${dir}/${name}`);
  });

/** Lambda function specs from serverless.yml: provider + function environment, intrinsics resolved. */
export const functionSpecs = (
  config: ServerlessConfig,
  ctx: IntrinsicContext,
  rootDir = defaultRootDir(),
): LambdaFunctionSpec[] =>
  Object.values(config.functions).map((fn) => ({
    key: fn.key,
    name: fn.name,
    handler: fn.handler,
    timeoutSeconds: fn.timeout,
    memorySize: fn.memorySize,
    environment: resolveEnvironment(
      { ...config.provider.environment, ...fn.environment },
      ctx,
      `functions.${fn.key}.environment`,
    ),
    asyncInvoke: asyncInvokeSpec(fn, ctx),
    packageFiles: packageFilesOf(rootDir, fn),
  }));

/** State machines with every `Fn::GetAtt: [fn, Arn]` resolved to the local Lambda ARN. */
export const stateMachineSpecs = (config: ServerlessConfig, ctx: IntrinsicContext): StateMachineSpec[] =>
  config.stateMachines.map((sm) => ({
    arn: stateMachineArn(config.region, sm.name, config.accountId),
    name: sm.name,
    definition: resolveIntrinsics<Record<string, unknown>>(
      sm.definition,
      ctx,
      `stepFunctions.stateMachines.${sm.key}.definition`,
    ),
  }));

/** A bus given as name, ARN or intrinsic -> its name (`default` when a rule names none). */
const busNameOf = (eventBus: unknown, ctx: IntrinsicContext, at: string): string => {
  if (eventBus === undefined) return 'default';
  const resolved = resolveIntrinsics(eventBus, ctx, at);
  if (typeof resolved !== 'string' || resolved === '') {
    throw new UnresolvableReferenceError(`${at} must resolve to an event bus name or ARN`);
  }
  const arn = /^arn:aws[a-zA-Z-]*:events:[^:]*:\d{12}:event-bus\/(.+)$/.exec(resolved);
  return arn?.[1] ?? resolved;
};

/** One rule per eventBridge event of each function, targeting that function. */
export const eventRules = (config: ServerlessConfig, ctx: IntrinsicContext): EventRule[] =>
  Object.values(config.functions).flatMap((fn) =>
    fn.eventBridge.flatMap((event, i): EventRule[] =>
      event.enabled
        ? [
            {
              name: event.name ?? `${fn.name}-rule-${i + 1}`,
              eventBusName: busNameOf(
                event.eventBus,
                ctx,
                `functions.${fn.key}.events[${i}].eventBridge.eventBus`,
              ),
              // A pattern may name stack resources (the reconciler's `stateMachineArn: [{ Ref: ... }]`), as
              // CloudFormation resolves them in a rule's EventPattern.
              pattern: resolveIntrinsics<Record<string, unknown>>(
                event.pattern,
                ctx,
                `functions.${fn.key}.events[${i}].eventBridge.pattern`,
              ),
              targets: [
                {
                  functionArn: lambdaArn(config.region, fn.name, config.accountId),
                  ...(event.deadLetterQueueArn === undefined
                    ? {}
                    : {
                        deadLetterQueueArn: arnAt(
                          event.deadLetterQueueArn,
                          ctx,
                          `functions.${fn.key}.events[${i}].eventBridge.deadLetterQueueArn`,
                        ),
                      }),
                },
              ],
            },
          ]
        : [],
    ),
  );

/** Every AWS::SQS::Queue of serverless.yml with SQS's defaults for what it leaves out. */
export const queueSpecs = (config: ServerlessConfig): QueueSpec[] =>
  Object.entries(config.resources)
    .filter(([, resource]) => resource.Type === 'AWS::SQS::Queue')
    .map(([id, resource]): QueueSpec => {
      const props = resource.Properties;
      const name = queueNameOf(config, id);
      const seconds = (value: unknown, fallback: number) => (typeof value === 'number' ? value : fallback);
      return {
        name,
        arn: queueArn(config.region, name, config.accountId),
        retentionSeconds: seconds(props.MessageRetentionPeriod, 345_600),
        maximumMessageBytes: seconds(props.MaximumMessageSize, 1_048_576),
        visibilityTimeoutSeconds: seconds(props.VisibilityTimeout, 30),
      };
    });

/** The topics of serverless.yml (AWS::SNS::Topic) for the local SNS. */
export const topicSpecs = (config: ServerlessConfig): TopicSpec[] =>
  Object.entries(config.resources)
    .filter(([, resource]) => resource.Type === 'AWS::SNS::Topic')
    .map(([id]) => {
      const name = topicNameOf(config, id);
      return { name, arn: topicArn(config.region, name, config.accountId) };
    });
