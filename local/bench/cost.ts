/**
 * Cost arithmetic of the benchmark: model cost per 1,000 tasks and the ratios between policies, and the
 * infrastructure cost of a task (Step Functions transitions, Lambda requests and GB-s, DynamoDB request units,
 * EventBridge events) from counts measured in the run and the list prices in shared/agent/pricing/infrastructure.json.
 */
import { type InfrastructurePrices, infrastructurePrices } from '../../shared/agent/pricing/infrastructure';
import { BenchError } from './errors';

export { type InfrastructurePrices, infrastructurePrices };

export const POLICY_NAMES = ['largestOnly', 'midOnly', 'routed', 'routedCached'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** DynamoDB request units of a task, as the consumed capacity DynamoDB Local reported for its requests. */
export interface RequestUnits {
  read: number;
  write: number;
}

/** What one task used of each priced infrastructure dimension. */
export interface InfrastructureUsage {
  stateTransitions: number;
  lambdaRequests: number;
  /** Memory of serverless.yml x billed duration measured locally (a local-machine figure). */
  lambdaGbSeconds: number;
  requestUnits: RequestUnits;
  /** Custom events put on the bus, each counted in 64 KB chunks. */
  eventBridgeEvents: number;
}

export interface InfrastructureCost {
  stepFunctions: number;
  lambdaRequests: number;
  lambdaDuration: number;
  dynamodbReads: number;
  dynamodbWrites: number;
  eventBridge: number;
  total: number;
}

export const infrastructureCostOf = (
  usage: InfrastructureUsage,
  p: InfrastructurePrices = infrastructurePrices,
): InfrastructureCost => {
  const parts = {
    stepFunctions: usage.stateTransitions * p.stepFunctions.standardStateTransition.usd,
    lambdaRequests: usage.lambdaRequests * p.lambda.request.usd,
    lambdaDuration: usage.lambdaGbSeconds * p.lambda.armGbSecond.usd,
    dynamodbReads: usage.requestUnits.read * p.dynamodb.onDemandReadRequestUnit.usd,
    dynamodbWrites: usage.requestUnits.write * p.dynamodb.onDemandWriteRequestUnit.usd,
    eventBridge: usage.eventBridgeEvents * p.eventBridge.customEvent.usd,
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
};

/** Each suite goal is one task, weighted equally: the mean cost of a goal times 1,000. */
export const per1000Tasks = (costsUsd: number[]): number => {
  if (costsUsd.length === 0) throw new BenchError('No measured goal to price');
  return (costsUsd.reduce((a, b) => a + b, 0) / costsUsd.length) * 1000;
};

/** Mean per 1,000 tasks of each infrastructure part over the goals. */
export const infrastructurePer1000Tasks = (costs: InfrastructureCost[]): InfrastructureCost => {
  const keys = Object.keys(costs[0] ?? {}) as (keyof InfrastructureCost)[];
  if (keys.length === 0) throw new BenchError('No measured goal to price');
  return Object.fromEntries(
    keys.map((k) => [k, per1000Tasks(costs.map((c) => c[k]))]),
  ) as unknown as InfrastructureCost;
};

export interface CostRatios {
  routedCachedToMidOnly: number | null;
  routedCachedToLargestOnly: number | null;
  routedToMidOnly: number | null;
}

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || b === 0 ? null : a / b;

/** Ratios of the policies' model cost per 1,000 tasks; null when a policy did not run (--policies). */
export const costRatios = (per1000: Partial<Record<PolicyName, number>>): CostRatios => ({
  routedCachedToMidOnly: ratio(per1000.routedCached, per1000.midOnly),
  routedCachedToLargestOnly: ratio(per1000.routedCached, per1000.largestOnly),
  routedToMidOnly: ratio(per1000.routed, per1000.midOnly),
});

/** Lambda billed duration: rounded up to the next millisecond, times the function's memory in GB. */
export const gbSeconds = (durationMs: number, memoryMb: number): number =>
  (Math.ceil(durationMs) / 1000) * (memoryMb / 1024);

/** EventBridge meters an event in 64 KB chunks. */
export const eventChunks = (bytes: number): number => Math.max(1, Math.ceil(bytes / 65_536));
