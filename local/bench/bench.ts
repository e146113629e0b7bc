/** The whole benchmark as a function: load the suite, run it under each policy, measure bundles, build the report. */
import { availableParallelism } from 'node:os';
import { type BundleReport, measureBundles } from './bundles';
import { type ConcurrencyReport, runConcurrency } from './concurrency';
import type { PolicyName } from './cost';
import { policiesFromConfig } from './policies';
import { type BenchReport, buildReport } from './report';
import { runSuite } from './run';
import { loadSuite, SUITE_DIR } from './suite';

/** The goal each stack warms up with: four parallel calls start the sandboxes a wide turn needs. */
export const WARM_UP_GOAL = '04-four-parallel-acme';

/** `--quick`: 1, 2, 3 and 5 turns, parallel calls, the answer-only goal; fits still separate turns from calls. */
export const QUICK_GOALS = ['01-', '03-', '05-', '07-', '09-'];

export interface BenchOptions {
  rootDir: string;
  /** Substrings of suite goal names; all goals when absent. */
  goals?: string[];
  policies: readonly PolicyName[];
  warmUp: boolean;
  skipBundles: boolean;
  /** Concurrent-goal levels on a stack of their own (default 1, 10, 50); none with skipConcurrency. */
  concurrencyLevels?: number[];
  skipConcurrency?: boolean;
  /** Fresh node processes per bundle load timing (default 5). */
  bundleSamples?: number;
  dynamodbEndpoint?: string;
  progress?: (line: string) => void;
}

export const runBench = async (o: BenchOptions): Promise<BenchReport> => {
  const started = performance.now();
  const goals = loadSuite(o.rootDir, o.goals);
  const warmUp = o.warmUp ? loadSuite(o.rootDir, [WARM_UP_GOAL])[0] : undefined;
  const policies = await policiesFromConfig(o.rootDir, o.policies);
  const { runs } = await runSuite({
    rootDir: o.rootDir,
    goals,
    policies,
    ...(warmUp === undefined ? {} : { warmUp }),
    ...(o.dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint: o.dynamodbEndpoint }),
    ...(o.progress === undefined ? {} : { progress: o.progress }),
  });
  o.progress?.('concurrency: the sample goal N at a time against the store floor');
  const concurrency: ConcurrencyReport | null = o.skipConcurrency
    ? null
    : await runConcurrency({ rootDir: o.rootDir, levels: o.concurrencyLevels ?? [1, 10, 50] });
  // After the stacks stop: load timings want the machine to themselves.
  o.progress?.('bundles: sizes and module-load times (fresh node processes)');
  const bundles: BundleReport | null = o.skipBundles
    ? null
    : await measureBundles({ rootDir: o.rootDir, ...(o.bundleSamples ? { samples: o.bundleSamples } : {}) });
  return buildReport({
    runs,
    bundles,
    concurrency,
    machine: {
      cpus: availableParallelism(),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    },
    suiteDir: SUITE_DIR,
    wallMs: performance.now() - started,
  });
};
