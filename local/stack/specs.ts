/** What the local stand-ins run, read from serverless.yml: Lambda functions, state machines and bus rules. */
import type { EventRule } from '../eventbridge/service';
import type { LambdaFunctionSpec } from '../lambda/api';
import type { StateMachineSpec } from '../stepfunctions/api';
import {
  type IntrinsicContext,
  lambdaArn,
  resolveEnvironment,
  resolveIntrinsics,
  type ServerlessConfig,
  stateMachineArn,
  UnresolvableReferenceError,
} from './serverless-config';

/** Lambda function specs from serverless.yml: provider + function environment, intrinsics resolved. */
export const functionSpecs = (config: ServerlessConfig, ctx: IntrinsicContext): LambdaFunctionSpec[] =>
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
              pattern: event.pattern,
              targets: [{ functionArn: lambdaArn(config.region, fn.name, config.accountId) }],
            },
          ]
        : [],
    ),
  );
