/**
 * The agent's EMF metrics through the one Powertools Metrics instance: tokens and cost per model call, latency and
 * errors per tool call, breaker opens, loop detections and budget stops. Dimensions are low-cardinality only (tier,
 * actionGroup, function, kind, stopReason): never a session or tenant id.
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StopReason } from '../agent/stop-reasons';
import { metrics } from '../runtime/powertools';
import type { ModelCall, ToolCall } from './trace-records';

/**
 * Adds the dimensions as a set of their own beside `[service]` alone: each metric is published by its dimensions
 * and as the service's total, the one an alarm names (an alarm matches a metric's full dimension set). An empty
 * set is Powertools' way to publish the default dimensions alone (checked on 2.36 in test/unit/log-lines.test.ts).
 */
const dimensionsWithTotal = (
  target: Pick<Metrics, 'addDimensions'>,
  dimensions: Record<string, string>,
): void => {
  if (Object.keys(dimensions).length > 0) target.addDimensions(dimensions);
  target.addDimensions({});
};

/** Stops for spend: the session's budgets and the tenant's daily cap or pause. */
const BUDGET_STOPS: readonly StopReason[] = [
  'usd_budget',
  'token_budget',
  'tenant_daily_cap',
  'tenant_paused',
];

/** A model call that was answered (and billed): its tokens and cost, by tier. A refused attempt has no usage. */
export const addModelCallMetrics = (call: ModelCall): void => {
  if (call.outcome !== 'ok' && call.outcome !== 'unusable') return;
  dimensionsWithTotal(metrics, { tier: call.tier ?? 'unknown' });
  metrics.addMetric('ModelCalls', MetricUnit.Count, 1);
  metrics.addMetric('InputTokens', MetricUnit.Count, call.tokens.input);
  metrics.addMetric('OutputTokens', MetricUnit.Count, call.tokens.output);
  metrics.addMetric('CacheReadTokens', MetricUnit.Count, call.tokens.cacheRead);
  metrics.addMetric('CacheWriteTokens', MetricUnit.Count, call.tokens.cacheWrite);
  metrics.addMetric('CostMicros', MetricUnit.Count, call.costMicros);
};

/**
 * A tool call's latency and whether it failed, by action group and function. A call to a tool the agent does not
 * have is counted under `unknown`: its name is whatever the model sent, unbounded.
 */
export const addToolCallMetrics = (call: ToolCall): void => {
  const known = call.actionGroup !== null;
  dimensionsWithTotal(metrics, {
    actionGroup: call.actionGroup ?? 'unknown',
    function: known ? call.function : 'unknown',
  });
  metrics.addMetric('ToolCalls', MetricUnit.Count, 1);
  metrics.addMetric('ToolLatency', MetricUnit.Milliseconds, call.latencyMs ?? 0);
  metrics.addMetric('ToolErrors', MetricUnit.Count, call.outcome === 'succeeded' ? 0 : 1);
};

/** One metric with its own dimensions, published at once (Powertools' singleMetric). */
const countOne = (name: string, dimensions: Record<string, string>): void => {
  const single = metrics.singleMetric();
  dimensionsWithTotal(single, dimensions);
  single.addMetric(name, MetricUnit.Count, 1);
};

/** A circuit breaker opened (or reopened after a failed probe), by kind: tool or model. */
export const countBreakerOpen = (kind: 'tool' | 'model'): void => countOne('BreakerOpens', { kind });

/** A session stopped: a loop counts under LoopDetections, a spend stop under BudgetStops by its reason. */
export const countStop = (reason: StopReason): void => {
  if (reason === 'loop_detected') countOne('LoopDetections', {});
  if (BUDGET_STOPS.includes(reason)) countOne('BudgetStops', { stopReason: reason });
};
