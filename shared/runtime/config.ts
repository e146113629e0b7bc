/** Per-function configuration, read from the environment once at cold start. */
import { DEFAULT_HISTORY_EVENT_BUDGET } from '../agent/history-budget';
import { catalogEntry } from '../agent/models';
import type { ModelTiers } from '../agent/routing';
import type { IntakeRules } from '../steps/intake';
import { type DefaultTenantPolicy, defaultTenantPolicySchema } from '../store/tenant-store';
import { numberEnv, optionalEnv, requiredEnv } from './env';
import { ConfigError } from './errors';
import { zodIssues } from './zod-issues';

export const tableConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  tableName: requiredEnv('TABLE_NAME', env),
  sessionTtlDays: numberEnv('SESSION_TTL_DAYS', 90, { min: 1 }, env),
});

export const busConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  busName: requiredEnv('EVENT_BUS_NAME', env),
  source: requiredEnv('EVENT_SOURCE', env),
});

const TIER_VARIABLES = {
  planner: 'MODEL_TIER_PLANNER',
  executor: 'MODEL_TIER_EXECUTOR',
  reader: 'MODEL_TIER_READER',
  private: 'MODEL_TIER_PRIVATE',
} as const;
type TierName = keyof typeof TIER_VARIABLES;

const modelList = (name: string, env: NodeJS.ProcessEnv): [string, ...string[]] => {
  const ids = requiredEnv(name, env)
    .split(',')
    .map((id) => id.trim());
  if (ids.some((id) => id === '')) {
    throw new ConfigError(`Environment variable ${name} has an empty model id in its list`);
  }
  return ids as [string, ...string[]];
};

/**
 * Restricted data never reaches a public model: every model of the private tier (first and fallbacks) must be a
 * catalog entry served by the stage's SageMaker endpoint, or the function fails at cold start naming the variable.
 */
const assertPrivateTier = (ids: string[]): void => {
  const publicIds = ids.filter((id) => catalogEntry(id)?.provider !== 'sagemaker');
  if (publicIds.length > 0) {
    throw new ConfigError(
      `Environment variable ${TIER_VARIABLES.private} lists ${publicIds.join(', ')}, which ` +
        `${publicIds.length === 1 ? 'is not a' : 'are not'} sagemaker-provider entr${publicIds.length === 1 ? 'y' : 'ies'} ` +
        'of shared/agent/models/catalog.json: restricted data may only reach the private endpoint',
    );
  }
};

/**
 * Each tier's model: its variable is one model id or an ordered comma-separated list, the first the tier's model
 * and the rest its fallbacks when that model's breaker is open or it throttles past the SDK's retries.
 */
export const modelTiers = (env: NodeJS.ProcessEnv = process.env): ModelTiers => {
  const tiers = Object.keys(TIER_VARIABLES) as TierName[];
  const lists = Object.fromEntries(
    tiers.map((tier) => [tier, modelList(TIER_VARIABLES[tier], env)]),
  ) as Record<TierName, [string, ...string[]]>;
  assertPrivateTier(lists.private);
  const fallbacks = Object.fromEntries(
    tiers.filter((tier) => lists[tier].length > 1).map((tier) => [tier, lists[tier].slice(1)]),
  );
  return {
    planner: lists.planner[0],
    executor: lists.executor[0],
    reader: lists.reader[0],
    private: lists.private[0],
    ...(Object.keys(fallbacks).length > 0 ? { fallbacks } : {}),
  };
};

/** SageMaker's endpoint-name pattern, lower case only: IAM names the endpoint's ARN, which SageMaker lower-cases. */
const ENDPOINT_NAME = /^[a-z0-9](-*[a-z0-9]){0,62}$/;

/** PRIVATE_MODEL_ENDPOINT: the stage's SageMaker real-time endpoint the private tier's models are served by. */
export const privateModelEndpoint = (env: NodeJS.ProcessEnv = process.env): string => {
  const name = requiredEnv('PRIVATE_MODEL_ENDPOINT', env);
  if (!ENDPOINT_NAME.test(name)) {
    throw new ConfigError(
      `Environment variable PRIVATE_MODEL_ENDPOINT must be a SageMaker endpoint name in lower case ` +
        `(1-63 of a-z, 0-9 and -), got "${name}"`,
    );
  }
  return name;
};

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

/** LOG_PROMPTS `on` logs each model call's prompt and completion at DEBUG (redacted); `off` (default) never. */
export const logPromptsConfig = (env: NodeJS.ProcessEnv = process.env): boolean => {
  const value = optionalEnv('LOG_PROMPTS', 'off', env);
  if (value !== 'on' && value !== 'off') {
    throw new ConfigError(`Environment variable LOG_PROMPTS must be "on" or "off", got "${value}"`);
  }
  return value === 'on';
};

/**
 * BREAKER_MAX_COOLDOWN_SECONDS caps every breaker's cooldown on a stage (a test stage waits seconds, not the
 * configured 30 s); unset, the settings of each tool and model stand.
 */
export const breakerConfig = (env: NodeJS.ProcessEnv = process.env): { maxCooldownSeconds?: number } => {
  const raw = optionalEnv('BREAKER_MAX_COOLDOWN_SECONDS', '', env);
  return raw === ''
    ? {}
    : { maxCooldownSeconds: numberEnv('BREAKER_MAX_COOLDOWN_SECONDS', 0, { min: 0 }, env) };
};
/** HISTORY_EVENT_BUDGET: the estimated history events after which Plan continues the session in a new execution. */
export const historyEventBudget = (env: NodeJS.ProcessEnv = process.env): number =>
  numberEnv('HISTORY_EVENT_BUDGET', DEFAULT_HISTORY_EVENT_BUDGET, { min: 1 }, env);

/**
 * MAX_EVENT_BYTES' default, 96 KiB: a goal of 8000 characters (up to 32,000 UTF-8 bytes) with a 32 KiB context and
 * the envelope fits; EventBridge's own entry limit is 256 KB
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html, read 2026-12-02).
 */
const DEFAULT_MAX_EVENT_BYTES = 96 * 1024;

/**
 * Intake's rules. MAX_EVENT_BYTES and MAX_GOAL_CHARS (default 8000, the event schema's ceiling): an event or goal
 * over them is rejected with its size and the limit. MAX_CONTEXT_BYTES (default 32 KiB): a goal's context is stored in the session item (DynamoDB's
 * 400 KB item limit) and resent in the goal message with every turn; 32 KiB is about 8k tokens, which at a
 * $3/MTok input price costs about $0.025 per turn before caching, a fifth of the $0.125 per turn a default session
 * ($1 over 8 turns) may spend; the 200 KB context found resent every turn cost six times that. DEFAULT_TENANT_POLICY (empty by default): the policy JSON of a tenant that has
 * none stored; empty means such a tenant's goals are refused.
 */
export const intakeConfig = (env: NodeJS.ProcessEnv = process.env): IntakeRules => {
  const raw = optionalEnv('DEFAULT_TENANT_POLICY', '', env);
  let defaultTenantPolicy: DefaultTenantPolicy | undefined;
  if (raw !== '') {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (error) {
      throw new ConfigError(
        `Environment variable DEFAULT_TENANT_POLICY is not JSON: ${(error as Error).message}`,
      );
    }
    const parsed = defaultTenantPolicySchema.safeParse(json);
    if (!parsed.success) {
      throw new ConfigError(
        `Environment variable DEFAULT_TENANT_POLICY is not a tenant policy: ${zodIssues(parsed.error).join('; ')}`,
      );
    }
    defaultTenantPolicy = parsed.data;
  }
  return {
    maxContextBytes: numberEnv('MAX_CONTEXT_BYTES', 32 * 1024, { min: 1 }, env),
    maxEventBytes: numberEnv('MAX_EVENT_BYTES', DEFAULT_MAX_EVENT_BYTES, { min: 1 }, env),
    maxGoalChars: numberEnv('MAX_GOAL_CHARS', 8000, { min: 1 }, env),
    ...(defaultTenantPolicy ? { defaultTenantPolicy } : {}),
  };
};

/**
 * RunTool's size limits on a tool call. MAX_TOOL_INPUT_BYTES (default 128 KiB): the JSON of the model's input is
 * refused over it before any invocation; above the billing schemas' largest ASCII input (50 findings of 2,000
 * characters), far under Lambda's 6 MB synchronous request payload
 * (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html, read 2026-12-02). MAX_TOOL_OUTPUT_BYTES (default
 * 1 MiB): an action group's answer is cut there with a marker; a synchronous response is at most 6 MB (same page),
 * and RunTool stores at most 50 parts of 20,000 characters, so 1 MiB keeps what is stored whole.
 */
export const toolLimitsConfig = (env: NodeJS.ProcessEnv = process.env) => ({
  maxToolInputBytes: numberEnv('MAX_TOOL_INPUT_BYTES', 128 * 1024, { min: 1 }, env),
  maxToolOutputBytes: numberEnv('MAX_TOOL_OUTPUT_BYTES', 1024 * 1024, { min: 1 }, env),
});

/** A Bedrock guardrail Converse applies to every model call of the stage (Converse's `guardrailConfig`). */
export interface GuardrailSettings {
  guardrailIdentifier: string;
  guardrailVersion: string;
}

/**
 * Converse's GuardrailConfiguration patterns: an id of a-z0-9 or a guardrail ARN, and a version number or DRAFT
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailConfiguration.html, read 2026-12-02).
 */
const GUARDRAIL_ID =
  /^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]+))$/;
const GUARDRAIL_VERSION = /^(([1-9][0-9]{0,7})|(DRAFT))$/;

/**
 * GUARDRAIL_ID and GUARDRAIL_VERSION (stage params guardrailId, guardrailVersion): both empty, no guardrail; both
 * set, Plan sends it with every Bedrock call; one without the other, or a value outside Converse's patterns, fails
 * the cold start naming the variable.
 */
export const guardrailConfig = (env: NodeJS.ProcessEnv = process.env): GuardrailSettings | undefined => {
  const id = optionalEnv('GUARDRAIL_ID', '', env);
  const version = optionalEnv('GUARDRAIL_VERSION', '', env);
  if (id === '' && version === '') return undefined;
  if (id === '' || version === '') {
    throw new ConfigError(
      `Environment variables GUARDRAIL_ID and GUARDRAIL_VERSION go together: ${id === '' ? 'GUARDRAIL_ID' : 'GUARDRAIL_VERSION'} is empty`,
    );
  }
  if (!GUARDRAIL_ID.test(id)) {
    throw new ConfigError(`Environment variable GUARDRAIL_ID must be a guardrail id or ARN, got "${id}"`);
  }
  if (!GUARDRAIL_VERSION.test(version)) {
    throw new ConfigError(
      `Environment variable GUARDRAIL_VERSION must be a version number or DRAFT, got "${version}"`,
    );
  }
  return { guardrailIdentifier: id, guardrailVersion: version };
};
