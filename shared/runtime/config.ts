/** Per-function configuration, read from the environment once at cold start. */

import type { ModelTiers } from '../agent/routing';
import { numberEnv, requiredEnv } from './env';

export const tableConfig = () => ({
  tableName: requiredEnv('TABLE_NAME'),
  sessionTtlDays: numberEnv('SESSION_TTL_DAYS', 90),
});

export const busConfig = () => ({
  busName: requiredEnv('EVENT_BUS_NAME'),
  source: requiredEnv('EVENT_SOURCE'),
});

export const modelTiers = (): ModelTiers => ({
  planner: requiredEnv('MODEL_TIER_PLANNER'),
  executor: requiredEnv('MODEL_TIER_EXECUTOR'),
  reader: requiredEnv('MODEL_TIER_READER'),
  private: requiredEnv('MODEL_TIER_PRIVATE'),
});

export const toolRetryConfig = () => ({
  /** Full-jitter backoff for a failing action group: base 1 s, cap 10 s, 3 tries (mission defaults). */
  baseDelayMs: numberEnv('TOOL_RETRY_BASE_MS', 1000),
  maxDelayMs: numberEnv('TOOL_RETRY_MAX_MS', 10_000),
  attempts: numberEnv('TOOL_RETRY_ATTEMPTS', 3),
  timeoutMs: numberEnv('TOOL_TIMEOUT_MS', 3000),
});
