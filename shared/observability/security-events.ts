/** Security events: one WARN log line `"Security event"` with a `securityEvent` object, and the EMF metric `SecurityEvents` by `type`. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '../runtime/powertools';

/** The kinds of security event; the metric's only dimension, so it stays low-cardinality. */
export const SECURITY_EVENT_TYPES = [
  'cross_tenant_call',
  'tool_not_allowed',
  'guardrail_intervened',
  'input_limit',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

export const SECURITY_EVENT_METRIC = 'SecurityEvents';

/**
 * Logs one security event and counts it. The metric is a single-metric EMF blob flushed at once, so the `type`
 * dimension does not leak onto the step's other metrics (Powertools `singleMetric`). Details go in the log line
 * only (they may name sessions and tenants: high cardinality, never a dimension).
 */
export const logSecurityEvent = (type: SecurityEventType, details: Record<string, unknown>): void => {
  logger.warn('Security event', { securityEvent: { type, ...details } });
  const single = metrics.singleMetric();
  single.addDimension('type', type);
  single.addMetric(SECURITY_EVENT_METRIC, MetricUnit.Count, 1);
};
