/**
 * Model routing, table-driven: one row per seed rule and per step kind, precedence rows (restricted beats latency
 * beats step kind), degrade rows near the budget cap, and the reader tier reached.
 */

import { budgetUsedFraction } from '../../shared/agent/budget';
import { getProfile } from '../../shared/agent/profiles';
import {
  chooseRoute,
  type ModelTiers,
  type RouteInput,
  reasoningComplexityIndex,
} from '../../shared/agent/routing';
import type { StepKind } from '../../shared/agent/step-kind';
import { ConfigError } from '../../shared/runtime/errors';
import { GOAL, sessionItem, TIERS } from '../helpers/fixtures';

const profile = getProfile('billing-auditor');
const SIMPLE_GOAL = 'Summarize last month.';

const STEP_REASON: Record<StepKind, string> = {
  plan: 'first turn',
  extract: 'next tool calls',
  summarize: 'long results',
  verify: 'side effect succeeded',
  format: 'every tool has succeeded',
};

/** The route of a step of the sample goal (four tools, internal data, 30 s latency) unless overridden. */
const routeFor = (overrides: Partial<RouteInput> & { kind?: StepKind } = {}) => {
  const { kind = 'plan', ...rest } = overrides;
  return chooseRoute(
    {
      profile,
      goal: GOAL,
      toolCount: 4,
      dataClassification: 'internal',
      latencyToleranceMs: 30_000,
      step: { kind, reason: STEP_REASON[kind] },
      ...rest,
    },
    TIERS,
  );
};

describe('reasoningComplexityIndex', () => {
  it('scores the four-step billing goal over four tools above the planner threshold of 70', () => {
    // Act
    const rci = reasoningComplexityIndex(GOAL, 4);

    // Assess
    expect(rci).toBeGreaterThan(70);
  });

  it('scores a one-step goal low', () => {
    // Act
    const rci = reasoningComplexityIndex(SIMPLE_GOAL, 1);

    // Assess
    expect(rci).toBe(20); // one step (15) + one tool (5)
  });

  it('counts dependent steps, tools (up to six) and conditional branches', () => {
    // Act
    const steps = reasoningComplexityIndex('Audit the logs, then check the terms.', 0);
    const tools = reasoningComplexityIndex('', 10);
    const branches = reasoningComplexityIndex('Audit the logs if the bill grew, otherwise stop.', 0);

    // Assess
    expect(steps).toBe(30);
    expect(tools).toBe(30);
    expect(branches).toBe(15 + 20);
  });

  it('counts a repeated step once and never exceeds 100', () => {
    // Act
    const repeated = reasoningComplexityIndex('Check A, check B, check C.', 0);
    const huge = reasoningComplexityIndex(
      'Audit, find, list, check, compare, verify, draft, review, estimate and report if needed, otherwise write.',
      6,
    );

    // Assess
    expect(repeated).toBe(15);
    expect(huge).toBe(100);
  });
});

interface Row {
  rule: string;
  input: Partial<RouteInput> & { kind?: StepKind };
  tier: keyof typeof TIERS;
  reason: RegExp;
}

const ROWS: Row[] = [
  // The seed's rules
  {
    rule: 'RCI > 70 plans on the planner',
    input: {},
    tier: 'planner',
    reason: /^step plan \(first turn\), RCI \d+ > 70: planner$/,
  },
  {
    rule: 'RCI <= 70 plans on the executor',
    input: { goal: SIMPLE_GOAL, toolCount: 1 },
    tier: 'executor',
    reason: /^step plan \(first turn\), RCI 20 <= 70: executor$/,
  },
  {
    rule: 'latency tolerance under 1.2 s goes to the executor',
    input: { latencyToleranceMs: 800 },
    tier: 'executor',
    reason: /^latency tolerance 800 ms < 1200 ms: executor$/,
  },
  {
    rule: 'a latency tolerance of exactly 1.2 s is not tight',
    input: { latencyToleranceMs: 1200 },
    tier: 'planner',
    reason: /RCI/,
  },
  {
    rule: 'restricted data stays private',
    input: { dataClassification: 'restricted' },
    tier: 'private',
    reason: /^restricted data stays on the private tier$/,
  },
  {
    rule: 'public data uses the Bedrock tiers',
    input: { dataClassification: 'public' },
    tier: 'planner',
    reason: /RCI/,
  },
  // One row per step kind
  {
    rule: 'extract goes to the executor',
    input: { kind: 'extract' },
    tier: 'executor',
    reason: /^step extract \(next tool calls\): executor$/,
  },
  {
    rule: 'summarize goes to the reader',
    input: { kind: 'summarize' },
    tier: 'reader',
    reason: /^step summarize \(long results\): reader$/,
  },
  {
    rule: 'verify goes to the planner',
    input: { kind: 'verify' },
    tier: 'planner',
    reason: /^step verify \(side effect succeeded\): planner$/,
  },
  {
    rule: 'format goes to the executor',
    input: { kind: 'format' },
    tier: 'executor',
    reason: /^step format \(every tool has succeeded\): executor$/,
  },
  {
    rule: 'verify of a simple goal still goes to the planner (RCI only rules the plan step)',
    input: { kind: 'verify', goal: SIMPLE_GOAL, toolCount: 1 },
    tier: 'planner',
    reason: /^step verify/,
  },
  // Precedence: restricted beats latency beats step kind
  {
    rule: 'restricted beats latency',
    input: { dataClassification: 'restricted', latencyToleranceMs: 200 },
    tier: 'private',
    reason: /^restricted/,
  },
  {
    rule: 'restricted beats the summarize step',
    input: { dataClassification: 'restricted', kind: 'summarize' },
    tier: 'private',
    reason: /^restricted/,
  },
  {
    rule: 'latency beats the verify step',
    input: { latencyToleranceMs: 500, kind: 'verify' },
    tier: 'executor',
    reason: /^latency tolerance 500 ms/,
  },
  {
    rule: 'latency beats the summarize step',
    input: { latencyToleranceMs: 500, kind: 'summarize' },
    tier: 'executor',
    reason: /^latency/,
  },
  // Degrading near the cap: one tier cheaper, never off the private tier
  {
    rule: 'at 80 % the plan step goes to the executor',
    input: { budgetUsed: 0.8 },
    tier: 'executor',
    reason: /; budget 80 % used: executor instead of planner; history compacted$/,
  },
  {
    rule: 'just under 80 % nothing degrades',
    input: { budgetUsed: 0.799, kind: 'verify' },
    tier: 'planner',
    reason: /^step verify \(side effect succeeded\): planner$/,
  },
  {
    rule: 'at 83 % an extract step goes to the reader',
    input: { budgetUsed: 0.83, kind: 'extract' },
    tier: 'reader',
    reason:
      /^step extract \(next tool calls\): executor; budget 83 % used: reader instead of executor; history compacted$/,
  },
  {
    rule: 'the reader is the cheapest: a degraded summarize stays there',
    input: { budgetUsed: 0.95, kind: 'summarize' },
    tier: 'reader',
    reason: /budget 95 % used: reader is the cheapest tier; history compacted$/,
  },
  {
    rule: 'a degraded latency route goes from executor to reader',
    input: { budgetUsed: 0.9, latencyToleranceMs: 500 },
    tier: 'reader',
    reason: /^latency .*; budget 90 % used: reader instead of executor/,
  },
  {
    rule: 'restricted data keeps the private tier when degraded',
    input: { budgetUsed: 0.99, dataClassification: 'restricted' },
    tier: 'private',
    reason:
      /^restricted data stays on the private tier; budget 99 % used: private tier kept; history compacted$/,
  },
];

describe('chooseRoute', () => {
  it.each(ROWS)('$rule', ({ input, tier, reason }) => {
    // Act
    const route = routeFor(input);

    // Assess
    expect(route.tier).toBe(tier);
    expect(route.modelId).toBe(TIERS[tier]);
    expect(route.reason).toMatch(reason);
    expect(route.stepKind).toBe(input.kind ?? 'plan');
    expect(route.degraded).toBe((input.budgetUsed ?? 0) >= 0.8);
  });

  it('reaches the reader tier without degrading: a summarize step', () => {
    // Act
    const tiers = (['plan', 'extract', 'summarize', 'verify', 'format'] as const).map(
      (kind) => routeFor({ kind }).tier,
    );

    // Assess
    expect(tiers).toEqual(['planner', 'executor', 'reader', 'planner', 'executor']);
  });

  it('keeps an RCI of exactly 70 on the executor tier (the threshold is strict)', () => {
    // Prepare: four steps (60) over two tools (10)
    const goal = 'Audit the logs, list idle servers, check the terms and draft a note.';
    expect(reasoningComplexityIndex(goal, 2)).toBe(70);

    // Act
    const route = routeFor({ goal, toolCount: 2 });

    // Assess
    expect(route.tier).toBe('executor');
  });
});

describe('budgetUsedFraction', () => {
  const limits = { tokenBudget: 100_000, usdBudget: 0.5 };

  it.each([
    { name: 'nothing spent', spend: {}, fraction: 0 },
    {
      name: 'tokens lead',
      spend: { tokensInput: 70_000, tokensCacheRead: 10_000, costUsd: 0.1 },
      fraction: 0.8,
    },
    { name: 'cost leads', spend: { tokensInput: 1_000, costUsd: 0.45 }, fraction: 0.9 },
    {
      name: 'costMicros wins over costUsd when present',
      spend: { costUsd: 0.45, costMicros: 100_000 },
      fraction: 0.2,
    },
  ])('$name', ({ spend, fraction }) => {
    // Act
    const used = budgetUsedFraction(sessionItem(spend), limits);

    // Assess
    expect(used).toBeCloseTo(fraction, 10);
  });
});

describe('restricted data and the private tier', () => {
  it('refuses to route restricted data to a private tier holding a public model, first or fallback', () => {
    // Prepare: tiers that bypassed the cold-start check (MODEL_TIER_PRIVATE).
    const input: RouteInput = {
      profile,
      goal: GOAL,
      toolCount: 4,
      dataClassification: 'restricted',
      latencyToleranceMs: 30_000,
      step: { kind: 'plan', reason: STEP_REASON.plan },
    };
    const publicFirst: ModelTiers = { ...TIERS, private: TIERS.executor };
    const publicFallback: ModelTiers = { ...TIERS, fallbacks: { private: [TIERS.reader] } };

    // Act / Assess
    for (const tiers of [publicFirst, publicFallback]) {
      const act = () => chooseRoute(input, tiers);
      expect(act).toThrow(ConfigError);
      expect(act).toThrow(/sagemaker-provider/);
      // Other data may still use those tiers.
      expect(chooseRoute({ ...input, dataClassification: 'internal' }, tiers).tier).toBe('planner');
    }
  });
});
