/** The offline AWS stack: DynamoDB Local, Bedrock and SageMaker Runtime emulators, Lambda, Step Functions, EventBridge, SQS and CloudFormation on loopback ports. */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_CREDENTIAL_ENV } from '../aws/credentials';
import { type BedrockEmulator, startBedrockEmulator } from '../bedrock/emulator';
import { type GuardrailDenyLists, readGuardrailsFile } from '../bedrock/guardrails';
import { SessionScripts } from '../bedrock/session-scripts';
import {
  type CloudFormationService,
  deployedStack,
  startCloudFormationService,
} from '../cloudformation/service';
import { localDynamoDbClient, startDynamoDbLocal } from '../dynamodb/local';
import { type DynamoDbCountingProxy, startDynamoDbCountingProxy } from '../dynamodb/proxy';
import { ensureTable } from '../dynamodb/table';
import { type EventBridgeService, startEventBridgeService } from '../eventbridge/service';
import { type LambdaService, startLambdaService } from '../lambda/api';
import { type SageMakerEmulator, startSageMakerEmulator } from '../sagemaker/emulator';
import { type SnsService, startSnsService } from '../sns/service';
import { type SqsService, startSqsService } from '../sqs/service';
import { type StepFunctionsService, startStepFunctionsService } from '../stepfunctions/api';
import { startXrayDaemon, type XrayDaemon } from '../xray/daemon';
import { defaultDataDir, defaultRootDir } from './data-dir';
import { planStack, type StackPlan } from './plan';
import { assertPortsFree, type PortedService, type ServicePorts, servicePorts } from './ports';
import { intrinsicContext, queueNameOf, type ServerlessConfig } from './serverless-config';
import { OwnStackFile } from './stack-file';
import { HostEnvironment, LocalStackError, Teardown } from './teardown';
import { applyTenantsFile, TENANTS_FILE } from './tenants';

export { LocalStackError } from './teardown';

export interface StartLocalStackOptions {
  /** Data, logs and stack.json (default SOVEREIGN_AGENT_DATA_DIR or `<repo>/.local`). */
  dataDir?: string;
  /** Keep nothing on disk: DynamoDB in memory, executions and bus events in memory only. */
  inMemory?: boolean;
  /** Reuse an already running DynamoDB Local (tests: the one of global-setup) instead of starting java. */
  dynamodbEndpoint?: string;
  /** serverless.yml stage (default `local`). */
  stage?: string;
  /**
   * The table's name instead of serverless.yml's (tests: each stack its own table on the shared DynamoDB Local, so
   * a circuit breaker one test file opens never refuses another file's tool calls).
   */
  tableName?: string;
  /** Repository root holding serverless.yml (default: the parent of local/). */
  rootDir?: string;
  /** Extra variables per function key, over serverless.yml's (tests shorten a function's own backoff). */
  functionEnvironment?: Record<string, Record<string, string>>;
  /** Step Functions retry waits per state name (tests skip the real backoff). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Waits before Lambda retries a failed Event invocation (AWS: about 1 and 2 minutes; default 1 s and 2 s). */
  asyncRetryDelaysMs?: number[];
  /**
   * Put a counting proxy between the functions and DynamoDB (benchmarks): their AWS_ENDPOINT_URL_DYNAMODB points at
   * it, while `env` (this process, the CLI) keeps the direct endpoint, so only the functions' requests count.
   */
  countDynamoDbRequests?: boolean;
  /**
   * Each service on this base port plus its offset (ports.ts), so a restarted `serve` keeps its endpoints; without
   * it, free random ports (tests, `run` without serve).
   */
  portBase?: number;
  /**
   * The Bedrock emulator's guardrail deny-lists by guardrail id (local/bedrock/guardrails.ts); default: the file
   * `<dataDir>/guardrails.json` when it exists (`.local/guardrails.json`), else none.
   */
  guardrails?: GuardrailDenyLists;
  /** Progress lines ("DynamoDB Local ready in 3.4 s"); nothing is printed without it. */
  log?: (line: string) => void;
}

export interface LocalStack {
  /** Endpoint variables, region, dummy credentials, TABLE_NAME, EVENT_BUS_NAME, STATE_MACHINE_ARN. */
  env: Record<string, string>;
  config: ServerlessConfig;
  dataDir: string;
  bedrock: BedrockEmulator;
  /** InvokeEndpoint on the stage's private endpoint, answered from the same model scripts as `bedrock`. */
  sagemaker: SageMakerEmulator;
  lambda: LambdaService;
  stepFunctions: StepFunctionsService;
  eventBridge: EventBridgeService;
  /** The queues of serverless.yml (the intake dead-letter queue). */
  sqs: SqsService;
  /** The topics of serverless.yml (cost alerts) and what was published to them. */
  sns: SnsService;
  /** The stage's stack as CloudFormation reports it (sls invoke local resolves `Ref` in env vars through it). */
  cloudFormation: CloudFormationService;
  /** The X-Ray daemon stand-in the functions' tracers send to (`<data dir>/xray/segments.jsonl`). */
  xray: XrayDaemon;
  /** Functions' DynamoDB requests per operation since start or the last reset (needs countDynamoDbRequests). */
  dynamodbRequests(): Record<string, number>;
  /** The capacity units those requests consumed, as DynamoDB Local reported them (ReturnConsumedCapacity TOTAL). */
  dynamodbCapacity(): { readUnits: number; writeUnits: number };
  resetDynamoDbRequests(): void;
  stop(): Promise<void>;
}

const seconds = (startedMs: number): string => `${((performance.now() - startedMs) / 1000).toFixed(1)} s`;

/** What every start step gets: where data goes, what to stop on failure, where progress goes. */
interface StartContext {
  options: StartLocalStackOptions;
  rootDir: string;
  dataDir: string;
  /** Undefined in memory: nothing is kept on disk. */
  persistDir: string | undefined;
  teardown: Teardown;
  log: (line: string) => void;
  /** Stable ports (options.portBase), or undefined for random ones. */
  ports: ServicePorts | undefined;
}

/** `{ port }` for a service's start options when ports are stable, `{}` for a random one. */
const portOf = (c: StartContext, service: PortedService): { port?: number } =>
  c.ports === undefined ? {} : { port: c.ports[service] };

/** With stable ports, every port this start will bind must be free: one clear error instead of a half-started stack. */
const checkPorts = async (c: StartContext): Promise<void> => {
  if (c.ports === undefined) return;
  // The X-Ray daemon's port is UDP: its bind reports a taken port itself (startXray).
  const { dynamodb, dynamodbCountingProxy, xray: _udp, ...always } = c.ports;
  await assertPortsFree({
    ...always,
    ...(c.options.dynamodbEndpoint === undefined ? { dynamodb } : {}),
    ...(c.options.countDynamoDbRequests === true ? { dynamodbCountingProxy } : {}),
  });
};

/** DynamoDB Local (or the one given) with the table of serverless.yml created or brought up to date. */
const startDynamoDb = async (c: StartContext, plan: StackPlan, started: number): Promise<string> => {
  let endpoint = c.options.dynamodbEndpoint;
  if (endpoint === undefined) {
    const dynamodb = await startDynamoDbLocal({
      dataDir: c.persistDir === undefined ? null : join(c.dataDir, 'dynamodb'),
      ...portOf(c, 'dynamodb'),
    });
    c.teardown.add('DynamoDB Local', () => dynamodb.stop());
    endpoint = dynamodb.endpoint;
    c.log(`DynamoDB Local ready in ${seconds(started)} on ${endpoint}`);
  }
  const dynamoClient = localDynamoDbClient(endpoint);
  try {
    const ensured = await ensureTable(dynamoClient, plan.table);
    const added = ensured.addedIndexes.length > 0 ? ` (added ${ensured.addedIndexes.join(', ')})` : '';
    c.log(`Table ${plan.table.TableName} ${ensured.created ? 'created' : 'exists'}${added}`);
  } finally {
    dynamoClient.destroy();
  }
  const tenants = await applyTenantsFile(c.rootDir, endpoint, plan.table.TableName);
  c.log(`Tenant policies of ${TENANTS_FILE} applied: ${tenants.map((t) => t.tenantId).join(', ')}`);
  return endpoint;
};

const startBedrock = async (c: StartContext, scripts: SessionScripts): Promise<BedrockEmulator> => {
  const emulator = await startBedrockEmulator({
    ...portOf(c, 'bedrock'),
    scripts,
    guardrails: c.options.guardrails ?? readGuardrailsFile(join(c.dataDir, 'guardrails.json')),
  });
  c.teardown.add('Bedrock emulator', () => emulator.close());
  c.log(`Bedrock emulator on ${emulator.url}`);
  return emulator;
};

/** The endpoints the functions are configured to invoke (PRIVATE_MODEL_ENDPOINT): those exist locally. */
const stageEndpoints = (plan: StackPlan): string[] => [
  ...new Set(plan.functions.flatMap((f) => f.environment.PRIVATE_MODEL_ENDPOINT ?? [])),
];

const startSageMaker = async (
  c: StartContext,
  plan: StackPlan,
  scripts: SessionScripts,
): Promise<SageMakerEmulator> => {
  const endpointNames = stageEndpoints(plan);
  const emulator = await startSageMakerEmulator({
    endpointNames,
    scripts,
    region: plan.config.region,
    ...portOf(c, 'sagemaker'),
  });
  c.teardown.add('SageMaker emulator', () => emulator.close());
  c.log(`SageMaker Runtime emulator on ${emulator.url} (endpoint ${endpointNames.join(', ') || 'none'})`);
  return emulator;
};

/** SQS first: it starts in milliseconds, and Lambda needs its endpoint for on-failure records. */
const startSqs = async (c: StartContext, plan: StackPlan): Promise<SqsService> => {
  const sqs = await startSqsService({
    queues: plan.queues,
    ...portOf(c, 'sqs'),
    ...(c.persistDir === undefined ? {} : { dataDir: c.persistDir }),
  });
  c.teardown.add('SQS service', () => sqs.close());
  c.log(`SQS on ${sqs.url} (${plan.queues.map((q) => q.name).join(', ') || 'no queues'})`);
  return sqs;
};

const startSns = async (c: StartContext, plan: StackPlan): Promise<SnsService> => {
  const sns = await startSnsService({
    topics: plan.topics,
    ...portOf(c, 'sns'),
    ...(c.persistDir === undefined ? {} : { dataDir: c.persistDir }),
  });
  c.teardown.add('SNS service', () => sns.close());
  c.log(`SNS on ${sns.url} (${plan.topics.map((t) => t.name).join(', ') || 'no topics'})`);
  return sns;
};

/** The X-Ray daemon stand-in first: the functions' environment names its address. */
const startXray = async (c: StartContext): Promise<XrayDaemon> => {
  let daemon: XrayDaemon;
  try {
    daemon = await startXrayDaemon({ dataDir: c.dataDir, ...portOf(c, 'xray'), log: c.log });
  } catch (error) {
    throw new LocalStackError(
      `The X-Ray daemon stand-in could not bind UDP ${portOf(c, 'xray').port ?? 'a free port'} on 127.0.0.1: ${String(error)}`,
    );
  }
  c.teardown.add('X-Ray daemon', () => daemon.close());
  c.log(`X-Ray daemon on udp://${daemon.address} (segments in ${daemon.file})`);
  return daemon;
};

const startLambda = async (
  c: StartContext,
  plan: StackPlan,
  sqsUrl: string,
  xrayDaemonAddress: string,
): Promise<LambdaService> => {
  const service = await startLambdaService({
    xrayDaemonAddress,
    functions: plan.functions,
    region: plan.config.region,
    esbuild: plan.config.esbuild,
    rootDir: c.rootDir,
    logDir: join(c.dataDir, 'logs'),
    sqsEndpoint: sqsUrl,
    ...(c.options.asyncRetryDelaysMs === undefined
      ? {}
      : { asyncRetryDelaysMs: c.options.asyncRetryDelaysMs }),
    log: c.log,
    ...portOf(c, 'lambda'),
  });
  c.teardown.add('Lambda service', () => service.close());
  return service;
};

/** Java's start (3-4 s) and bundling the functions overlap: neither needs the other's endpoint yet. */
const startIndependentServices = async (
  c: StartContext,
  plan: StackPlan,
  sqsUrl: string,
  xray: XrayDaemon,
) => {
  const started = performance.now();
  const scripts = new SessionScripts();
  const [dynamo, bedrock, sagemaker, lambda] = await Promise.allSettled([
    startDynamoDb(c, plan, started),
    startBedrock(c, scripts),
    startSageMaker(c, plan, scripts),
    startLambda(c, plan, sqsUrl, xray.address),
  ]);
  if (dynamo.status === 'rejected') throw dynamo.reason;
  if (bedrock.status === 'rejected') throw bedrock.reason;
  if (sagemaker.status === 'rejected') throw sagemaker.reason;
  if (lambda.status === 'rejected') throw lambda.reason;
  return {
    dynamodbEndpoint: dynamo.value,
    bedrock: bedrock.value,
    sagemaker: sagemaker.value,
    lambda: lambda.value,
  };
};

const startCountingProxy = async (c: StartContext, target: string): Promise<DynamoDbCountingProxy> => {
  const proxy = await startDynamoDbCountingProxy({ target, ...portOf(c, 'dynamodbCountingProxy') });
  c.teardown.add('DynamoDB counting proxy', () => proxy.close());
  c.log(`DynamoDB counting proxy on ${proxy.url}`);
  return proxy;
};

const startStepFunctions = async (
  c: StartContext,
  plan: StackPlan,
  xrayDaemonAddress: string,
): Promise<StepFunctionsService> => {
  const { machines } = plan;
  const stepFunctions = await startStepFunctionsService({
    xrayDaemonAddress,
    stateMachines: machines,
    region: plan.config.region,
    ...portOf(c, 'stepFunctions'),
    ...(c.persistDir === undefined ? {} : { dataDir: c.persistDir }),
    ...(c.options.retryIntervalOverrides === undefined
      ? {}
      : { retryIntervalOverrides: c.options.retryIntervalOverrides }),
  });
  c.teardown.add('Step Functions service', () => stepFunctions.close());
  c.log(`Step Functions on ${stepFunctions.url} (${machines.map((m) => m.name).join(', ')})`);
  return stepFunctions;
};

const startEventBridge = async (
  c: StartContext,
  plan: StackPlan,
  lambdaUrl: string,
  sqsUrl: string,
): Promise<EventBridgeService> => {
  const { rules, busName } = plan;
  const eventBridge = await startEventBridgeService({
    rules,
    lambdaEndpoint: lambdaUrl,
    sqsEndpoint: sqsUrl,
    region: plan.config.region,
    eventBuses: [busName],
    ...portOf(c, 'eventBridge'),
    ...(c.persistDir === undefined ? {} : { dataDir: c.persistDir }),
  });
  c.teardown.add('EventBridge service', () => eventBridge.close());
  c.log(
    `EventBridge on ${eventBridge.url} (${rules.length} rule${rules.length === 1 ? '' : 's'} on ${busName})`,
  );
  return eventBridge;
};

const startCloudFormation = async (
  c: StartContext,
  plan: StackPlan,
  sqsUrl: string,
): Promise<CloudFormationService> => {
  // A queue's physical id (Ref) is its URL, which names the SQS endpoint: known only now.
  const deployed = deployedStack(plan.config, intrinsicContext(plan.config, sqsUrl));
  const cloudFormation = await startCloudFormationService({
    stack: deployed,
    ...portOf(c, 'cloudFormation'),
  });
  c.teardown.add('CloudFormation service', () => cloudFormation.close());
  c.log(
    `CloudFormation on ${cloudFormation.url} (stack ${deployed.stackName}, ${deployed.resources.length} resources)`,
  );
  for (const skipped of deployed.skippedOutputs) c.log(`CloudFormation leaves out an output: ${skipped}`);
  return cloudFormation;
};

/** Endpoints of the first services, region and dummy credentials: what an SDK client needs to reach them. */
const sdkEnvironment = (
  plan: StackPlan,
  started: {
    dynamodbEndpoint: string;
    bedrock: BedrockEmulator;
    sagemaker: SageMakerEmulator;
    lambda: LambdaService;
  },
): Record<string, string> => ({
  AWS_ENDPOINT_URL_DYNAMODB: started.dynamodbEndpoint,
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: started.bedrock.url,
  // The SDK's service id "SageMaker Runtime" -> AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: started.sagemaker.url,
  AWS_ENDPOINT_URL_LAMBDA: started.lambda.url,
  AWS_REGION: plan.config.region,
  AWS_DEFAULT_REGION: plan.config.region,
  ...LOCAL_CREDENTIAL_ENV,
});

/** The counting proxy's figures, or a clear error when the stack was started without it. */
const requestCounts = (proxy: DynamoDbCountingProxy | undefined): DynamoDbCountingProxy => {
  if (proxy === undefined) {
    throw new LocalStackError(
      'DynamoDB requests are counted only with startLocalStack({ countDynamoDbRequests: true })',
    );
  }
  return proxy;
};

/**
 * Starts the whole offline stack on 127.0.0.1 (free ports, or portBase + offsets), in dependency order, and points this process's AWS SDK
 * at it (process.env), because aws-local-stepfunctions creates its LambdaClient from the environment.
 */
export const startLocalStack = async (options: StartLocalStackOptions = {}): Promise<LocalStack> => {
  const rootDir = options.rootDir ?? defaultRootDir();
  const dataDir = options.dataDir ?? defaultDataDir(rootDir);
  const persistDir = (options.inMemory ?? false) ? undefined : dataDir;
  const log = options.log ?? (() => {});
  mkdirSync(dataDir, { recursive: true });
  // Everything started so far is stopped in reverse order if a later step fails (and by stop()).
  const teardown = new Teardown();
  const hostEnv = new HostEnvironment();
  const stackFile = new OwnStackFile(dataDir);
  const stop = (): Promise<void> => {
    stackFile.remove();
    return teardown.stop(() => hostEnv.restore());
  };
  const ports = options.portBase === undefined ? undefined : servicePorts(options.portBase);
  const c: StartContext = { options, rootDir, dataDir, persistDir, teardown, log, ports };

  try {
    const started = performance.now();
    await checkPorts(c);
    const plan = await planStack(options, rootDir);
    log(`serverless.yml (stage ${plan.config.stage}) read in ${seconds(started)}`);
    const sqs = await startSqs(c, plan);
    const sns = await startSns(c, plan);
    const xray = await startXray(c);
    const { dynamodbEndpoint, bedrock, sagemaker, lambda } = await startIndependentServices(
      c,
      plan,
      sqs.url,
      xray,
    );
    const proxy =
      options.countDynamoDbRequests === true ? await startCountingProxy(c, dynamodbEndpoint) : undefined;

    // aws-local-stepfunctions and the bus deliver through LambdaClient({}), which reads these from process.env.
    const endpointEnv = sdkEnvironment(plan, { dynamodbEndpoint, bedrock, sagemaker, lambda });
    // A developer's shell may tell the SDK to ignore endpoint variables; locally they are the whole point.
    hostEnv.unset('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS');
    hostEnv.set(endpointEnv);

    const stepFunctions = await startStepFunctions(c, plan, xray.address);
    const eventBridge = await startEventBridge(c, plan, lambda.url, sqs.url);
    const cloudFormation = await startCloudFormation(c, plan, sqs.url);
    const serviceEndpoints = {
      ...endpointEnv,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_SNS: sns.url,
      AWS_ENDPOINT_URL_SFN: stepFunctions.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation.url,
    };
    // Functions call each other's services (intake -> SFN, finalize -> EventBridge): the workers need them all.
    lambda.setSharedEnvironment(
      proxy === undefined ? serviceEndpoints : { ...serviceEndpoints, AWS_ENDPOINT_URL_DYNAMODB: proxy.url },
    );
    // Status changes go to the default bus as AWS sends them (the reconciler's rule), now that the functions can
    // reach every service; on stop the bus is disconnected first, so what ends then is sent after a restart.
    stepFunctions.connectStatusEvents((event) => eventBridge.putServiceEvent(event));
    teardown.add('Step Functions status events', async () => stepFunctions.connectStatusEvents(undefined));
    const stateMachine = plan.machines[0];
    // What the CLI and tests need beside the endpoints: the names production reads from its environment.
    const env: Record<string, string> = {
      ...serviceEndpoints,
      TABLE_NAME: plan.table.TableName,
      EVENT_BUS_NAME: plan.busName,
      ...(stateMachine === undefined ? {} : { STATE_MACHINE_ARN: stateMachine.arn }),
      // Where `sovereign-agent dead-letters` looks (GetQueueUrl by name).
      ...('IntakeDeadLetterQueue' in plan.config.resources
        ? { INTAKE_DEAD_LETTER_QUEUE_NAME: queueNameOf(plan.config, 'IntakeDeadLetterQueue') }
        : {}),
    };
    hostEnv.set(env);
    stackFile.write(env);

    return {
      env,
      config: plan.config,
      dataDir,
      bedrock,
      sagemaker,
      lambda,
      stepFunctions,
      eventBridge,
      sqs,
      sns,
      cloudFormation,
      xray,
      dynamodbRequests: () => requestCounts(proxy).counts(),
      dynamodbCapacity: () => requestCounts(proxy).capacity(),
      resetDynamoDbRequests: () => requestCounts(proxy).reset(),
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
};
