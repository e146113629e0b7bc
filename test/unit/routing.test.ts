/** Model routing: restricted data stays private, tight latency goes to the executor, complex first turns plan. */
import { getProfile } from '../../shared/agent/profiles';
import {
  chooseRoute,
  type ModelTiers,
  type RouteInput,
  reasoningComplexityIndex,
} from '../../shared/agent/routing';
import { ConfigError } from '../../shared/runtime/errors';
import { GOAL, TIERS } from '../helpers/fixtures';

const profile = getProfile('billing-auditor');
const SIMPLE_GOAL = 'Summarize last month.';

const routeFor = (overrides: Partial<RouteInput> = {}) =>
  chooseRoute(
    {
      profile,
      goal: GOAL,
      toolCount: 4,
      dataClassification: 'internal',
      latencyToleranceMs: 30_000,
      turn: 1,
      ...overrides,
    },
    TIERS,
  );

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

describe('chooseRoute', () => {
  it('sends the first turn of a complex goal to the planner tier', () => {
    // Act
    const route = routeFor();

    // Assess
    expect(route.tier).toBe('planner');
    expect(route.modelId).toBe(TIERS.planner);
    expect(route.reason).toMatch(/planning turn, RCI \d+ > 70/);
  });

  it('sends later turns of the same goal to the executor tier', () => {
    // Act
    const route = routeFor({ turn: 2 });

    // Assess
    expect(route.tier).toBe('executor');
    expect(route.modelId).toBe(TIERS.executor);
    expect(route.reason).toBe('execution turn');
  });

  it('sends a simple first turn to the executor tier', () => {
    // Act
    const route = routeFor({ goal: SIMPLE_GOAL, toolCount: 1 });

    // Assess
    expect(route.tier).toBe('executor');
    expect(route.rci).toBe(20);
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

  it('sends a latency tolerance under 1.2 s straight to the executor tier, even for a complex first turn', () => {
    // Act
    const route = routeFor({ latencyToleranceMs: 800 });

    // Assess
    expect(route.tier).toBe('executor');
    expect(route.reason).toBe('latency tolerance 800 ms < 1200 ms');
  });

  it('treats a latency tolerance of exactly 1.2 s as not tight', () => {
    // Act
    const route = routeFor({ latencyToleranceMs: 1200 });

    // Assess
    expect(route.tier).toBe('planner');
  });

  it('keeps restricted data on the private tier whatever the latency or complexity', () => {
    // Act
    const routes = [
      routeFor({ dataClassification: 'restricted' }),
      routeFor({ dataClassification: 'restricted', latencyToleranceMs: 200 }),
      routeFor({ dataClassification: 'restricted', turn: 3, goal: SIMPLE_GOAL }),
    ];

    // Assess
    for (const route of routes) {
      expect(route.tier).toBe('private');
      expect(route.modelId).toBe(TIERS.private);
    }
  });

  it('refuses to route restricted data to a private tier holding a public model, first or fallback', () => {
    // Prepare: tiers that bypassed the cold-start check (MODEL_TIER_PRIVATE).
    const input = { profile, goal: GOAL, toolCount: 4, latencyToleranceMs: 30_000, turn: 1 } as const;
    const publicFirst: ModelTiers = { ...TIERS, private: TIERS.executor };
    const publicFallback: ModelTiers = { ...TIERS, fallbacks: { private: [TIERS.reader] } };

    // Act / Assess
    for (const tiers of [publicFirst, publicFallback]) {
      const act = () => chooseRoute({ ...input, dataClassification: 'restricted' }, tiers);
      expect(act).toThrow(ConfigError);
      expect(act).toThrow(/sagemaker-provider/);
      // Other data may still use those tiers.
      expect(chooseRoute({ ...input, dataClassification: 'internal' }, tiers).tier).toBe('planner');
    }
  });

  it('lets public and internal data use the Bedrock tiers', () => {
    // Act
    const routes = [routeFor({ dataClassification: 'public' }), routeFor({ dataClassification: 'internal' })];

    // Assess
    expect(routes.map((r) => r.tier)).toEqual(['planner', 'planner']);
  });
});
