/** Per-function configuration, read from the environment once at cold start. */
import { DEFAULT_HISTORY_EVENT_BUDGET } from '../agent/history-budget';
import type { ModelTiers } from '../agent/routing';
import { numberEnv, optionalEnv, requiredEnv } from './env';
import { ConfigError } from './errors';

export const tableConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  tableName: requiredEnv('TABLE_NAME', env),
  sessionTtlDays: numberEnv('SESSION_TTL_DAYS', 90, { min: 1 }, env),
});

export const busConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  busName: requiredEnv('EVENT_BUS_NAME', env),
  source: requiredEnv('EVENT_SOURCE', env),
});

export const modelTiers = (env: NodeJS.ProcessEnv = process.env): ModelTiers => ({
  planner: requiredEnv('MODEL_TIER_PLANNER', env),
  executor: requiredEnv('MODEL_TIER_EXECUTOR', env),
  reader: requiredEnv('MODEL_TIER_READER', env),
  private: requiredEnv('MODEL_TIER_PRIVATE', env),
});

export const toolRetryConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  /** Full-jitter backoff for a failing action group: base 1 s, cap 10 s, 3 tries (mission defaults). */
  baseDelayMs: numberEnv('TOOL_RETRY_BASE_MS', 1000, {}, env),
  maxDelayMs: numberEnv('TOOL_RETRY_MAX_MS', 10_000, {}, env),
  attempts: numberEnv('TOOL_RETRY_ATTEMPTS', 3, { min: 1 }, env),
  timeoutMs: numberEnv('TOOL_TIMEOUT_MS', 3000, { min: 1 }, env),
});

/** PROMPT_CACHING `on` (default) sends cache points to the models whose price says Bedrock caches for them; `off` none. */
export const promptCachingConfig = (env: NodeJS.ProcessEnv = process.env): boolean => {
  const value = optionalEnv('PROMPT_CACHING', 'on', env);
  if (value !== 'on' && value !== 'off') {
    throw new ConfigError(`Environment variable PROMPT_CACHING must be "on" or "off", got "${value}"`);
  }
  return value === 'on';
};

/** HISTORY_EVENT_BUDGET: the estimated history events after which Plan continues the session in a new execution. */
export const historyEventBudget = (env: NodeJS.ProcessEnv = process.env): number =>
  numberEnv('HISTORY_EVENT_BUDGET', DEFAULT_HISTORY_EVENT_BUDGET, { min: 1 }, env);
