/** CPTO in integer micro-dollars: exact token arithmetic, rounding up once, and the infrastructure of a turn and a call. */
import { requestCounts } from '../../shared/agent/pricing/infrastructure';
import {
  costMicros,
  infrastructureMicros,
  microsToUsd,
  TOOL_CALL_INFRASTRUCTURE_MICROS,
  TURN_INFRASTRUCTURE_MICROS,
  usdToMicros,
} from '../../shared/agent/pricing/micros';

const haiku = { input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 };
const usage = (partial: Partial<Record<'input' | 'output' | 'cacheRead' | 'cacheWrite', number>>) => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite: 0,
  ...partial,
});

describe('costMicros', () => {
  it('prices tokens at micro-dollars per token: 1M input tokens at $0.80/MTok are 800,000 micro-dollars', () => {
    expect(costMicros(usage({ input: 1_000_000 }), haiku)).toBe(800_000);
  });

  it('sums every kind of token exactly, with no float drift', () => {
    // 1,234 x 0.8 + 567 x 4 + 8,901 x 0.08 + 2,345 x 1 = 987.2 + 2,268 + 712.08 + 2,345 = 6,312.28 -> 6,313
    expect(costMicros(usage({ input: 1_234, output: 567, cacheRead: 8_901, cacheWrite: 2_345 }), haiku)).toBe(
      6_313,
    );
  });

  it('rounds a fraction of a micro-dollar up, once per call, and a call of no tokens costs nothing', () => {
    expect(costMicros(usage({ input: 1 }), { ...haiku, input: 0.06 })).toBe(1);
    expect(costMicros(usage({}), haiku)).toBe(0);
  });

  it('stays exact where floats would not (0.1 + 0.2 style rates at a billion tokens)', () => {
    const rate = { input: 0.1, output: 0.2, cacheRead: 0, cacheWrite: 0 };
    expect(costMicros(usage({ input: 1e9, output: 1e9 }), rate)).toBe(300_000_000);
  });
});

describe('usdToMicros and microsToUsd', () => {
  it('turns a USD budget into whole micro-dollars, rounding down, and back', () => {
    expect(usdToMicros(0.25)).toBe(250_000);
    expect(usdToMicros(1e-9)).toBe(0);
    expect(usdToMicros(0.1 + 0.2)).toBe(300_000);
    expect(microsToUsd(6_313)).toBe(0.006313);
  });
});

describe('infrastructure of a turn and of a tool call', () => {
  it('prices the benchmark counts: 3 transitions, 1 Lambda request, its GB-s and 4 DynamoDB requests per turn (3 measured, 1 reservation)', () => {
    // 3 x 25 + 0.2 + 0.5 x 13.3334 + 4 x 0.625 = 75 + 0.2 + 6.6667 + 2.5 = 84.3667 -> 85
    expect(requestCounts.perTurn.stateTransitions).toBe(3);
    expect(TURN_INFRASTRUCTURE_MICROS).toBe(85);
  });

  it('prices a tool call: 1 transition, 2 Lambda requests, their GB-s and 4.02 DynamoDB requests', () => {
    // 25 + 0.4 + 13.3334 + 4.02 x 0.625 = 25 + 0.4 + 13.3334 + 2.5125 = 41.2459 -> 42
    expect(TOOL_CALL_INFRASTRUCTURE_MICROS).toBe(42);
  });

  it('charges nothing for no requests', () => {
    expect(
      infrastructureMicros({
        stateTransitions: 0,
        lambdaRequests: 0,
        lambdaGbSeconds: 0,
        dynamodbRequests: 0,
        events: 0,
      }),
    ).toBe(0);
  });
});
