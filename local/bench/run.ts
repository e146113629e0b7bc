/** Runs the suite under each policy, one local stack per policy, and hands the measurements to the report. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildReport } from '../lambda/bundles';
import { type LocalStack, startLocalStack } from '../stack/start';
import { BenchError } from './errors';
import { type GoalMeasurement, measureGoal } from './measure';
import type { Policy } from './policies';
import type { SuiteGoal } from './suite';

export interface GoalResult {
  goal: SuiteGoal;
  measured: GoalMeasurement;
}

export interface PolicyRun {
  policy: Policy;
  /** The stack's first goal (cold sandboxes, cold JVM): shown, left out of every figure; null without one. */
  warmUp: GoalMeasurement | null;
  results: GoalResult[];
  /** Information only. */
  stackStartMs: number;
  wallMs: number;
}

export interface RunSuiteOptions {
  rootDir: string;
  goals: SuiteGoal[];
  policies: Policy[];
  /** The goal run first on each stack and left out (default: none). */
  warmUp?: SuiteGoal;
  /** Reuse a running DynamoDB Local (tests) instead of starting one per stack. */
  dynamodbEndpoint?: string;
  progress?: (line: string) => void;
}

/** A goalId unique per run, within the 64 characters and the alphabet intake accepts. */
const goalIdFor = (goal: SuiteGoal, policy: Policy, tag: string): string =>
  `${goal.name.slice(0, 32)}-${policy.name}-${tag}-${Date.now().toString(36)}`.slice(0, 64);

const withGoalId = (goal: SuiteGoal, goalId: string): Record<string, unknown> => ({
  ...goal.event,
  detail: { ...(goal.event.detail as Record<string, unknown>), goalId },
});

const runOne = (stack: LocalStack, goal: SuiteGoal, goalId: string): Promise<GoalMeasurement> =>
  measureGoal(stack, {
    event: withGoalId(goal, goalId),
    modelScript: goal.modelScript,
    ...(goal.toolFaults === undefined ? {} : { toolFaults: goal.toolFaults }),
  });

/** A goal that did not play out as its script says would make every fitted figure wrong: stop with its file. */
const checkOutcome = (goal: SuiteGoal, policy: Policy, m: GoalMeasurement): void => {
  const problems: string[] = [];
  if (m.status !== 'completed')
    problems.push(`ended ${m.status}, not completed${m.error === null ? '' : ` (${m.error})`}`);
  if (m.turns !== goal.expected.turns)
    problems.push(`${m.turns} turns, the script has ${goal.expected.turns}`);
  if (m.toolCalls !== goal.expected.toolCalls)
    problems.push(`${m.toolCalls} tool calls, the script has ${goal.expected.toolCalls}`);
  if (problems.length > 0)
    throw new BenchError(
      `${goal.file} under ${policy.name} (session ${m.sessionId}): ${problems.join('; ')}`,
    );
};

const progressLine = (policy: Policy, index: number, total: number, goal: SuiteGoal, m: GoalMeasurement) =>
  `${policy.name} ${String(index).padStart(2)}/${total} ${goal.name}: ${m.status}, ${m.turns} turns, ` +
  `${m.toolCalls} tool calls, ${m.stateTransitions} transitions, $${m.costUsd.toFixed(6)}, ` +
  `${(m.wallMs / 1000).toFixed(2)} s`;

const runPolicy = async (
  o: RunSuiteOptions,
  policy: Policy,
  progress: (line: string) => void,
  onBuilds: (builds: BuildReport[]) => void,
): Promise<PolicyRun> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-bench-'));
  const started = performance.now();
  const stack = await startLocalStack({
    inMemory: true,
    dataDir,
    rootDir: o.rootDir,
    countDynamoDbRequests: true,
    functionEnvironment: { plan: policy.planEnvironment },
    ...(o.dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint: o.dynamodbEndpoint }),
  });
  const stackStartMs = performance.now() - started;
  try {
    onBuilds(stack.lambda.builds);
    let warmUp: GoalMeasurement | null = null;
    if (o.warmUp !== undefined) {
      // Fresh sandboxes and a fresh JVM make the first goal unlike the others (cold starts can outlast the 3 s
      // tool timeout and add retries): it runs first, is shown, and is left out.
      warmUp = await runOne(stack, o.warmUp, goalIdFor(o.warmUp, policy, 'warm'));
      progress(`${policy.name} warm-up ${o.warmUp.name}: ${warmUp.status}, ${warmUp.coldStarts} cold starts`);
    }
    const results: GoalResult[] = [];
    for (const [i, goal] of o.goals.entries()) {
      const measured = await runOne(stack, goal, goalIdFor(goal, policy, String(i)));
      progress(progressLine(policy, i + 1, o.goals.length, goal, measured));
      checkOutcome(goal, policy, measured);
      results.push({ goal, measured });
    }
    return { policy, warmUp, results, stackStartMs, wallMs: performance.now() - started };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

/** Every policy in turn (one stack each, stopped before the next starts), every goal one after another. */
export const runSuite = async (o: RunSuiteOptions): Promise<{ runs: PolicyRun[]; builds: BuildReport[] }> => {
  const progress = o.progress ?? (() => {});
  let builds: BuildReport[] = [];
  const runs: PolicyRun[] = [];
  for (const policy of o.policies) {
    runs.push(
      await runPolicy(o, policy, progress, (b) => {
        builds = b;
      }),
    );
  }
  return { runs, builds };
};
