/**
 * The single table, defined once: each item type's zod schema, the key builder next to it, and the parse every
 * read goes through. zod rather than dynamodb-toolbox: zod is already the project's boundary library, and the
 * store's conditional/transactional requests are few and hand-written, so an entity layer would add a dependency
 * and a second schema language without removing code.
 */
import type { ContentBlock } from '@aws-sdk/client-bedrock-runtime';
import * as z from 'zod';
import { constraintsSchema, dataClassificationSchema } from '../contracts/goal-events';
import { StoreItemError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';

export interface TableKey {
  pk: string;
  sk: string;
}

const pad = (n: number, width = 4): string => String(n).padStart(width, '0');

export const sessionPk = (tenantId: string, sessionId: string): string => `T#${tenantId}#S#${sessionId}`;
export const tenantPk = (tenantId: string): string => `T#${tenantId}`;
export const SESSION_SK = 'META' as const;
export const MESSAGE_PREFIX = 'M#';
export const TOOL_CALL_PREFIX = 'C#';
export const REPORT_PREFIX = 'REPORT#';
export const RESULT_PART_PREFIX = 'R#';
export const LAST_KNOWN_GOOD_PREFIX = 'LKG#';
export const TENANT_POLICY_SK = 'POLICY' as const;
export const TENANT_DAY_PREFIX = 'SPEND#';
export const BREAKER_PREFIX = 'BREAKER#';
export const BREAKER_STATE_SK = 'STATE' as const;
export const BREAKER_WINDOW_PREFIX = 'W#';
/** Sorts after R# (result parts): the conversation's Query (sk < R#) never reads approvals. */
export const APPROVAL_PREFIX = 'X#';
export const SESSION_INDEX = 'gsi1';
export const SESSION_INDEX_PREFIX = 'SESSION#';

/** Every item's pk/sk is built here and nowhere else. */
export const keys = {
  /** Session header: status, counters, budget, version. */
  session: (tenantId: string, sessionId: string) => ({
    pk: sessionPk(tenantId, sessionId),
    sk: SESSION_SK as typeof SESSION_SK,
  }),
  /** One conversation message; turn 0 is the goal, turn n >= 1 the model's n-th answer. */
  message: (tenantId: string, sessionId: string, turn: number): TableKey => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `${MESSAGE_PREFIX}${pad(turn)}`,
  }),
  /** One tool call of a turn; `index` keeps the model's order of toolUse blocks. */
  toolCall: (tenantId: string, sessionId: string, turn: number, index: number): TableKey => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `${TOOL_CALL_PREFIX}${pad(turn)}#${pad(index, 2)}`,
  }),
  /** A tool call's approval (task token, deadline, decision), by the call's id (the model's toolUseId). */
  approval: (tenantId: string, sessionId: string, callId: string): TableKey => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `${APPROVAL_PREFIX}${callId}`,
  }),
  /** A report stored by the billing action group's create_optimization_report. */
  report: (tenantId: string, reportId: string): TableKey => ({
    pk: tenantPk(tenantId),
    sk: `${REPORT_PREFIX}${reportId}`,
  }),
  /** A tool's last good answer for one tenant (its `x-fallback: lastKnownGood`); never read across tenants. */
  lastKnownGood: (tenantId: string, tool: string): TableKey => ({
    pk: tenantPk(tenantId),
    sk: `${LAST_KNOWN_GOOD_PREFIX}${tool}`,
  }),
  /** One part of a tool result too large for its tool-call item (parts 0..n-1, in order). */
  resultPart: (tenantId: string, sessionId: string, turn: number, index: number, part: number): TableKey => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `${RESULT_PART_PREFIX}${pad(turn)}#${pad(index, 2)}#${pad(part, 3)}`,
  }),
  /** A tenant's policy: budgets, daily cap, default data class, allowed agents, and whether it is paused. */
  tenantPolicy: (tenantId: string) => ({
    pk: tenantPk(tenantId),
    sk: TENANT_POLICY_SK as typeof TENANT_POLICY_SK,
  }),
  /** A tenant's spend on one UTC day (YYYY-MM-DD): the daily cap's ledger, reserved and settled atomically. */
  tenantDay: (tenantId: string, day: string): TableKey => ({
    pk: tenantPk(tenantId),
    sk: `${TENANT_DAY_PREFIX}${day}`,
  }),
  /** A circuit breaker's state, shared by every execution of the stage: one per tool and per model. */
  breaker: (kind: BreakerKind, name: string): TableKey => ({
    pk: `${BREAKER_PREFIX}${kind}#${name}`,
    sk: BREAKER_STATE_SK,
  }),
  /** One bucket of a breaker's rolling window (calls and failures that started in it); expires with TTL. */
  breakerWindow: (kind: BreakerKind, name: string, bucketStartMs: number): TableKey => ({
    pk: `${BREAKER_PREFIX}${kind}#${name}`,
    sk: `${BREAKER_WINDOW_PREFIX}${String(bucketStartMs).padStart(15, '0')}`,
  }),
  /** GSI1 entry that lists a tenant's sessions, newest last. */
  sessionIndex: (tenantId: string, createdAt: string, sessionId: string) => ({
    gsi1pk: tenantPk(tenantId),
    gsi1sk: `${SESSION_INDEX_PREFIX}${createdAt}#${sessionId}`,
  }),
} as const;

export type BreakerKind = 'tool' | 'model';

// --- Session header ---

/**
 * paused: its tenant was paused (an operator, or its daily cap): the session stopped at a turn boundary with its
 * state saved and resumes with `resume` once the tenant is resumed. It ends an execution like a terminal status.
 */
/** awaiting_approval: running, with at least one tool call waiting for a person's decision (pendingApprovals). */
export const sessionStatusSchema = z.enum([
  'pending',
  'running',
  'awaiting_approval',
  'completed',
  'stopped',
  'failed',
  'paused',
]);
export type SessionStatus = z.infer<typeof sessionStatusSchema>;
export const TERMINAL_STATUSES: readonly SessionStatus[] = ['completed', 'stopped', 'failed', 'paused'];

export const sessionLimitsSchema = z.object({
  maxTurns: z.number().int().min(1),
  tokenBudget: z.number().int().min(1),
  usdBudget: z.number().positive(),
  latencyToleranceMs: z.number().int().positive(),
  dataClassification: dataClassificationSchema,
  /** The tenant's daily cap when the session was accepted (its policy's dailyCapUsd); absent: no daily cap. */
  tenantDailyCapUsd: z.number().positive().optional(),
  /** The goal's own approval timeout (shorter than the profile's only: tool-policy approvalTimeoutSeconds). */
  approvalTimeoutSeconds: z.number().int().min(1).optional(),
});
export type SessionLimits = z.infer<typeof sessionLimitsSchema>;

const count = z.number().int().min(0);

/** DynamoDB string and number sets come back as JS Sets: the schemas read them as arrays. */
const setToArray = (value: unknown): unknown => (value instanceof Set ? [...value] : value);

/** A budget reservation: what it holds on the session (micro-dollars, tokens) and on a tenant day, until when. */
export const reservationSchema = z.object({
  micros: count,
  tokens: count,
  /** The UTC day whose tenant ledger holds `dayMicros` for it (sessions with a daily cap only). */
  day: z.string().optional(),
  dayMicros: count.optional(),
  /** Epoch ms after which the reservation is a crashed step's: the session's next reserve releases it. */
  expiresAt: z.number(),
});
export type Reservation = z.infer<typeof reservationSchema>;

export const sessionItemSchema = z.object({
  pk: z.string(),
  sk: z.literal(SESSION_SK),
  entity: z.literal('session'),
  tenantId: z.string(),
  sessionId: z.string(),
  agent: z.string(),
  goal: z.string(),
  context: z.record(z.string(), z.unknown()).optional(),
  requested: constraintsSchema.optional(),
  limits: sessionLimitsSchema,
  status: sessionStatusSchema,
  /** Tool calls waiting for a person (status awaiting_approval while above 0). */
  pendingApprovals: count.optional(),
  /** Last committed model turn (0 before the first Converse call). */
  turn: count,
  tokensInput: count,
  tokensOutput: count,
  tokensCacheRead: count,
  tokensCacheWrite: count,
  costUsd: z.number().min(0),
  /** The session's cost in integer micro-dollars (model, tool and infrastructure), updated atomically. */
  costMicros: count.optional(),
  toolCalls: count,
  models: z.record(z.string(), count),
  /** Model calls per provider ("bedrock", "sagemaker"). */
  providers: z.record(z.string(), count).optional(),
  /** Tokens and micro-dollars per model id. */
  modelUsage: z
    .record(
      z.string(),
      z.object({
        calls: count,
        input: count,
        output: count,
        cacheRead: count,
        cacheWrite: count,
        costMicros: count,
      }),
    )
    .optional(),
  /**
   * The budget ledger (store/budget-ledger.ts): micro-dollars and tokens left after settled spend and live
   * reservations. A reservation is a conditional decrement of these (DynamoDB conditions cannot add, so the
   * remainder is kept, not derived); absent on a session created before them: the limits are the remainder.
   */
  remainingMicros: z.number().int().optional(),
  remainingTokens: z.number().int().optional(),
  /** Live reservations by id (a Plan's per turn, a RunTool's per call), each released at settlement or expiry. */
  reservations: z.record(z.string(), reservationSchema).optional(),
  /** Session cost alerts already sent, as "<percent>@<budgetMicros>": once each per budget (a string set). */
  costAlerts: z.preprocess(setToArray, z.array(z.string())).optional(),
  runs: count,
  eventId: z.string(),
  executionArn: z.string().optional(),
  output: z.string().optional(),
  stopReason: z.string().optional(),
  /** Why the session failed: the error type, its message, and the workflow step it happened in (when known). */
  error: z
    .object({ type: z.string(), message: z.string(), at: z.string(), step: z.string().optional() })
    .optional(),
  /** Tool calls recorded failed or unknown (toolCalls counts them all). */
  failedToolCalls: count.optional(),
  /** sha256 of the goal event's detail as accepted: a goalId reused with another goal is refused. */
  goalHash: z.string().optional(),
  /**
   * The execution whose start intake counted: of concurrent deliveries of one goal (StartExecution answers each
   * with the same execution), only the one whose conditional write set this reports `started`.
   */
  startCountedFor: z.string().optional(),
  /** The run a resume was accepted for (`runs` at the time): a second resume of the same run is refused. */
  resumeRequestedForRun: count.optional(),
  /** The resume event that holds that claim: its own redelivery (or intake's retry) may go on, another may not. */
  resumeEventId: z.string().optional(),
  /** The session's turn when the current execution began (continue-as-new counts this execution's turns). */
  runStartTurn: count.optional(),
  /** Lifecycle events already published for this session (by deterministic event id), so a replay sends none. */
  publishedEvents: z.array(z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.number(),
  gsi1pk: z.string(),
  gsi1sk: z.string(),
});
export type SessionItem = z.infer<typeof sessionItemSchema>;

// --- Tenants: policy and daily spend ---

export const tenantPolicyItemSchema = z.object({
  pk: z.string(),
  sk: z.literal(TENANT_POLICY_SK),
  entity: z.literal('tenantPolicy'),
  tenantId: z.string(),
  /** Per-session defaults a goal's constraints may lower (never raise above the tenant's cap). */
  sessionUsdBudget: z.number().positive().optional(),
  sessionTokenBudget: z.number().int().positive().optional(),
  /** The tenant's spend cap per UTC day, USD. */
  dailyCapUsd: z.number().positive(),
  defaultDataClassification: dataClassificationSchema.optional(),
  /** Agents this tenant may run; absent: every agent. */
  allowedAgents: z.array(z.string()).optional(),
  /** Paused: new goals are refused and running sessions stop at their next turn. */
  paused: z.boolean().optional(),
  pausedReason: z.string().optional(),
  pausedAt: z.string().optional(),
  updatedAt: z.string(),
});
export type TenantPolicyItem = z.infer<typeof tenantPolicyItemSchema>;

export const tenantDayItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(TENANT_DAY_PREFIX),
  entity: z.literal('tenantDay'),
  tenantId: z.string(),
  day: z.string(),
  /**
   * The cap this ledger was opened with (micro-dollars); `tenant set` moves `remainingMicros` by the change. Absent
   * (with remainingMicros) on the day of a tenant without a daily cap, whose spend is recorded all the same.
   */
  capMicros: count.optional(),
  /** Settled spend. */
  spentMicros: count,
  /** capMicros - spentMicros - live reservations: a reservation is a conditional decrement of this. */
  remainingMicros: z.number().int().optional(),
  tokens: count.optional(),
  /** Thresholds (50, 80, 100 %) whose alert was sent, each once (a number set: claimed by a conditional ADD). */
  alertedPercents: z.preprocess(setToArray, z.array(z.number().int())).optional(),
  updatedAt: z.string(),
  expiresAt: z.number(),
});
export type TenantDayItem = z.infer<typeof tenantDayItemSchema>;

// --- Conversation messages (turns) ---

/** Converse content blocks are stored as the SDK gave them; only their being objects is checked here. */
const contentBlockSchema = z.custom<ContentBlock>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'a content block must be an object',
);

export const tokenUsageSchema = z.object({
  input: count,
  output: count,
  cacheRead: count,
  cacheWrite: count,
});

export const messageItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(MESSAGE_PREFIX),
  entity: z.literal('message'),
  turn: count,
  role: z.enum(['user', 'assistant']),
  /** The agent that planned an assistant turn: RunTool reads the agent's tools from the message it already reads. */
  agent: z.string().optional(),
  content: z.array(contentBlockSchema),
  modelId: z.string().optional(),
  tier: z.string().optional(),
  /** Which provider served the turn: "bedrock" or "sagemaker". */
  provider: z.string().optional(),
  /** The step kind routing saw (plan, extract, summarize, verify, format). */
  stepKind: z.string().optional(),
  routeReason: z.string().optional(),
  /** The turn's cost in integer micro-dollars (model plus the turn's infrastructure). */
  costMicros: count.optional(),
  usage: tokenUsageSchema.optional(),
  costUsd: z.number().optional(),
  latencyMs: z.number().optional(),
  stopReason: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.number(),
});
export type MessageItem = z.infer<typeof messageItemSchema>;

// --- Tool calls ---

/** `unknown`: a side-effecting call whose outcome was lost past every retry (it may have happened). */
export const toolCallStatusSchema = z.enum(['started', 'succeeded', 'failed', 'unknown']);
export type ToolCallStatus = z.infer<typeof toolCallStatusSchema>;
/**
 * schema: parameters break the schema; unknown_tool; tool: the action group answered FAILURE or REPROMPT;
 * invocation: the Lambda failed past its retries; circuit_open: refused by an open breaker, never invoked;
 * limit: over the per-turn tool-call cap, never invoked; lost: the outcome of an invocation was lost.
 */
export const toolErrorKindSchema = z.enum([
  'schema',
  'unknown_tool',
  'tool',
  'invocation',
  'circuit_open',
  'limit',
  'lost',
  /** The session's budget could not fund the call's reservation: never invoked, and Plan stops for the budget. */
  'budget',
  /** The input named a tenant other than the session's: never invoked, logged as a security event. */
  'cross_tenant',
  /** The profile's allow-list does not name the tool: never invoked (a tool_not_allowed security event). */
  'not_allowed',
  /** The tool requires approval and a person denied it, or nobody decided before the approval expired. */
  'denied',
  'expired',
]);
export type ToolErrorKind = z.infer<typeof toolErrorKindSchema>;

export const toolCallItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(TOOL_CALL_PREFIX),
  entity: z.literal('toolCall'),
  turn: count,
  index: count,
  toolUseId: z.string(),
  name: z.string(),
  actionGroup: z.string().optional(),
  input: z.unknown(),
  inputHash: z.string(),
  /** Safe coercions applied before validation (JSON pointer, value before and after); `input` is as the model sent it. */
  coercions: z.array(z.object({ pointer: z.string(), from: z.unknown(), to: z.unknown() })).optional(),
  /** The breaker state this call saw (and whether it was the half-open probe). */
  breaker: z
    .object({ state: z.enum(['closed', 'open', 'half_open']), probe: z.boolean().optional() })
    .optional(),
  /** What answered instead of the tool: another tool, a static or the last known good response. */
  fallback: z
    .object({
      kind: z.enum(['tool', 'static', 'last_known_good']),
      tool: z.string().optional(),
      reason: z.string(),
    })
    .optional(),
  /** Epoch ms until which the attempt that claimed the call owns it; a later attempt may take it over after. */
  leaseUntil: z.number().optional(),
  /** The full result is stored in this many parts (keys.resultPart) because it is too large for this item. */
  resultParts: count.optional(),
  status: toolCallStatusSchema,
  errorKind: toolErrorKindSchema.optional(),
  /** The text fed back to the model as the toolResult. */
  result: z.string().optional(),
  resultHash: z.string().optional(),
  /** RunTool step attempts that claimed this call (more than 1 after a crash or a Step Functions retry). */
  attempts: count,
  /** Action-group Lambda invocations made for it (retries with full jitter included); 0 if never invoked. */
  invocations: count.optional(),
  latencyMs: z.number().optional(),
  idempotencyKey: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  expiresAt: z.number(),
});
export type ToolCallItem = z.infer<typeof toolCallItemSchema>;

// --- Last known good answers (a tool fallback) ---

export const lastKnownGoodItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(LAST_KNOWN_GOOD_PREFIX),
  entity: z.literal('lastKnownGood'),
  tenantId: z.string(),
  tool: z.string(),
  /** The result text the model saw for the call that wrote it. */
  result: z.string(),
  sessionId: z.string(),
  /** When it was recorded, epoch ms. */
  at: z.number(),
  expiresAt: z.number(),
});
export type LastKnownGoodItem = z.infer<typeof lastKnownGoodItemSchema>;

// --- Reports (written by the billing action group) ---

export const reportItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(REPORT_PREFIX),
  entity: z.literal('report'),
  tenantId: z.string(),
  reportId: z.string(),
  sessionId: z.string(),
  title: z.string(),
  findings: z.array(z.string()),
  body: z.string(),
  createdAt: z.string(),
  idempotencyKey: z.string(),
});
export type ReportItem = z.infer<typeof reportItemSchema>;

/**
 * Parses an item read from the table (GetItem, Query, ALL_NEW or ALL_OLD). A shape that does not fit its schema
 * is a bug or a migration gap: it fails here, naming the item's key and every issue, not as a TypeError later.
 */
export const parseItem = <S extends z.ZodType>(schema: S, item: unknown, key?: TableKey): z.infer<S> => {
  const parsed = schema.safeParse(item);
  if (parsed.success) return parsed.data;
  const raw = (typeof item === 'object' && item !== null ? item : {}) as Partial<Record<string, unknown>>;
  const where = key ?? { pk: String(raw.pk ?? '?'), sk: String(raw.sk ?? '?') };
  const issues = zodIssues(parsed.error);
  throw new StoreItemError(
    `Item ${where.pk} / ${where.sk} does not fit its schema: ${issues.join('; ')}`,
    issues,
    {
      cause: parsed.error,
    },
  );
};

export const approvalStatusSchema = z.enum(['pending', 'approved', 'denied', 'expired']);
export type ApprovalStatus = z.infer<typeof approvalStatusSchema>;

/** A tool call waiting for (or decided by) a person: RequestApproval writes it, ApprovalDecision and RunTool settle it. */
export const approvalItemSchema = z.object({
  pk: z.string(),
  sk: z.string().startsWith(APPROVAL_PREFIX),
  entity: z.literal('approval'),
  tenantId: z.string(),
  sessionId: z.string(),
  turn: count,
  index: count,
  callId: z.string(),
  tool: z.string(),
  actionGroup: z.string(),
  input: z.record(z.string(), z.unknown()),
  /** The Step Functions task token of the waiting RequestApproval Task (the latest attempt's). */
  taskToken: z.string(),
  status: approvalStatusSchema,
  requestedAt: z.string(),
  /** Epoch ms after which a decision is refused (the Task's TimeoutSeconds ends it then too). */
  deadline: z.number(),
  decidedBy: z.string().optional(),
  reason: z.string().optional(),
  decidedAt: z.string().optional(),
  /** Set once by RunTool when it took the outcome (the session's pendingApprovals counted down). */
  closedAt: z.string().optional(),
  /** TTL (epoch seconds): the session's. */
  expiresAt: z.number(),
});
export type ApprovalItem = z.infer<typeof approvalItemSchema>;
