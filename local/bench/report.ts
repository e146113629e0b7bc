/** Turns the suite's measurements into the benchmark's JSON (loop fits, payload, cost per policy) and plain-text tables. */
import type { TokenUsage } from '../../shared/agent/pricing';
import type { BundleReport } from './bundles';
import type { ConcurrencyReport, LevelReport } from './concurrency';
import {
  type CostRatios,
  costRatios,
  type InfrastructureCost,
  infrastructureCostOf,
  infrastructurePer1000Tasks,
  infrastructurePrices,
  type PolicyName,
  per1000Tasks,
} from './cost';
import { type FitPoint, fitTurnsAndToolCalls, type LinearFit } from './fit';
import { type GoalMeasurement, totalOf } from './measure';
import type { PolicyRun } from './run';

/** The conversation lengths the issue asks the payload for. */
export const PAYLOAD_TURNS = [1, 5, 20] as const;

export interface GoalRow extends GoalMeasurement {
  goal: string;
  infrastructureCostUsd: number;
}

export interface PolicyReport {
  tiers: Record<string, string>;
  promptCaching: 'on' | 'off';
  warmUp: GoalMeasurement | null;
  goals: GoalRow[];
  tokensPerTask: TokenUsage;
  costPer1000TasksUsd: number;
  /** The same turns with cache reads and writes priced as plain input. */
  costPer1000TasksWithoutCachingUsd: number;
  infrastructurePer1000TasksUsd: InfrastructureCost;
  /** Information only. */
  stackStartMs: number;
  wallMs: number;
}

export interface LoopFigures {
  transitionsPerTurn: number | null;
  transitionsPerToolCall: number | null;
  transitionsFixed: number | null;
  dynamodbRequestsPerTurn: number | null;
  dynamodbRequestsPerToolCall: number | null;
  dynamodbRequestsFixed: number | null;
  lambdaInvocationsPerTurn: number | null;
  lambdaInvocationsPerToolCall: number | null;
  lambdaInvocationsFixed: number | null;
  maxPayloadBytes: number;
  /** Where the largest payload was (`<state> input|output`). */
  maxPayloadAt: string;
  /** Largest payload of the goals with exactly that many turns; null when the run had none. */
  payloadBytesByTurns: Record<string, number | null>;
  /** The same for every conversation length the run had. */
  payloadBytesByTurnsAll: Record<string, number>;
  /** Each fit with R^2 and residuals (null when the goals cannot separate the coefficients). */
  fits: {
    transitions: LinearFit | null;
    dynamodbRequests: LinearFit | null;
    lambdaInvocations: LinearFit | null;
    historyEvents: LinearFit | null;
    dynamodbByOperation: Record<string, Omit<LinearFit, 'residuals'> | null>;
  };
  /** The goals the fits are over: every measured goal of every policy (the counts do not depend on the model). */
  fitOver: number;
  /**
   * Per count, the goals off the loop's own plane (the fit without injected faults, else the fit over all) by more
   * than 0.01, largest first, with excess = measured - plane: where retries, faults and reports add work.
   */
  offPlane: Record<
    'transitions' | 'dynamodbRequests' | 'lambdaInvocations',
    { goal: string; excess: number }[]
  >;
  /**
   * The same three fits over the goals without injected faults (no scripted throttling, no tool faults): the
   * loop's own shape, against which offPlane shows what the retries cost.
   */
  withoutInjectedFaults: {
    goals: number;
    transitions: Omit<LinearFit, 'residuals'> | null;
    dynamodbRequests: Omit<LinearFit, 'residuals'> | null;
    lambdaInvocations: Omit<LinearFit, 'residuals'> | null;
  };
}

/** A measured goal with the label its residuals are shown under (`<goal> (<policy>)`). */
export interface LabelledMeasurement {
  label: string;
  /** The goal's script throttles the model or its tool faults make tools fail. */
  injectsFaults: boolean;
  m: GoalMeasurement;
}

export interface BenchReport {
  measuredAt: string;
  machine: { cpus: number; node: string; platform: string };
  suite: {
    goals: number;
    dir: string;
    names: string[];
    tenants: string[];
    turns: number[];
    toolCalls: number[];
  };
  policies: Partial<Record<PolicyName, PolicyReport>>;
  loop: LoopFigures;
  cost: {
    /** Model cost (tokens priced by shared/agent/pricing) per 1,000 tasks of the suite. */
    per1000TasksUsd: Partial<Record<PolicyName, number>>;
    ratios: CostRatios;
    infrastructure: {
      /** Over every measured goal; the parts are the same for every policy but Lambda duration. */
      per1000TasksUsd: InfrastructureCost;
      assumptions: string[];
      prices: typeof infrastructurePrices;
    };
    /** Model plus infrastructure (the policy's own) per 1,000 tasks. */
    totalPer1000TasksUsd: Partial<Record<PolicyName, number>>;
  };
  /** N concurrent goals on one stack against the store floor (levels by N, plus the store rate measured). */
  concurrency: Record<string, LevelReport | ConcurrencyReport['storeRate']> | null;
  bundles: BundleReport | null;
  /** Information only. */
  wallMs: number;
}

const mean = (values: number[]): number =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;

const infrastructureOf = (m: GoalMeasurement): InfrastructureCost =>
  infrastructureCostOf({
    stateTransitions: m.stateTransitions,
    lambdaRequests: totalOf(m.lambdaInvocations),
    lambdaGbSeconds: m.lambdaGbSeconds,
    requestUnits: m.requestUnits,
    eventBridgeEvents: m.eventBridgeEvents,
  });

const policyReport = (run: PolicyRun): PolicyReport => {
  const measured = run.results.map((r) => r.measured);
  const infrastructure = measured.map(infrastructureOf);
  return {
    tiers: run.policy.tiers,
    promptCaching: run.policy.promptCaching,
    warmUp: run.warmUp,
    goals: run.results.map((r, i) => ({
      goal: r.goal.name,
      ...r.measured,
      infrastructureCostUsd: infrastructure[i]?.total ?? 0,
    })),
    tokensPerTask: {
      input: mean(measured.map((m) => m.tokens.input)),
      output: mean(measured.map((m) => m.tokens.output)),
      cacheRead: mean(measured.map((m) => m.tokens.cacheRead)),
      cacheWrite: mean(measured.map((m) => m.tokens.cacheWrite)),
    },
    costPer1000TasksUsd: per1000Tasks(measured.map((m) => m.costUsd)),
    costPer1000TasksWithoutCachingUsd: per1000Tasks(measured.map((m) => m.costWithoutCachingUsd)),
    infrastructurePer1000TasksUsd: infrastructurePer1000Tasks(infrastructure),
    stackStartMs: run.stackStartMs,
    wallMs: run.wallMs,
  };
};

/** A fit, or null when the goals cannot separate its coefficients (too few, or tool calls a multiple of turns). */
const tryFit = (measured: GoalMeasurement[], y: (m: GoalMeasurement) => number): LinearFit | null => {
  const points: FitPoint[] = measured.map((m) => ({ turns: m.turns, toolCalls: m.toolCalls, y: y(m) }));
  try {
    return fitTurnsAndToolCalls(points);
  } catch {
    return null;
  }
};

const withoutResiduals = (fit: LinearFit | null): Omit<LinearFit, 'residuals'> | null => {
  if (fit === null) return null;
  const { residuals: _residuals, ...rest } = fit;
  return rest;
};

const payloadByTurns = (measured: GoalMeasurement[]): Record<string, number> => {
  const byTurns: Record<string, number> = {};
  for (const m of measured) byTurns[m.turns] = Math.max(byTurns[m.turns] ?? 0, m.payload.maxBytes);
  return byTurns;
};

type Plane = Pick<LinearFit, 'fixed' | 'perTurn' | 'perToolCall'>;

/** Goals whose count is off `plane` by more than 0.01, largest first, with what they did beyond it. */
const offPlane = (labelled: LabelledMeasurement[], plane: Plane | null, y: (m: GoalMeasurement) => number) =>
  plane === null
    ? []
    : labelled
        .map(({ label, m }) => ({
          goal: label,
          excess: clean(y(m) - (plane.fixed + plane.perTurn * m.turns + plane.perToolCall * m.toolCalls)),
        }))
        .filter((r) => Math.abs(r.excess) > 0.01)
        .sort((a, b) => Math.abs(b.excess) - Math.abs(a.excess));

const clean = (x: number): number => Math.round(x * 1e6) / 1e6;

export const loopFigures = (labelled: LabelledMeasurement[]): LoopFigures => {
  const measured = labelled.map((l) => l.m);
  const withoutFaults = labelled.filter((l) => !l.injectsFaults).map((l) => l.m);
  const counts = {
    transitions: (m: GoalMeasurement) => m.stateTransitions,
    dynamodbRequests: (m: GoalMeasurement) => totalOf(m.dynamodbRequests),
    lambdaInvocations: (m: GoalMeasurement) => totalOf(m.lambdaInvocations),
  };
  const transitions = tryFit(measured, counts.transitions);
  const dynamodb = tryFit(measured, counts.dynamodbRequests);
  const lambda = tryFit(measured, counts.lambdaInvocations);
  const shape = {
    transitions: withoutResiduals(tryFit(withoutFaults, counts.transitions)),
    dynamodbRequests: withoutResiduals(tryFit(withoutFaults, counts.dynamodbRequests)),
    lambdaInvocations: withoutResiduals(tryFit(withoutFaults, counts.lambdaInvocations)),
  };
  const operations = [...new Set(measured.flatMap((m) => Object.keys(m.dynamodbRequests)))].sort();
  const largest = measured.reduce<GoalMeasurement | undefined>(
    (best, m) => (best === undefined || m.payload.maxBytes > best.payload.maxBytes ? m : best),
    undefined,
  );
  const all = payloadByTurns(measured);
  return {
    transitionsPerTurn: transitions?.perTurn ?? null,
    transitionsPerToolCall: transitions?.perToolCall ?? null,
    transitionsFixed: transitions?.fixed ?? null,
    dynamodbRequestsPerTurn: dynamodb?.perTurn ?? null,
    dynamodbRequestsPerToolCall: dynamodb?.perToolCall ?? null,
    dynamodbRequestsFixed: dynamodb?.fixed ?? null,
    lambdaInvocationsPerTurn: lambda?.perTurn ?? null,
    lambdaInvocationsPerToolCall: lambda?.perToolCall ?? null,
    lambdaInvocationsFixed: lambda?.fixed ?? null,
    maxPayloadBytes: largest?.payload.maxBytes ?? 0,
    maxPayloadAt: largest?.payload.where ?? 'none',
    payloadBytesByTurns: Object.fromEntries(PAYLOAD_TURNS.map((t) => [String(t), all[t] ?? null])),
    payloadBytesByTurnsAll: all,
    fits: {
      transitions,
      dynamodbRequests: dynamodb,
      lambdaInvocations: lambda,
      historyEvents: tryFit(measured, (m) => m.historyEvents),
      dynamodbByOperation: Object.fromEntries(
        operations.map((op) => [op, withoutResiduals(tryFit(measured, (m) => m.dynamodbRequests[op] ?? 0))]),
      ),
    },
    fitOver: measured.length,
    offPlane: {
      transitions: offPlane(labelled, shape.transitions ?? transitions, counts.transitions),
      dynamodbRequests: offPlane(labelled, shape.dynamodbRequests ?? dynamodb, counts.dynamodbRequests),
      lambdaInvocations: offPlane(labelled, shape.lambdaInvocations ?? lambda, counts.lambdaInvocations),
    },
    withoutInjectedFaults: { goals: withoutFaults.length, ...shape },
  };
};

export const INFRASTRUCTURE_ASSUMPTIONS = [
  'Lambda GB-s: memory of serverless.yml per function x the billed duration (ms, rounded up) measured on the local machine: a local-machine figure, not what AWS would bill.',
  'Lambda requests: every invocation the local Lambda service ran, retries included.',
  'DynamoDB: on-demand read and write request units as the consumed capacity DynamoDB Local reported for every request (ReturnConsumedCapacity TOTAL, summed by the counting proxy); a failed conditional write reports none.',
  'EventBridge: every event put on the custom bus during the goal (the goal event and the lifecycle events), in 64 KB chunks.',
  'No free tier and no volume tiers; us-east-1 list prices from shared/agent/pricing/infrastructure.json.',
];

export const buildReport = (input: {
  runs: PolicyRun[];
  bundles: BundleReport | null;
  concurrency: ConcurrencyReport | null;
  machine: BenchReport['machine'];
  suiteDir: string;
  wallMs: number;
}): BenchReport => {
  const { runs } = input;
  const policies: Partial<Record<PolicyName, PolicyReport>> = {};
  for (const run of runs) policies[run.policy.name] = policyReport(run);
  const goals = runs[0]?.results.map((r) => r.goal) ?? [];
  const labelled = runs.flatMap((run) =>
    run.results.map((r) => ({
      label: `${r.goal.name} (${run.policy.name})`,
      injectsFaults: r.goal.injectsFaults,
      m: r.measured,
    })),
  );
  const measured = labelled.map((l) => l.m);
  const reports = Object.entries(policies) as [PolicyName, PolicyReport][];
  const per1000 = Object.fromEntries(reports.map(([name, p]) => [name, p.costPer1000TasksUsd]));
  return {
    measuredAt: new Date().toISOString(),
    machine: input.machine,
    suite: {
      goals: goals.length,
      dir: input.suiteDir,
      names: goals.map((g) => g.name),
      tenants: [...new Set(goals.map((g) => g.tenantId))].sort(),
      turns: goals.map((g) => g.expected.turns),
      toolCalls: goals.map((g) => g.expected.toolCalls),
    },
    policies,
    loop: loopFigures(labelled),
    cost: {
      per1000TasksUsd: per1000,
      ratios: costRatios(per1000),
      infrastructure: {
        per1000TasksUsd: infrastructurePer1000Tasks(measured.map(infrastructureOf)),
        assumptions: INFRASTRUCTURE_ASSUMPTIONS,
        prices: infrastructurePrices,
      },
      totalPer1000TasksUsd: Object.fromEntries(
        reports.map(([name, p]) => [name, p.costPer1000TasksUsd + p.infrastructurePer1000TasksUsd.total]),
      ),
    },
    concurrency:
      input.concurrency === null
        ? null
        : { ...input.concurrency.levels, storeRate: input.concurrency.storeRate },
    bundles: input.bundles,
    wallMs: input.wallMs,
  };
};
