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
  /** A report stored by the billing action group's create_optimization_report. */
  report: (tenantId: string, reportId: string): TableKey => ({
    pk: tenantPk(tenantId),
    sk: `${REPORT_PREFIX}${reportId}`,
  }),
  /** GSI1 entry that lists a tenant's sessions, newest last. */
  sessionIndex: (tenantId: string, createdAt: string, sessionId: string) => ({
    gsi1pk: tenantPk(tenantId),
    gsi1sk: `${SESSION_INDEX_PREFIX}${createdAt}#${sessionId}`,
  }),
} as const;

// --- Session header ---

export const sessionStatusSchema = z.enum(['pending', 'running', 'completed', 'stopped', 'failed']);
export type SessionStatus = z.infer<typeof sessionStatusSchema>;
export const TERMINAL_STATUSES: readonly SessionStatus[] = ['completed', 'stopped', 'failed'];

export const sessionLimitsSchema = z.object({
  maxTurns: z.number().int().min(1),
  tokenBudget: z.number().int().min(1),
  usdBudget: z.number().positive(),
  latencyToleranceMs: z.number().int().positive(),
  dataClassification: dataClassificationSchema,
});
export type SessionLimits = z.infer<typeof sessionLimitsSchema>;

const count = z.number().int().min(0);

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
  /** Last committed model turn (0 before the first Converse call). */
  turn: count,
  tokensInput: count,
  tokensOutput: count,
  tokensCacheRead: count,
  tokensCacheWrite: count,
  costUsd: z.number().min(0),
  toolCalls: count,
  models: z.record(z.string(), count),
  runs: count,
  eventId: z.string(),
  executionArn: z.string().optional(),
  output: z.string().optional(),
  stopReason: z.string().optional(),
  error: z.object({ type: z.string(), message: z.string(), at: z.string() }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.number(),
  gsi1pk: z.string(),
  gsi1sk: z.string(),
});
export type SessionItem = z.infer<typeof sessionItemSchema>;

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
  routeReason: z.string().optional(),
  usage: tokenUsageSchema.optional(),
  costUsd: z.number().optional(),
  latencyMs: z.number().optional(),
  stopReason: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.number(),
});
export type MessageItem = z.infer<typeof messageItemSchema>;

// --- Tool calls ---

export const toolCallStatusSchema = z.enum(['started', 'succeeded', 'failed']);
export type ToolCallStatus = z.infer<typeof toolCallStatusSchema>;
export const toolErrorKindSchema = z.enum(['schema', 'unknown_tool', 'tool', 'invocation']);
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
