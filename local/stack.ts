/** The offline AWS stack: DynamoDB Local, Bedrock emulator, Lambda, Step Functions and EventBridge on loopback ports. */

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type BedrockEmulator, startBedrockEmulator } from './bedrock/emulator';
import {
  type CloudFormationService,
  deployedStack,
  startCloudFormationService,
} from './cloudformation-service';
import { ensureTable, localDynamoDbClient, startDynamoDbLocal } from './dynamodb-local';
import { type DynamoDbCountingProxy, startDynamoDbCountingProxy } from './dynamodb-proxy';
import { LocalError } from './errors';
import { type EventBridgeService, type EventRule, startEventBridgeService } from './eventbridge-service';
import { type LambdaFunctionSpec, type LambdaService, startLambdaService } from './lambda/api';
import { endpointAnswers } from './ports';
import {
  defaultRootDir,
  eventBusName,
  type IntrinsicContext,
  intrinsicContext,
  lambdaArn,
  loadServerlessConfig,
  resolveEnvironment,
  resolveIntrinsics,
  type ServerlessConfig,
  stateMachineArn,
  tableProperties,
  UnresolvableReferenceError,
} from './serverless-config';
import {
  type StateMachineSpec,
  type StepFunctionsService,
  startStepFunctionsService,
} from './stepfunctions/api';

export class LocalStackError extends LocalError {}

export interface StartLocalStackOptions {
  /** Data, logs and stack.json (default `<repo>/.local`). */
  dataDir?: string;
  /** Keep nothing on disk: DynamoDB in memory, executions and bus events in memory only. */
  inMemory?: boolean;
  /** Reuse an already running DynamoDB Local (tests: the one of global-setup) instead of starting java. */
  dynamodbEndpoint?: string;
  /** serverless.yml stage (default `local`). */
  stage?: string;
  /** Repository root holding serverless.yml (default: the parent of local/). */
  rootDir?: string;
  /** Extra variables per function key, over serverless.yml's (tests shorten a function's own backoff). */
  functionEnvironment?: Record<string, Record<string, string>>;
  /** Step Functions retry waits per state name (tests skip the real backoff). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /**
   * Put a counting proxy between the functions and DynamoDB (benchmarks): their AWS_ENDPOINT_URL_DYNAMODB points at
   * it, while `env` (this process, the CLI) keeps the direct endpoint, so only the functions' requests count.
   */
  countDynamoDbRequests?: boolean;
  /** Progress lines ("DynamoDB Local ready in 3.4 s"); nothing is printed without it. */
  log?: (line: string) => void;
}

export interface LocalStack {
  /** Endpoint variables, region, dummy credentials, TABLE_NAME, EVENT_BUS_NAME, STATE_MACHINE_ARN. */
  env: Record<string, string>;
  config: ServerlessConfig;
  dataDir: string;
  bedrock: BedrockEmulator;
  lambda: LambdaService;
  stepFunctions: StepFunctionsService;
  eventBridge: EventBridgeService;
  /** The stage's stack as CloudFormation reports it (sls invoke local resolves `Ref` in env vars through it). */
  cloudFormation: CloudFormationService;
  /** Functions' DynamoDB requests per operation since start or the last reset (needs countDynamoDbRequests). */
  dynamodbRequests(): Record<string, number>;
  resetDynamoDbRequests(): void;
  stop(): Promise<void>;
}

/** What `<dataDir>/stack.json` holds while a stack runs, so another process (the CLI) can use it. */
export const stackFileSchema = z.object({
  pid: z.number().int().positive(),
  env: z.record(z.string(), z.string()),
  startedAt: z.string(),
});
export type StackFile = z.infer<typeof stackFileSchema>;

const LOCAL_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };

const stackFilePath = (dataDir: string): string => join(dataDir, 'stack.json');

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

const seconds = (startedMs: number): string => `${((performance.now() - startedMs) / 1000).toFixed(1)} s`;

/**
 * Starts the whole offline stack on 127.0.0.1 free ports, in dependency order, and points this process's AWS SDK
 * at it (process.env), because aws-local-stepfunctions creates its LambdaClient from the environment.
 */
export const startLocalStack = async (options: StartLocalStackOptions = {}): Promise<LocalStack> => {
  const rootDir = options.rootDir ?? defaultRootDir();
  const dataDir = options.dataDir ?? join(rootDir, '.local');
  const inMemory = options.inMemory ?? false;
  const log = options.log ?? (() => {});
  const persistDir = inMemory ? undefined : dataDir;
  mkdirSync(dataDir, { recursive: true });

  // Everything started so far, stopped in reverse order if a later step fails (and by stop()).
  const stoppers: { name: string; stop: () => Promise<void> }[] = [];
  const previousEnv = new Map<string, string | undefined>();
  let stackFileWritten = false;

  const restoreEnv = (): void => {
    for (const [name, value] of previousEnv) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    previousEnv.clear();
  };
  const removeStackFile = (): void => {
    if (!stackFileWritten) return;
    stackFileWritten = false;
    const file = stackFilePath(dataDir);
    try {
      const current = stackFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      // Only our own: a later stack on the same data dir may have replaced it.
      if (current.success && current.data.pid === process.pid) rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  };
  const onExit = (): void => removeStackFile();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      removeStackFile();
      const errors: unknown[] = [];
      for (const { name, stop: stopOne } of stoppers.splice(0).reverse()) {
        try {
          await stopOne();
        } catch (error) {
          errors.push(new LocalStackError(`Stopping ${name} failed`, { cause: error }));
        }
      }
      restoreEnv();
      if (errors.length > 0) throw new AggregateError(errors, 'The local stack did not stop cleanly');
    })();
    return stopping;
  };

  try {
    let started = performance.now();
    const config = await loadServerlessConfig({ rootDir, stage: options.stage ?? 'local' });
    const ctx = intrinsicContext(config);
    const table = tableProperties(config);
    const busName = eventBusName(config);
    // Resolve everything before starting anything: a bad reference fails fast with its path.
    const functions = functionSpecs(config, ctx).map((spec) => ({
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
    const machines = stateMachineSpecs(config, ctx);
    const rules = eventRules(config, ctx);
    const deployed = deployedStack(config, ctx);
    log(`serverless.yml (stage ${config.stage}) read in ${seconds(started)}`);

    // Java's start (3-4 s) and bundling the functions overlap: neither needs the other's endpoint yet.
    started = performance.now();
    const startDynamoDb = async (): Promise<string> => {
      let endpoint = options.dynamodbEndpoint;
      if (endpoint === undefined) {
        const dynamodb = await startDynamoDbLocal({ dataDir: inMemory ? null : join(dataDir, 'dynamodb') });
        stoppers.push({ name: 'DynamoDB Local', stop: () => dynamodb.stop() });
        endpoint = dynamodb.endpoint;
        log(`DynamoDB Local ready in ${seconds(started)} on ${endpoint}`);
      }
      const dynamoClient = localDynamoDbClient(endpoint);
      try {
        const ensured = await ensureTable(dynamoClient, table);
        const added = ensured.addedIndexes.length > 0 ? ` (added ${ensured.addedIndexes.join(', ')})` : '';
        log(`Table ${table.TableName} ${ensured.created ? 'created' : 'exists'}${added}`);
      } finally {
        dynamoClient.destroy();
      }
      return endpoint;
    };
    const startBedrock = async (): Promise<BedrockEmulator> => {
      const emulator = await startBedrockEmulator();
      stoppers.push({ name: 'Bedrock emulator', stop: () => emulator.close() });
      log(`Bedrock emulator on ${emulator.url}`);
      return emulator;
    };
    const startLambda = async (): Promise<LambdaService> => {
      const service = await startLambdaService({
        functions,
        region: config.region,
        esbuild: config.esbuild,
        rootDir,
        logDir: join(dataDir, 'logs'),
        log,
      });
      stoppers.push({ name: 'Lambda service', stop: () => service.close() });
      return service;
    };
    const [dynamoStarted, bedrockStarted, lambdaStarted] = await Promise.allSettled([
      startDynamoDb(),
      startBedrock(),
      startLambda(),
    ]);
    if (dynamoStarted.status === 'rejected') throw dynamoStarted.reason;
    if (bedrockStarted.status === 'rejected') throw bedrockStarted.reason;
    if (lambdaStarted.status === 'rejected') throw lambdaStarted.reason;
    const dynamodbEndpoint = dynamoStarted.value;
    let dynamoDbProxy: DynamoDbCountingProxy | undefined;
    if (options.countDynamoDbRequests === true) {
      const proxy = await startDynamoDbCountingProxy({ target: dynamodbEndpoint });
      dynamoDbProxy = proxy;
      stoppers.push({ name: 'DynamoDB counting proxy', stop: () => proxy.close() });
      log(`DynamoDB counting proxy on ${proxy.url}`);
    }
    const bedrock = bedrockStarted.value;
    const lambda = lambdaStarted.value;

    // aws-local-stepfunctions and the bus deliver through LambdaClient({}), which reads these from process.env.
    const endpointEnv: Record<string, string> = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbEndpoint,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.url,
      AWS_ENDPOINT_URL_LAMBDA: lambda.url,
      AWS_REGION: config.region,
      AWS_DEFAULT_REGION: config.region,
      ...LOCAL_CREDENTIALS,
    };
    const setHostEnv = (vars: Record<string, string>): void => {
      for (const [name, value] of Object.entries(vars)) {
        if (!previousEnv.has(name)) previousEnv.set(name, process.env[name]);
        process.env[name] = value;
      }
    };
    // A developer's shell may tell the SDK to ignore endpoint variables; locally they are the whole point.
    if (process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS !== undefined) {
      previousEnv.set('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS);
      delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
    }
    setHostEnv(endpointEnv);

    const stepFunctions = await startStepFunctionsService({
      stateMachines: machines,
      region: config.region,
      ...(persistDir === undefined ? {} : { dataDir: persistDir }),
      ...(options.retryIntervalOverrides === undefined
        ? {}
        : { retryIntervalOverrides: options.retryIntervalOverrides }),
    });
    stoppers.push({ name: 'Step Functions service', stop: () => stepFunctions.close() });
    log(`Step Functions on ${stepFunctions.url} (${machines.map((m) => m.name).join(', ')})`);

    const eventBridge = await startEventBridgeService({
      rules,
      lambdaEndpoint: lambda.url,
      region: config.region,
      eventBuses: [busName],
      ...(persistDir === undefined ? {} : { dataDir: persistDir }),
    });
    stoppers.push({ name: 'EventBridge service', stop: () => eventBridge.close() });
    log(
      `EventBridge on ${eventBridge.url} (${rules.length} rule${rules.length === 1 ? '' : 's'} on ${busName})`,
    );

    const cloudFormation = await startCloudFormationService({ stack: deployed });
    stoppers.push({ name: 'CloudFormation service', stop: () => cloudFormation.close() });
    log(
      `CloudFormation on ${cloudFormation.url} (stack ${deployed.stackName}, ${deployed.resources.length} resources)`,
    );
    for (const skipped of deployed.skippedOutputs) log(`CloudFormation leaves out an output: ${skipped}`);

    const serviceEndpoints = {
      ...endpointEnv,
      AWS_ENDPOINT_URL_SFN: stepFunctions.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.url,
    };
    // Functions call each other's services (intake -> SFN, finalize -> EventBridge): the workers need them all.
    lambda.setSharedEnvironment(
      dynamoDbProxy === undefined
        ? serviceEndpoints
        : { ...serviceEndpoints, AWS_ENDPOINT_URL_DYNAMODB: dynamoDbProxy.url },
    );
    const stateMachine = machines[0];
    const env: Record<string, string> = {
      ...serviceEndpoints,
      TABLE_NAME: table.TableName,
      EVENT_BUS_NAME: busName,
      ...(stateMachine === undefined ? {} : { STATE_MACHINE_ARN: stateMachine.arn }),
    };
    setHostEnv(env);

    const stackFile: StackFile = { pid: process.pid, env, startedAt: new Date().toISOString() };
    const tmp = `${stackFilePath(dataDir)}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(stackFile, null, 2)}\n`);
    renameSync(tmp, stackFilePath(dataDir));
    stackFileWritten = true;
    process.on('exit', onExit);

    const requireProxy = (): DynamoDbCountingProxy => {
      if (dynamoDbProxy === undefined) {
        throw new LocalStackError(
          'DynamoDB requests are counted only with startLocalStack({ countDynamoDbRequests: true })',
        );
      }
      return dynamoDbProxy;
    };
    return {
      env,
      config,
      dataDir,
      bedrock,
      lambda,
      stepFunctions,
      eventBridge,
      cloudFormation,
      dynamodbRequests: () => requireProxy().counts(),
      resetDynamoDbRequests: () => requireProxy().reset(),
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
};

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The stack a `serve` process runs for `dataDir`, if its pid is alive and its endpoints accept connections;
 * a stale stack.json (the process died) is removed.
 */
export const findRunningStack = async (dataDir: string): Promise<StackFile | undefined> => {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  let stack: StackFile;
  try {
    stack = stackFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
  if (!pidAlive(stack.pid)) {
    rmSync(file, { force: true });
    return undefined;
  }
  const endpoints = Object.entries(stack.env)
    .filter(([name]) => name.startsWith('AWS_ENDPOINT_URL_'))
    .map(([, url]) => url);
  const answers = await Promise.all(endpoints.map((url) => endpointAnswers(url)));
  return endpoints.length > 0 && answers.every(Boolean) ? stack : undefined;
};
