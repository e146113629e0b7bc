/**
 * `npm run bench`: runs the same goal N times on a local stack with model routing (a) and with every tier on the
 * planner model (b), and reports counts and ratios side by side: Step Functions transitions, Lambda invocations,
 * Converse calls, DynamoDB requests, tokens and cost per task, plus bundle sizes. Counts, not timings, are the
 * result; timings are printed as information only.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { defaultRootDir, intrinsicContext, loadServerlessConfig } from '../stack/serverless-config';
import { functionSpecs } from '../stack/specs';
import { type LocalStack, startLocalStack } from '../stack/start';
import { measureBundles } from './bundles';
import { BenchError, type GoalMeasurement, measureGoal } from './measure';
import {
  type BenchReport,
  compare,
  formatReport,
  type ModeName,
  type ModeReport,
  summarizeMode,
} from './report';

const USAGE = `Usage: npm run bench -- [--runs N] [--goal events/<file>.json] [--json]

  --runs N   goals per mode (default 5, 1-50)
  --goal F   the goal event (default events/goal-billing-audit.json); each run gets a unique goalId
  --json     print one JSON object on stdout instead of tables (use \`npm run -s bench -- --json\`)`;

const TIER_VARIABLES = {
  planner: 'MODEL_TIER_PLANNER',
  executor: 'MODEL_TIER_EXECUTOR',
  reader: 'MODEL_TIER_READER',
  private: 'MODEL_TIER_PRIVATE',
} as const;

const optionsSchema = z.object({
  runs: z.coerce
    .number()
    .int('--runs must be a whole number')
    .min(1, '--runs must be at least 1')
    .max(50, '--runs is at most 50'),
  goal: z.string().min(1),
  json: z.boolean(),
});

const parseOptions = (argv: string[]): z.infer<typeof optionsSchema> => {
  let values: { runs: string; goal: string; json: boolean; help: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        runs: { type: 'string', default: '5' },
        goal: { type: 'string', default: 'events/goal-billing-audit.json' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new BenchError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const parsed = optionsSchema.safeParse(values);
  if (!parsed.success) throw new BenchError(`${zodIssues(parsed.error).join('; ')}\n${USAGE}`);
  return parsed.data;
};

const loadGoal = (file: string): Record<string, unknown> => {
  let event: unknown;
  try {
    event = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new BenchError(`Cannot read the goal event ${file}`, { cause: error });
  }
  const shape = z
    .object({ detail: z.looseObject({ tenantId: z.string() }) })
    .loose()
    .safeParse(event);
  if (!shape.success) throw new BenchError(`${file} is not a goal event with detail.tenantId`);
  return shape.data;
};

const withGoalId = (
  event: Record<string, unknown>,
  mode: ModeName,
  run: number,
): Record<string, unknown> => ({
  ...event,
  detail: {
    ...(event.detail as Record<string, unknown>),
    goalId: `bench-${mode}-${run}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
  },
});

interface Mode {
  name: ModeName;
  tiers: Record<string, string>;
  planEnvironment: Record<string, string>;
}

/** The two modes: tiers as serverless.yml's params route them, and every tier on the planner model. */
const modesFromConfig = async (rootDir: string): Promise<Mode[]> => {
  // The planner model comes from serverless.yml's params, as the deployed functions would get it.
  const config = await loadServerlessConfig({ rootDir, stage: 'local' });
  const plan = functionSpecs(config, intrinsicContext(config)).find((fn) => fn.key === 'plan');
  if (plan === undefined) throw new BenchError('serverless.yml has no `plan` function');
  const routedTiers = Object.fromEntries(
    Object.entries(TIER_VARIABLES).map(([tier, variable]) => [tier, plan.environment[variable] ?? '']),
  );
  const plannerModel = routedTiers.planner;
  if (!plannerModel) throw new BenchError('The plan function has no MODEL_TIER_PLANNER in serverless.yml');
  return [
    { name: 'routed', tiers: routedTiers, planEnvironment: {} },
    {
      name: 'plannerOnly',
      tiers: Object.fromEntries(Object.keys(TIER_VARIABLES).map((tier) => [tier, plannerModel])),
      planEnvironment: Object.fromEntries(
        Object.values(TIER_VARIABLES).map((variable) => [variable, plannerModel]),
      ),
    },
  ];
};

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** A warm-up goal, then `runs` measured goals, all on the same stack. */
const measureMode = async (
  stack: LocalStack,
  mode: Mode,
  goal: Record<string, unknown>,
  runs: number,
): Promise<{ warmUp: GoalMeasurement; goals: GoalMeasurement[] }> => {
  // Fresh sandboxes and a fresh JVM make the first goal unlike the others (cold starts can outlast the 3 s tool
  // timeout and add retries): it runs first, is shown, and is left out of the means.
  const warmUp = await measureGoal(stack, withGoalId(goal, mode.name, 0));
  progress(
    `${mode.name} warm-up: ${warmUp.status}, ${warmUp.turns} turns, ${warmUp.coldStarts} cold starts, ` +
      `${(warmUp.wallMs / 1000).toFixed(2)} s`,
  );
  const goals: GoalMeasurement[] = [];
  for (let run = 1; run <= runs; run++) {
    const measured = await measureGoal(stack, withGoalId(goal, mode.name, run));
    progress(
      `${mode.name} ${run}/${runs}: ${measured.status}, ${measured.turns} turns, ` +
        `$${measured.costUsd.toFixed(6)}, ${(measured.wallMs / 1000).toFixed(2)} s`,
    );
    if (measured.status !== 'completed') {
      throw new BenchError(
        `The ${mode.name} goal ${measured.sessionId} ended ${measured.status}, not completed`,
      );
    }
    goals.push(measured);
  }
  return { warmUp, goals };
};

const main = async (argv: string[]): Promise<void> => {
  const options = parseOptions(argv);
  const rootDir = defaultRootDir();
  const goal = loadGoal(resolve(rootDir, options.goal));
  const reports = {} as Record<ModeName, ModeReport>;
  for (const mode of await modesFromConfig(rootDir)) {
    const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-bench-'));
    const started = performance.now();
    // One stack per mode: the tiers are per-function environment, fixed when the sandboxes start.
    const stack = await startLocalStack({
      inMemory: true,
      dataDir,
      rootDir,
      countDynamoDbRequests: true,
      functionEnvironment: { plan: mode.planEnvironment },
    });
    const stackStartMs = performance.now() - started;
    try {
      const { warmUp, goals } = await measureMode(stack, mode, goal, options.runs);
      reports[mode.name] = summarizeMode(goals, warmUp, mode.tiers, stackStartMs);
    } finally {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const report: BenchReport = {
    measuredAt: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    },
    goalFile: options.goal,
    runs: options.runs,
    modes: reports,
    comparison: compare(reports),
    // After the stacks have stopped: import times are measured on an otherwise idle machine.
    bundles: await measureBundles({ rootDir }),
  };
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
};

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  if (error instanceof Error && error.cause !== undefined)
    process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exitCode = 1;
});
