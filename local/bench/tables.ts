/** The benchmark report as plain-text tables (what `npm run bench` prints without --json). */

import type { LevelReport } from './concurrency';
import type { InfrastructureCost, PolicyName } from './cost';
import type { LinearFit } from './fit';
import { totalOf } from './measure';
import type { BenchReport, GoalRow } from './report';

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

const num = (value: number, digits = 2): string =>
  Number.isInteger(value)
    ? value.toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (value: number, digits = 2): string => `$${value.toFixed(digits)}`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

const goalTable = (rows: GoalRow[]): string =>
  table([
    [
      'goal',
      'turns',
      'tools',
      'transitions',
      'history',
      'lambda',
      'dynamodb',
      'max payload',
      'in tok',
      'cost',
    ],
    ...rows.map((g) => [
      g.goal,
      num(g.turns),
      num(g.toolCalls),
      num(g.stateTransitions),
      num(g.historyEvents),
      num(totalOf(g.lambdaInvocations)),
      num(totalOf(g.dynamodbRequests)),
      `${num(g.payload.maxBytes)} B`,
      num(g.tokens.input),
      usd(g.costUsd, 6),
    ]),
  ]);

const fitRow = (
  label: string,
  fit: Pick<LinearFit, 'fixed' | 'perTurn' | 'perToolCall' | 'rSquared' | 'maxAbsResidual'> | null,
) =>
  fit === null
    ? [label, '-', '-', '-', '-', '-']
    : [
        label,
        num(fit.fixed),
        num(fit.perTurn),
        num(fit.perToolCall),
        num(fit.rSquared, 4),
        num(fit.maxAbsResidual),
      ];

const fitTable = (r: BenchReport): string =>
  table([
    ['y = fixed + a x turns + b x tool calls', 'fixed', 'a (turn)', 'b (tool call)', 'R^2', 'max |residual|'],
    fitRow('state transitions', r.loop.fits.transitions),
    fitRow('Lambda invocations', r.loop.fits.lambdaInvocations),
    fitRow('DynamoDB requests', r.loop.fits.dynamodbRequests),
    ...Object.entries(r.loop.fits.dynamodbByOperation).map(([op, fit]) => fitRow(`  ${op}`, fit)),
    fitRow('history events', r.loop.fits.historyEvents),
    [`without injected faults (${r.loop.withoutInjectedFaults.goals} goals)`, '', '', '', '', ''],
    fitRow('  state transitions', r.loop.withoutInjectedFaults.transitions),
    fitRow('  Lambda invocations', r.loop.withoutInjectedFaults.lambdaInvocations),
    fitRow('  DynamoDB requests', r.loop.withoutInjectedFaults.dynamodbRequests),
  ]);

/** The goals off each plane, so a reader sees which goals make a fit inexact and by how much. */
const offPlaneLines = (r: BenchReport): string[] =>
  (['transitions', 'lambdaInvocations', 'dynamodbRequests'] as const).map((fit) => {
    const off = r.loop.offPlane[fit];
    const shown = off.slice(0, 6).map((o) => `${o.goal} ${o.excess > 0 ? '+' : ''}${num(o.excess)}`);
    return `  off the ${fit} plane of the goals without faults: ${off.length === 0 ? 'none' : `${shown.join(', ')}${off.length > 6 ? `, ... (${off.length})` : ''}`}`;
  });

const INFRA_PARTS: [keyof InfrastructureCost, string][] = [
  ['stepFunctions', 'Step Functions transitions'],
  ['lambdaRequests', 'Lambda requests'],
  ['lambdaDuration', 'Lambda GB-s (local durations)'],
  ['dynamodbReads', 'DynamoDB reads'],
  ['dynamodbWrites', 'DynamoDB writes'],
  ['eventBridge', 'EventBridge events'],
  ['total', 'infrastructure total'],
];

const costTable = (r: BenchReport): string => {
  const names = Object.keys(r.policies) as PolicyName[];
  const cell = (
    name: PolicyName,
    pick: (p: NonNullable<BenchReport['policies'][PolicyName]>) => number,
    digits = 2,
  ) => {
    const p = r.policies[name];
    return p === undefined ? '-' : usd(pick(p), digits);
  };
  return table([
    ['per 1,000 tasks', ...names],
    ['model (tokens)', ...names.map((n) => cell(n, (p) => p.costPer1000TasksUsd))],
    ['model without caching', ...names.map((n) => cell(n, (p) => p.costPer1000TasksWithoutCachingUsd))],
    ...INFRA_PARTS.map(([key, label]) => [
      label,
      ...names.map((n) => cell(n, (p) => p.infrastructurePer1000TasksUsd[key], 4)),
    ]),
    [
      'model + infrastructure',
      ...names.map((n) =>
        r.cost.totalPer1000TasksUsd[n] === undefined ? '-' : usd(r.cost.totalPer1000TasksUsd[n] ?? 0),
      ),
    ],
    ['input tokens / task', ...names.map((n) => num(r.policies[n]?.tokensPerTask.input ?? 0, 1))],
    ['output tokens / task', ...names.map((n) => num(r.policies[n]?.tokensPerTask.output ?? 0, 1))],
    ['cache read tokens / task', ...names.map((n) => num(r.policies[n]?.tokensPerTask.cacheRead ?? 0, 1))],
  ]);
};

const ratioLine = (r: BenchReport): string => {
  const x = (v: number | null) => (v === null ? '-' : `${v.toFixed(3)}x`);
  const { ratios } = r.cost;
  return (
    `Ratios: routedCached/midOnly ${x(ratios.routedCachedToMidOnly)}, routedCached/largestOnly ` +
    `${x(ratios.routedCachedToLargestOnly)}, routed/midOnly ${x(ratios.routedToMidOnly)}`
  );
};

const payloadLines = (r: BenchReport): string[] => [
  `Largest state payload: ${num(r.loop.maxPayloadBytes)} bytes (${r.loop.maxPayloadAt}); by turns: ` +
    Object.entries(r.loop.payloadBytesByTurnsAll)
      .map(([turns, bytes]) => `${turns}: ${num(bytes)}`)
      .join(', '),
];

const bundleLines = (r: BenchReport): string[] => {
  const b = r.bundles;
  if (b === null) return ['Bundles: not measured (--skip-bundles)'];
  return [
    `Bundles (esbuild options of serverless.yml, as sls package builds them): max ${kib(b.maxBytes)}, median ` +
      `${kib(b.medianBytes)}; module load against the same handler unbundled, median ratio ` +
      `${b.loadRatioMedian.toFixed(2)} (CPU ${b.loadCpuRatioMedian.toFixed(2)}), ${b.samples} fresh processes each`,
    table([
      ['function', 'bundle', 'source map', 'load ms', 'unbundled ms', 'ratio'],
      ...b.functions.map((f) => [
        f.key,
        kib(f.bytes),
        f.mapBytes === null ? '-' : kib(f.mapBytes),
        f.loadMs.toFixed(0),
        f.unbundledLoadMs.toFixed(0),
        f.loadRatio.toFixed(2),
      ]),
    ]),
  ];
};

const concurrencyLines = (r: BenchReport): string[] => {
  const c = r.concurrency;
  if (c === null) return ['Concurrency: not measured (--skip-concurrency)'];
  const { storeRate, ...levels } = c;
  const rate = storeRate as { requestsPerSecond: number };
  return [
    `Concurrency (the sample goal N at once on one stack; store floor = its DynamoDB requests / ` +
      `${num(rate.requestsPerSecond, 0)} requests/s, DynamoDB Local's saturated PutItem rate in the same run)`,
    table([
      ['N', 'wall ms', 'floor ms', 'ratio', 'completed', 'exact', 'requests', 'cold starts'],
      ...Object.values(levels).map((v) => {
        const l = v as LevelReport;
        return [
          String(l.goals),
          num(l.wallMs, 0),
          num(l.storeFloorMs, 0),
          l.ratio.toFixed(1),
          `${l.completed}/${l.goals}`,
          l.exact ? 'yes' : 'NO',
          String(l.dynamodbRequests),
          String(l.coldStarts),
        ];
      }),
    ]),
  ];
};

export const formatReport = (r: BenchReport): string => {
  const first = Object.entries(r.policies)[0];
  return [
    `sovereign-agent benchmark, ${r.measuredAt}: ${r.suite.goals} goals of ${r.suite.dir} (tenants ` +
      `${r.suite.tenants.join(', ')}), policies ${Object.keys(r.policies).join(', ')}; node ${r.machine.node}, ` +
      `${r.machine.cpus} CPU(s), ${r.machine.platform}`,
    '',
    ...(first === undefined ? [] : [`Per goal (${first[0]})`, goalTable(first[1].goals), '']),
    `Loop figures, least squares over ${r.loop.fitOver} measured goals (every policy)`,
    fitTable(r),
    ...offPlaneLines(r),
    '',
    ...payloadLines(r),
    '',
    'Cost per 1,000 tasks (each suite goal one task)',
    costTable(r),
    ratioLine(r),
    '',
    ...concurrencyLines(r),
    '',
    ...bundleLines(r),
    '',
    `Timings (information only): whole run ${(r.wallMs / 1000).toFixed(1)} s; ` +
      Object.entries(r.policies)
        .map(
          ([name, p]) =>
            `${name} ${(p.wallMs / 1000).toFixed(1)} s (stack start ${(p.stackStartMs / 1000).toFixed(1)} s)`,
        )
        .join(', '),
  ].join('\n');
};
