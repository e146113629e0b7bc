/**
 * The concurrency benchmark: N goals put on the bus at once, wall time against the store floor (the DynamoDB
 * requests the functions made, divided by DynamoDB Local's saturated rate measured in the same run), and every
 * session's counters checked. Standalone: `npx tsx local/bench/concurrency.ts [levels...]` prints the JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { executionNameFor } from '../../shared/contracts/goal-events';
import { SessionStore } from '../../shared/store/session-store';
import { LOCAL_CREDENTIALS } from '../aws/credentials';
import { putModelScript } from '../bedrock/control-client';
import { type ModelScript, parseModelScript } from '../bedrock/script';
import { localDynamoDbClient } from '../dynamodb/local';
import { defaultRootDir } from '../stack/data-dir';
import { type LocalStack, startLocalStack } from '../stack/start';
import { type CpuTime, cpuSince, cpuTime } from './cpu-time';
import { BenchError, totalOf } from './measure';
import {
  billedTokens,
  counterDifferences,
  RUN_INVARIANT_FIELDS,
  type SessionCounters,
  storedCounters,
  summedCounters,
} from './session-counters';
import { measureStoreRate, type StoreRate, type StoreRateOptions } from './store-rate';

export interface ConcurrencyOptions {
  /** A goal event (envelope with detail.tenantId); each goal gets its own goalId. */
  goal: Record<string, unknown>;
  /** Installed for every session before its event is put, as runGoal does. */
  script: ModelScript;
  levels: number[];
  /** Per level: how long the last execution may take (default 10 minutes). */
  timeoutMs?: number;
  /** Store-rate steps (tests use fewer writes). */
  storeRate?: Pick<StoreRateOptions, 'writesPerStep' | 'parallelisms' | 'flatSteps'>;
}

export interface LevelReport {
  /** Concurrent goals. */
  goals: number;
  /** First PutEvents to the last execution's end. Information only: machine and load dependent. */
  wallMs: number;
  /** dynamodbRequests / storeRate.requestsPerSecond. */
  storeFloorMs: number;
  ratio: number;
  /** Sessions that ended `completed`. */
  completed: number;
  /**
   * Every session completed, and its item's counters equal the sums over its committed turns and tool calls, the
   * tokens the model emulator billed it, and the reference goal's run-invariant counters (RUN_INVARIANT_FIELDS).
   */
  exact: boolean;
  dynamodbRequests: number;
  dynamodbByOperation: Record<string, number>;
  lambdaInvocations: number;
  coldStarts: number;
  stateTransitions: number;
  /** Per goal, put to execution end: min, median, max (information only). */
  goalWallMs: { min: number; median: number; max: number };
  /**
   * CPU spent in the window: this process (stand-ins and sandboxes) and DynamoDB Local's java. Against wall x cores
   * it says whether the level was CPU-bound, and, unlike wall time, it hardly moves with other load on the machine.
   */
  cpu: CpuTime;
  /** Sessions whose counters differ, with the differing fields (empty when exact). */
  mismatches: { sessionId: string; fields: string[] }[];
}

export interface ConcurrencyReport {
  levels: Record<string, LevelReport>;
  /** The higher of the two measurements (before and after the levels): the stricter floor. */
  storeRate: StoreRate & { before: number; after: number };
  /** What one goal alone ends with: every session at every level must equal it. */
  reference: SessionCounters;
}

/** Fixed-width digits, so every goal id (part of the prompt) counts the same tokens. */
const pad = (value: number, width: number): string => String(value).padStart(width, '0');

interface Run {
  stack: LocalStack;
  options: ConcurrencyOptions;
  /** Date.now() at the start: 13 digits until the year 2286. */
  stamp: number;
  tenantId: string;
  bus: EventBridgeClient;
  store: SessionStore;
}

const goalIdFor = (run: Run, level: number, index: number): string =>
  `conc-${run.stamp}-${pad(level, 3)}-${pad(index, 4)}`;

/** The ARN the execution of a session's first run gets (intake names it with executionNameFor). */
const executionArnFor = (stack: LocalStack, tenantId: string, sessionId: string): string => {
  const machineArn = stack.env.STATE_MACHINE_ARN;
  if (machineArn === undefined) throw new BenchError('The local stack has no state machine');
  return `${machineArn.replace(':stateMachine:', ':execution:')}:${executionNameFor(tenantId, sessionId)}`;
};

const putGoal = async (run: Run, goalId: string): Promise<void> => {
  const { goal } = run.options;
  const out = await run.bus.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: run.stack.env.EVENT_BUS_NAME,
          Source: String(goal.source),
          DetailType: String(goal['detail-type']),
          Detail: JSON.stringify({ ...(goal.detail as Record<string, unknown>), goalId }),
        },
      ],
    }),
  );
  if ((out.FailedEntryCount ?? 0) > 0) {
    throw new BenchError(`The bus refused goal ${goalId}: ${out.Entries?.[0]?.ErrorCode ?? 'unknown'}`);
  }
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

/** Puts `n` goals at once and waits for every execution; only the stack's own work happens in the window. */
const runGoals = async (run: Run, level: number, n: number) => {
  const { stack } = run;
  const bedrockUrl = stack.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME as string;
  const ids = Array.from({ length: n }, (_, i) => goalIdFor(run, level, i));
  // Scripts go in before the window: the emulator's control calls are the harness's work, not the product's.
  for (const id of ids) await putModelScript(bedrockUrl, id, run.options.script);
  const invocationsBefore = stack.lambda.invocations().length;
  const executionsBefore = new Set(stack.stepFunctions.executions().map((e) => e.executionArn));
  stack.resetDynamoDbRequests();
  const cpuBefore = cpuTime();
  const timeoutMs = run.options.timeoutMs ?? 600_000;
  const started = performance.now();
  // Waiting starts before the puts (the service signals each settled execution), so no end can be missed, and
  // nothing polls DynamoDB inside the window.
  const ends = ids.map((id) =>
    stack.stepFunctions
      .waitForExecution(executionArnFor(stack, run.tenantId, id), timeoutMs)
      .then((record) => ({ record, ms: performance.now() - started })),
  );
  const puts = await Promise.allSettled(ids.map((id) => putGoal(run, id)));
  const settled = await Promise.allSettled(ends);
  const wallMs = performance.now() - started;
  const cpu = cpuSince(cpuBefore);
  const dynamodbByOperation = stack.dynamodbRequests();
  const refused = puts.find((p) => p.status === 'rejected');
  if (refused !== undefined) throw (refused as PromiseRejectedResult).reason;
  const invocations = stack.lambda.invocations().slice(invocationsBefore);
  const records = stack.stepFunctions.executions().filter((e) => !executionsBefore.has(e.executionArn));
  const goalMs = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.ms] : []));
  return {
    ids,
    wallMs,
    cpu,
    dynamodbByOperation,
    lambdaInvocations: invocations.length,
    coldStarts: invocations.filter((r) => r.coldStart).length,
    stateTransitions: records.reduce((sum, r) => sum + r.stateTransitions, 0),
    goalWallMs: { min: Math.min(...goalMs), median: median(goalMs), max: Math.max(...goalMs) },
  };
};

const TOKEN_FIELDS = ['tokensInput', 'tokensOutput', 'tokensCacheRead', 'tokensCacheWrite'] as const;

/** Each session's counters: consistent with its own records, and equal to the reference (when one is known). */
const checkSessions = async (run: Run, ids: string[], reference: SessionCounters | undefined) => {
  const { store } = run;
  const mismatches: { sessionId: string; fields: string[] }[] = [];
  let completed = 0;
  let first: SessionCounters | undefined;
  const calls = run.stack.bedrock.calls();
  for (const sessionId of ids) {
    const conversation = await store.loadConversation(run.tenantId, sessionId).catch(() => undefined);
    if (conversation === undefined) {
      mismatches.push({ sessionId, fields: ['no session'] });
      continue;
    }
    const stored = storedCounters(conversation);
    first ??= stored;
    if (stored.status === 'completed') completed++;
    const fields = new Set(
      counterDifferences(stored, summedCounters(conversation)).map((f) => `${f} (records)`),
    );
    const billed = billedTokens(calls, sessionId);
    for (const f of counterDifferences(stored, billed, TOKEN_FIELDS)) fields.add(`${f} (billed)`);
    for (const f of counterDifferences(stored, reference ?? stored, RUN_INVARIANT_FIELDS)) {
      fields.add(`${f} (reference)`);
    }
    if (fields.size > 0) mismatches.push({ sessionId, fields: [...fields] });
  }
  return { completed, mismatches, first };
};

/** A level's report; the floor and ratio wait for the store rate measured after the levels. */
const measureLevel = async (
  run: Run,
  n: number,
  reference: SessionCounters,
): Promise<Omit<LevelReport, 'storeFloorMs' | 'ratio'>> => {
  const goals = await runGoals(run, n, n);
  const { completed, mismatches } = await checkSessions(run, goals.ids, reference);
  const round = Math.round;
  return {
    goals: n,
    wallMs: round(goals.wallMs),
    completed,
    exact: mismatches.length === 0 && completed === n,
    dynamodbRequests: totalOf(goals.dynamodbByOperation),
    dynamodbByOperation: goals.dynamodbByOperation,
    lambdaInvocations: goals.lambdaInvocations,
    coldStarts: goals.coldStarts,
    stateTransitions: goals.stateTransitions,
    cpu: goals.cpu,
    goalWallMs: {
      min: round(goals.goalWallMs.min),
      median: round(goals.goalWallMs.median),
      max: round(goals.goalWallMs.max),
    },
    mismatches,
  };
};

/** The store floor of a level and its wall time's ratio to it. */
const withFloor = (report: Omit<LevelReport, 'storeFloorMs' | 'ratio'>, rate: number): LevelReport => {
  const storeFloorMs = (report.dynamodbRequests / rate) * 1000;
  return {
    ...report,
    storeFloorMs: Math.round(storeFloorMs),
    ratio: Math.round((report.wallMs / storeFloorMs) * 100) / 100,
  };
};

/**
 * One warm-up goal (the reference counters; it also starts the first sandboxes and warms the JVM), the store rate,
 * each level in order, and the store rate again. The stack must count DynamoDB requests and run nothing else.
 */
export const measureConcurrency = async (
  stack: LocalStack,
  options: ConcurrencyOptions,
): Promise<ConcurrencyReport> => {
  const tenantId = (options.goal.detail as { tenantId?: unknown } | undefined)?.tenantId;
  if (typeof tenantId !== 'string') throw new BenchError('The concurrency goal needs detail.tenantId');
  const bus = new EventBridgeClient({
    endpoint: stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE,
    region: stack.env.AWS_REGION ?? 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  // Not run-goal's localClients: its document client is wrapped by the Powertools tracer, whose X-Ray SDK enables
  // async hooks with destroy tracking for every promise of this process, which hosts the stand-ins (measured:
  // about 6 % of this thread's CPU). Production's Lambdas keep their tracer; only the harness does without.
  const doc = DynamoDBDocumentClient.from(localDynamoDbClient(stack.env.AWS_ENDPOINT_URL_DYNAMODB as string));
  const store = new SessionStore(doc, stack.env.TABLE_NAME as string, 90);
  const run: Run = { stack, options, stamp: Date.now(), tenantId, bus, store };
  try {
    const warmUp = await runGoals(run, 0, 1);
    const checked = await checkSessions(run, warmUp.ids, undefined);
    if (checked.first === undefined || checked.mismatches.length > 0 || checked.completed !== 1) {
      throw new BenchError(
        `The reference goal did not complete consistently: ${JSON.stringify(checked.mismatches)}`,
      );
    }
    const reference = checked.first;
    const rateOptions = {
      endpoint: stack.env.AWS_ENDPOINT_URL_DYNAMODB as string,
      tableName: stack.env.TABLE_NAME as string,
      ...options.storeRate,
    };
    const before = await measureStoreRate(rateOptions);
    const measured: Omit<LevelReport, 'storeFloorMs' | 'ratio'>[] = [];
    for (const n of options.levels) measured.push(await measureLevel(run, n, reference));
    const after = await measureStoreRate(rateOptions);
    // The higher rate of the two gives the lower floor: the stricter of the measurements taken in this run.
    const best = after.requestsPerSecond > before.requestsPerSecond ? after : before;
    const levels = Object.fromEntries(
      measured.map((report) => [String(report.goals), withFloor(report, best.requestsPerSecond)]),
    );
    return {
      levels,
      storeRate: { ...best, before: before.requestsPerSecond, after: after.requestsPerSecond },
      reference,
    };
  } finally {
    bus.destroy();
    doc.destroy();
  }
};

const STANDALONE_GOAL = 'events/goal-billing-audit.json';
const STANDALONE_SCRIPT = 'events/model-scripts/billing-four-tools.json';

/**
 * The sample goal at each level on one fresh in-memory stack of its own (random ports, counting DynamoDB requests):
 * what `npm run bench` reports under "concurrency", and what `npx tsx local/bench/concurrency.ts [N ...]` prints.
 */
export const runConcurrency = async (o: {
  rootDir: string;
  levels: number[];
  log?: (line: string) => void;
}): Promise<ConcurrencyReport> => {
  const read = (file: string): unknown => JSON.parse(readFileSync(resolve(o.rootDir, file), 'utf8'));
  const goal = read(STANDALONE_GOAL) as Record<string, unknown>;
  const script = parseModelScript(read(STANDALONE_SCRIPT));
  const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-concurrency-'));
  const stack = await startLocalStack({
    inMemory: true,
    dataDir,
    rootDir: o.rootDir,
    countDynamoDbRequests: true,
    ...(o.log ? { log: o.log } : {}),
  });
  try {
    return await measureConcurrency(stack, { goal, script, levels: o.levels });
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

const standalone = async (argv: string[]): Promise<void> => {
  const levels = argv.length > 0 ? argv.map(Number) : [1, 10, 50];
  if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 200)) {
    throw new BenchError('Levels are whole numbers from 1 to 200, e.g. `concurrency.ts 1 10 50`');
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const report = await runConcurrency({ rootDir: defaultRootDir(), levels, log });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
};

if (require.main === module) {
  standalone(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`concurrency: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
