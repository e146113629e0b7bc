/** The benchmark's cost arithmetic: infrastructure cost of a task, per 1,000 tasks, policy ratios (local/bench/cost.ts). */
import {
  costRatios,
  eventChunks,
  gbSeconds,
  infrastructureCostOf,
  infrastructurePer1000Tasks,
  infrastructurePrices,
  per1000Tasks,
} from '../../local/bench/cost';

describe('infrastructure prices', () => {
  it('give every price a source and the day it was recorded, for us-east-1', () => {
    // Assess
    expect(infrastructurePrices.region).toBe('us-east-1');
    const entries = [
      infrastructurePrices.stepFunctions.standardStateTransition,
      infrastructurePrices.lambda.request,
      infrastructurePrices.lambda.armGbSecond,
      infrastructurePrices.dynamodb.onDemandReadRequestUnit,
      infrastructurePrices.dynamodb.onDemandWriteRequestUnit,
      infrastructurePrices.eventBridge.customEvent,
    ];
    for (const price of entries) {
      expect(price.source).toMatch(/^https:\/\/aws\.amazon\.com\//);
      expect(price.recordedAt).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });
});

describe('infrastructureCostOf', () => {
  it('prices each dimension and sums them', () => {
    // Prepare: round numbers, so each part is easy to check by hand
    const prices = structuredClone(infrastructurePrices);
    prices.stepFunctions.standardStateTransition.usd = 0.001;
    prices.lambda.request.usd = 0.01;
    prices.lambda.armGbSecond.usd = 0.1;
    prices.dynamodb.onDemandReadRequestUnit.usd = 0.0001;
    prices.dynamodb.onDemandWriteRequestUnit.usd = 0.0002;
    prices.eventBridge.customEvent.usd = 1;

    // Act
    const cost = infrastructureCostOf(
      {
        stateTransitions: 21,
        lambdaRequests: 17,
        lambdaGbSeconds: 2,
        requestUnits: { read: 10, write: 30 },
        eventBridgeEvents: 2,
      },
      prices,
    );

    // Assess
    expect(cost.stepFunctions).toBeCloseTo(0.021, 12);
    expect(cost.lambdaRequests).toBeCloseTo(0.17, 12);
    expect(cost.lambdaDuration).toBeCloseTo(0.2, 12);
    expect(cost.dynamodbReads).toBeCloseTo(0.001, 12);
    expect(cost.dynamodbWrites).toBeCloseTo(0.006, 12);
    expect(cost.eventBridge).toBe(2);
    expect(cost.total).toBeCloseTo(0.021 + 0.17 + 0.2 + 0.001 + 0.006 + 2, 12);
  });

  it('costs $0.525 per 1,000 tasks of 21 transitions at the list price of $0.025 per 1,000', () => {
    // Act
    const cost = infrastructureCostOf({
      stateTransitions: 21,
      lambdaRequests: 0,
      lambdaGbSeconds: 0,
      requestUnits: { read: 0, write: 0 },
      eventBridgeEvents: 0,
    });

    // Assess
    expect(per1000Tasks([cost.total])).toBeCloseTo(0.525, 12);
  });
});

describe('per 1,000 tasks and ratios', () => {
  it('takes the mean cost of a goal times 1,000', () => {
    // Act + Assess
    expect(per1000Tasks([0.001, 0.003])).toBeCloseTo(2, 12);
    expect(() => per1000Tasks([])).toThrow(/No measured goal/);
  });

  it('averages each infrastructure part', () => {
    // Prepare
    const part = (total: number) => ({
      stepFunctions: total,
      lambdaRequests: 0,
      lambdaDuration: 0,
      dynamodbReads: 0,
      dynamodbWrites: 0,
      eventBridge: 0,
      total,
    });

    // Act
    const mean = infrastructurePer1000Tasks([part(0.001), part(0.002)]);

    // Assess
    expect(mean.stepFunctions).toBeCloseTo(1.5, 12);
    expect(mean.total).toBeCloseTo(1.5, 12);
  });

  it('divides the routed policies by the single-model ones, null for a policy that did not run', () => {
    // Act
    const ratios = costRatios({ largestOnly: 280, midOnly: 120, routed: 40, routedCached: 35 });
    const partial = costRatios({ routed: 40, routedCached: 35 });

    // Assess
    expect(ratios.routedCachedToMidOnly).toBeCloseTo(35 / 120, 12);
    expect(ratios.routedCachedToLargestOnly).toBeCloseTo(0.125, 12);
    expect(ratios.routedToMidOnly).toBeCloseTo(1 / 3, 12);
    expect(partial).toEqual({
      routedCachedToMidOnly: null,
      routedCachedToLargestOnly: null,
      routedToMidOnly: null,
    });
  });
});

describe('billing units', () => {
  it('bills Lambda duration rounded up to the millisecond, times memory in GB', () => {
    // Act + Assess: 100.2 ms at 512 MB = 0.101 s x 0.5 GB
    expect(gbSeconds(100.2, 512)).toBeCloseTo(0.0505, 12);
    expect(gbSeconds(1000, 1024)).toBe(1);
  });

  it('meters bus events in 64 KB chunks', () => {
    // Act + Assess
    expect(eventChunks(500)).toBe(1);
    expect(eventChunks(65_536)).toBe(1);
    expect(eventChunks(65_537)).toBe(2);
    expect(eventChunks(256 * 1024)).toBe(4);
  });
});
