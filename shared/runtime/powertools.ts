/**
 * Powertools logger, tracer and metrics: one instance each per Lambda environment, configured from env
 * (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_LOGGER_SAMPLE_RATE, POWERTOOLS_METRICS_NAMESPACE), and
 * every log line passed through the redaction of REDACT_KEYS, emails and card-like numbers (observability/redact).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { redactingReplacer, redactKeysOf } from '../observability/redact';

export const logger = new Logger({
  jsonReplacerFn: redactingReplacer(redactKeysOf(process.env.REDACT_KEYS)),
});
export const tracer = new Tracer();
export const metrics = new Metrics();
