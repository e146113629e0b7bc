/**
 * Smoke test of `npm run bench`: three suite goals under one policy on the local stack give a report with every key
 * the issue names. Shapes and counts only; timings are never asserted.
 */
import { runBench } from '../../local/bench/bench';
import { root } from './helpers';

jest.setTimeout(180_000);

describe('the benchmark', () => {
  it('reports the suite, the fitted loop figures, payloads, cost and bundles for a small subset', async () => {
    // Prepare
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    if (!endpoint) throw new Error('global-setup did not start DynamoDB Local');
    const lines: string[] = [];

    // Act: 1 turn and no call, 2 turns and 1 call, 3 turns and 4 calls: enough to separate the coefficients
    const report = await runBench({
      rootDir: root,
      goals: ['01-', '03-', '05-'],
      policies: ['routed'],
      warmUp: false,
      skipBundles: false,
      bundleSamples: 1,
      // Its own shape is checked by concurrency.test.ts (two store-rate measurements take a minute).
      skipConcurrency: true,
      dynamodbEndpoint: endpoint,
      progress: (line) => lines.push(line),
    });

    // Assess
    expect(report.suite).toMatchObject({
      goals: 3,
      tenants: ['acme', 'globex', 'initech'],
      turns: [1, 2, 3],
    });
    expect(lines.filter((l) => l.startsWith('routed '))).toHaveLength(3);
    const { loop } = report;
    for (const key of [
      'transitionsPerTurn',
      'transitionsPerToolCall',
      'transitionsFixed',
      'dynamodbRequestsPerTurn',
      'dynamodbRequestsPerToolCall',
      'lambdaInvocationsPerTurn',
    ] as const) {
      expect({ key, type: typeof loop[key] }).toEqual({ key, type: 'number' });
    }
    expect(loop.fits.transitions?.points).toBe(3);
    // Goals without approvals keep their shape: 2 + 3 per turn + 1 per tool call (docs/benchmarks.md), exactly.
    expect(
      [loop.transitionsFixed, loop.transitionsPerTurn, loop.transitionsPerToolCall].map((v) =>
        Math.round(v ?? Number.NaN),
      ),
    ).toEqual([2, 3, 1]);
    expect(loop.fits.transitions?.rSquared).toBeGreaterThan(0.9999);
    expect(loop.maxPayloadBytes).toBeGreaterThan(0);
    expect(Object.keys(loop.payloadBytesByTurns)).toEqual(['1', '5', '20']);
    expect(loop.payloadBytesByTurns['1']).toBeGreaterThan(0);
    expect(loop.payloadBytesByTurns['20']).toBeNull();
    // Every goal's transitions are counted from its execution record and fit the plane they were fitted to.
    const goals = report.policies.routed?.goals ?? [];
    expect(goals.map((g) => [g.goal, g.status, g.turns, g.toolCalls])).toEqual([
      ['01-answer-only-acme', 'completed', 1, 0],
      ['03-one-call-initech', 'completed', 2, 1],
      ['05-sample-shape-globex', 'completed', 3, 4],
    ]);
    expect(goals.every((g) => g.stateTransitions > 0 && g.tokens.input > 0)).toBe(true);
    expect(report.cost.per1000TasksUsd.routed).toBeGreaterThan(0);
    expect(report.cost.ratios).toEqual({
      routedCachedToMidOnly: null,
      routedCachedToLargestOnly: null,
      routedToMidOnly: null,
    });
    expect(report.cost.infrastructure.per1000TasksUsd.total).toBeGreaterThan(0);
    expect(report.cost.totalPer1000TasksUsd.routed).toBeGreaterThan(report.cost.per1000TasksUsd.routed ?? 0);
    expect(report.bundles?.functions.map((f) => f.key)).toContain('plan');
    expect(report.bundles).toMatchObject({
      maxBytes: expect.any(Number),
      medianBytes: expect.any(Number),
      loadRatioMedian: expect.any(Number),
    });
    expect(report.concurrency).toBeNull();
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ suite: { goals: 3 } });
  });
});
