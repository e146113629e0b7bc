/**
 * CPTO in integer micro-dollars: a model call's tokens at its rates, and the infrastructure of a turn and of a tool
 * call, computed exactly in integers and rounded up once to the whole micro-dollar (a budget is never undercharged).
 */
import {
  type InfrastructurePrices,
  infrastructurePrices,
  type Requests,
  requestCounts,
} from './infrastructure';

/** Token counts of one model call (cache reads and writes apart from plain input). */
export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** Rates in USD per million tokens, which is micro-dollars per token. */
export interface TokenRates {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** Pico-dollars (1e-12 USD) per unit: prices carry at most 6 decimals of a micro-dollar, so this is exact. */
const PICO_PER_MICRO = 1_000_000;
const picos = (microsPerUnit: number): bigint => BigInt(Math.round(microsPerUnit * PICO_PER_MICRO));

/** Whole micro-dollars from pico-dollars, rounded up (ceil): a fraction of a micro-dollar is charged as one. */
const microsUp = (pico: bigint): number =>
  Number((pico + BigInt(PICO_PER_MICRO) - 1n) / BigInt(PICO_PER_MICRO));

/**
 * One model call's cost in micro-dollars: tokens x rate (micro-dollars per token) summed in pico-dollars as
 * integers (BigInt, so no float error at any volume), then rounded up once.
 */
export const costMicros = (usage: TokenUsage, rate: TokenRates): number =>
  microsUp(
    BigInt(usage.input) * picos(rate.input) +
      BigInt(usage.output) * picos(rate.output) +
      BigInt(usage.cacheRead) * picos(rate.cacheRead) +
      BigInt(usage.cacheWrite) * picos(rate.cacheWrite),
  );

/** A micro-dollar figure as the USD users read (derived, never summed). */
export const microsToUsd = (micros: number): number => micros / 1_000_000;

/** A USD budget as whole micro-dollars, rounded down: the budget is never overstated. */
export const usdToMicros = (usd: number): number => Math.floor(Math.round(usd * 1e12) / 1e6);

/** Counts carry at most two decimals (3.02 requests per call): hundredths keep them integer. */
const hundredths = (count: number): bigint => BigInt(Math.round(count * 100));
const usdPicos = (usd: number): bigint => BigInt(Math.round(usd * 1e12));

/** The infrastructure cost of `requests`, in micro-dollars rounded up. */
export const infrastructureMicros = (
  requests: Requests,
  prices: InfrastructurePrices = infrastructurePrices,
): number => {
  const pico =
    hundredths(requests.stateTransitions) * usdPicos(prices.stepFunctions.standardStateTransition.usd) +
    hundredths(requests.lambdaRequests) * usdPicos(prices.lambda.request.usd) +
    hundredths(requests.lambdaGbSeconds) * usdPicos(prices.lambda.armGbSecond.usd) +
    hundredths(requests.dynamodbRequests) * usdPicos(prices.dynamodb.onDemandWriteRequestUnit.usd) +
    hundredths(requests.events) * usdPicos(prices.eventBridge.customEvent.usd);
  return microsUp((pico + 99n) / 100n);
};

/** A model turn's infrastructure: Step Functions transitions, Plan's Lambda and its DynamoDB requests. */
export const TURN_INFRASTRUCTURE_MICROS = infrastructureMicros(requestCounts.perTurn);
/** A tool call's infrastructure: its transition, RunTool and the action group, and its DynamoDB requests. */
export const TOOL_CALL_INFRASTRUCTURE_MICROS = infrastructureMicros(requestCounts.perToolCall);
