/** Aggregates goal measurements into per-task and per-turn figures and prints them as plain-text tables. */
import type { TokenUsage } from '../../shared/agent/pricing';
import type { BundleReport } from './bundles';
import { type GoalMeasurement, totalOf } from './measure';

export type ModeName = 'routed' | 'plannerOnly';

export const MODE_LABELS: Record<ModeName, string> = {
  routed: 'routed (a)',
  plannerOnly: 'planner-only (b)',
};

export interface ModeReport {
  /** Model id per tier as the plan function saw them. */
  tiers: Record<string, string>;
  /** The stack's first goal (cold sandboxes, cold JVM): shown, not in the means. */
  warmUp: GoalMeasurement;
  goals: GoalMeasurement[];
  /** Means over the runs. */
  perTask: {
    turns: number;
    toolCalls: number;
    stateTransitions: number;
    historyEvents: number;
    lambdaInvocations: number;
    converseCalls: number;
    dynamodbRequests: number;
    tokens: TokenUsage;
    costUsd: number;
  };
  /** Totals over all runs divided by all turns (a ratio of sums, so a longer run weighs more). */
  perTurn: {
    stateTransitions: number;
    historyEvents: number;
    lambdaInvocations: number;
    lambdaByFunction: Record<string, number>;
    converseCalls: number;
    dynamodbRequests: number;
    dynamodbByOperation: Record<string, number>;
  };
  caching: {
    /** Shares of all prompt tokens (input + cache read + cache write). */
    cacheReadShare: number;
    cacheWriteShare: number;
    costPer1000TasksUsd: number;
    costPer1000TasksWithoutCachingUsd: number;
  };
  costPer1000TasksUsd: number;
  /** Information only. */
  stackStartMs: number;
  meanWallMs: number;
}

export interface BenchReport {
  measuredAt: string;
  machine: { cpus: number; node: string; platform: string };
  goalFile: string;
  runs: number;
  modes: Record<ModeName, ModeReport>;
  comparison: {
    costPer1000TasksUsd: Record<ModeName, number>;
    /** planner-only over routed: how many times more the same tasks cost without routing. */
    costRatioPlannerOnlyToRouted: number;
    /** The same ratio with cache reads and writes priced as plain input (prompt caching not in effect). */
    costRatioWithoutCaching: number;
    tokensPerTask: Record<ModeName, number>;
  };
  bundles: BundleReport;
}

const mean = (values: number[]): number =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;

const addInto = (into: Record<string, number>, from: Record<string, number>): void => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

const divideAll = (values: Record<string, number>, by: number): Record<string, number> =>
  Object.fromEntries(
    Object.entries(values)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, by === 0 ? 0 : v / by]),
  );

export const summarizeMode = (
  goals: GoalMeasurement[],
  warmUp: GoalMeasurement,
  tiers: Record<string, string>,
  stackStartMs: number,
): ModeReport => {
  const turns = goals.reduce((a, g) => a + g.turns, 0);
  const lambdaByFunction: Record<string, number> = {};
  const dynamodbByOperation: Record<string, number> = {};
  for (const g of goals) {
    addInto(lambdaByFunction, g.lambdaInvocations);
    addInto(dynamodbByOperation, g.dynamodbRequests);
  }
  const perTurn = (pick: (g: GoalMeasurement) => number): number =>
    turns === 0 ? 0 : goals.reduce((a, g) => a + pick(g), 0) / turns;
  const tokens = {
    input: mean(goals.map((g) => g.tokens.input)),
    output: mean(goals.map((g) => g.tokens.output)),
    cacheRead: mean(goals.map((g) => g.tokens.cacheRead)),
    cacheWrite: mean(goals.map((g) => g.tokens.cacheWrite)),
  };
  const prompt = tokens.input + tokens.cacheRead + tokens.cacheWrite;
  const costUsd = mean(goals.map((g) => g.costUsd));
  return {
    tiers,
    warmUp,
    goals,
    perTask: {
      turns: mean(goals.map((g) => g.turns)),
      toolCalls: mean(goals.map((g) => g.toolCalls)),
      stateTransitions: mean(goals.map((g) => g.stateTransitions)),
      historyEvents: mean(goals.map((g) => g.historyEvents)),
      lambdaInvocations: mean(goals.map((g) => totalOf(g.lambdaInvocations))),
      converseCalls: mean(goals.map((g) => g.converseCalls)),
      dynamodbRequests: mean(goals.map((g) => totalOf(g.dynamodbRequests))),
      tokens,
      costUsd,
    },
    perTurn: {
      stateTransitions: perTurn((g) => g.stateTransitions),
      historyEvents: perTurn((g) => g.historyEvents),
      lambdaInvocations: perTurn((g) => totalOf(g.lambdaInvocations)),
      lambdaByFunction: divideAll(lambdaByFunction, turns),
      converseCalls: perTurn((g) => g.converseCalls),
      dynamodbRequests: perTurn((g) => totalOf(g.dynamodbRequests)),
      dynamodbByOperation: divideAll(dynamodbByOperation, turns),
    },
    caching: {
      cacheReadShare: prompt === 0 ? 0 : tokens.cacheRead / prompt,
      cacheWriteShare: prompt === 0 ? 0 : tokens.cacheWrite / prompt,
      costPer1000TasksUsd: costUsd * 1000,
      costPer1000TasksWithoutCachingUsd: mean(goals.map((g) => g.costWithoutCachingUsd)) * 1000,
    },
    costPer1000TasksUsd: costUsd * 1000,
    stackStartMs,
    meanWallMs: mean(goals.map((g) => g.wallMs)),
  };
};

export const compare = (modes: Record<ModeName, ModeReport>): BenchReport['comparison'] => {
  const tokensOf = (m: ModeReport): number =>
    m.perTask.tokens.input +
    m.perTask.tokens.output +
    m.perTask.tokens.cacheRead +
    m.perTask.tokens.cacheWrite;
  return {
    costPer1000TasksUsd: {
      routed: modes.routed.costPer1000TasksUsd,
      plannerOnly: modes.plannerOnly.costPer1000TasksUsd,
    },
    costRatioPlannerOnlyToRouted:
      modes.routed.costPer1000TasksUsd === 0
        ? 0
        : modes.plannerOnly.costPer1000TasksUsd / modes.routed.costPer1000TasksUsd,
    costRatioWithoutCaching:
      modes.routed.caching.costPer1000TasksWithoutCachingUsd === 0
        ? 0
        : modes.plannerOnly.caching.costPer1000TasksWithoutCachingUsd /
          modes.routed.caching.costPer1000TasksWithoutCachingUsd,
    tokensPerTask: { routed: tokensOf(modes.routed), plannerOnly: tokensOf(modes.plannerOnly) },
  };
};

// ---------------------------------------------------------------------------------------------------------
// Plain-text tables.

/** Columns padded to their widest cell; the first column left-aligned, the others right-aligned. */
export const table = (rows: string[][]): string => {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

const num = (value: number, digits = 1): string =>
  Number.isInteger(value)
    ? value.toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (value: number, digits = 6): string => `$${value.toFixed(digits)}`;
const pct = (value: number): string => `${(value * 100).toFixed(1)} %`;
const ratio = (a: number, b: number): string => (a === 0 ? '-' : `${(b / a).toFixed(2)}x`);
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

const goalTable = (mode: ModeReport): string =>
  table([
    [
      'run',
      'status',
      'turns',
      'tools',
      'transitions',
      'history',
      'lambda',
      'converse',
      'dynamodb',
      'in tok',
      'out tok',
      'cache rd',
      'cache wr',
      'cost',
      'wall',
    ],
    ...[mode.warmUp, ...mode.goals].map((g, i) => [
      i === 0 ? 'warm-up' : String(i),
      g.status,
      num(g.turns),
      num(g.toolCalls),
      num(g.stateTransitions),
      num(g.historyEvents),
      num(totalOf(g.lambdaInvocations)),
      num(g.converseCalls),
      num(totalOf(g.dynamodbRequests)),
      num(g.tokens.input),
      num(g.tokens.output),
      num(g.tokens.cacheRead),
      num(g.tokens.cacheWrite),
      usd(g.costUsd),
      `${(g.wallMs / 1000).toFixed(2)} s`,
    ]),
  ]);

const breakdown = (a: Record<string, number>, b: Record<string, number>): string[][] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .sort()
    .map((k) => [`  ${k}`, num(a[k] ?? 0, 2), num(b[k] ?? 0, 2), ratio(a[k] ?? 0, b[k] ?? 0)]);

const row = (label: string, x: number, y: number, format: (v: number) => string = (v) => num(v, 2)) => [
  label,
  format(x),
  format(y),
  ratio(x, y),
];

/** Each mode's tiers and per-goal table, warm-up apart. */
const perModeLines = (r: BenchReport): string[] =>
  (['routed', 'plannerOnly'] as const).flatMap((name) => {
    const mode = r.modes[name];
    const tiers = Object.entries(mode.tiers)
      .map(([tier, model]) => `${tier}=${model}`)
      .join(', ');
    return [
      '',
      `Per goal, ${MODE_LABELS[name]}: ${tiers}`,
      goalTable(mode),
      `  warm-up: ${mode.warmUp.coldStarts} cold starts, ${JSON.stringify(mode.warmUp.lambdaInvocations)}; not in the means`,
    ];
  });

/** The two modes' means per task and per turn, with the ratio of each. */
const sideBySideTable = (r: BenchReport): string => {
  const a = r.modes.routed;
  const b = r.modes.plannerOnly;
  return table([
    ['', MODE_LABELS.routed, MODE_LABELS.plannerOnly, '(b)/(a)'],
    row('turns / task', a.perTask.turns, b.perTask.turns),
    row('tool calls / task', a.perTask.toolCalls, b.perTask.toolCalls),
    row('input tokens / task', a.perTask.tokens.input, b.perTask.tokens.input),
    row('output tokens / task', a.perTask.tokens.output, b.perTask.tokens.output),
    row('cache read tokens / task', a.perTask.tokens.cacheRead, b.perTask.tokens.cacheRead),
    row('cache write tokens / task', a.perTask.tokens.cacheWrite, b.perTask.tokens.cacheWrite),
    row('all tokens / task', r.comparison.tokensPerTask.routed, r.comparison.tokensPerTask.plannerOnly),
    row('cost / task', a.perTask.costUsd, b.perTask.costUsd, (v) => usd(v)),
    row('cost / 1,000 tasks', a.costPer1000TasksUsd, b.costPer1000TasksUsd, (v) => usd(v, 2)),
    row('state transitions / task', a.perTask.stateTransitions, b.perTask.stateTransitions),
    row('state transitions / turn', a.perTurn.stateTransitions, b.perTurn.stateTransitions),
    row('history events / turn', a.perTurn.historyEvents, b.perTurn.historyEvents),
    row('Converse calls / turn', a.perTurn.converseCalls, b.perTurn.converseCalls),
    row('Lambda invocations / turn', a.perTurn.lambdaInvocations, b.perTurn.lambdaInvocations),
    ...breakdown(a.perTurn.lambdaByFunction, b.perTurn.lambdaByFunction),
    row('DynamoDB requests / turn', a.perTurn.dynamodbRequests, b.perTurn.dynamodbRequests),
    ...breakdown(a.perTurn.dynamodbByOperation, b.perTurn.dynamodbByOperation),
  ]);
};

const cachingTable = (r: BenchReport): string => {
  const a = r.modes.routed;
  const b = r.modes.plannerOnly;
  return table([
    ['', MODE_LABELS.routed, MODE_LABELS.plannerOnly],
    ['cache read share', pct(a.caching.cacheReadShare), pct(b.caching.cacheReadShare)],
    ['cache write share', pct(a.caching.cacheWriteShare), pct(b.caching.cacheWriteShare)],
    ['cost / 1,000 tasks', usd(a.caching.costPer1000TasksUsd, 2), usd(b.caching.costPer1000TasksUsd, 2)],
    [
      'same, without caching',
      usd(a.caching.costPer1000TasksWithoutCachingUsd, 2),
      usd(b.caching.costPer1000TasksWithoutCachingUsd, 2),
    ],
  ]);
};

const bundleLines = (r: BenchReport): string[] => [
  `Bundles (.local/build, esbuild options of serverless.yml; import time: median of ${r.bundles.samples} fresh processes)`,
  table([
    ['function', 'bundle', 'source map', 'import', 'unbundled', 'ratio', 'cpu ratio'],
    ...r.bundles.functions.map((f) => [
      f.key,
      kib(f.bytes),
      f.mapBytes === null ? '-' : kib(f.mapBytes),
      `${f.loadMs.toFixed(0)} ms`,
      `${f.unbundledLoadMs.toFixed(0)} ms`,
      f.loadRatio.toFixed(2),
      f.loadCpuRatio.toFixed(2),
    ]),
    [
      'median',
      kib(r.bundles.medianBytes),
      '',
      '',
      '',
      r.bundles.loadRatioMedian.toFixed(2),
      r.bundles.loadCpuRatioMedian.toFixed(2),
    ],
    ['max', kib(r.bundles.maxBytes), '', '', '', '', ''],
  ]),
  '',
  r.bundles.zips.length === 0
    ? 'Packaged zips: none (.serverless/*.zip appears after `npm run package`)'
    : `Packaged zips (.serverless)\n${table(r.bundles.zips.map((z) => [z.file, kib(z.bytes)]))}`,
];

export const formatReport = (r: BenchReport): string => {
  const a = r.modes.routed;
  const b = r.modes.plannerOnly;
  return [
    `sovereign-agent benchmark, ${r.measuredAt}: ${r.goalFile}, ${r.runs} run(s) per mode, ` +
      `node ${r.machine.node}, ${r.machine.cpus} CPU(s), ${r.machine.platform}`,
    ...perModeLines(r),
    '',
    'Side by side (means per task; per-turn figures are totals over all turns)',
    sideBySideTable(r),
    '',
    `Cost per 1,000 tasks: routed ${usd(a.costPer1000TasksUsd, 2)}, planner-only ${usd(b.costPer1000TasksUsd, 2)}; ` +
      `planner-only costs ${r.comparison.costRatioPlannerOnlyToRouted.toFixed(2)}x routed.`,
    '',
    'Prompt caching (shares of all prompt tokens: input + cache read + cache write)',
    cachingTable(r),
    `Without caching, planner-only costs ${r.comparison.costRatioWithoutCaching.toFixed(2)}x routed.`,
    '',
    ...bundleLines(r),
    '',
    `Timings (information only): stack start ${(a.stackStartMs / 1000).toFixed(1)} s / ${(b.stackStartMs / 1000).toFixed(1)} s, ` +
      `mean goal ${(a.meanWallMs / 1000).toFixed(2)} s / ${(b.meanWallMs / 1000).toFixed(2)} s (routed / planner-only)`,
  ].join('\n');
};
