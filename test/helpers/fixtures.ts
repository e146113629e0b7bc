/** Shared unit-test fixtures: a fake Lambda Context and builders for stored sessions, messages and tool calls. */
import type { ContentBlock, ToolUseBlock } from '@aws-sdk/client-bedrock-runtime';
import type { Context } from 'aws-lambda';
import type { IntakeRules, TenantPolicies } from '../../shared/steps/intake';
import type {
  Conversation,
  MessageItem,
  SessionItem,
  SessionLimits,
  ToolCallItem,
} from '../../shared/store/session-store';
import { keys, type TenantPolicyItem } from '../../shared/store/table';

export const TENANT = 'acme';
export const SESSION = 'acme-audit-0001';
/** The fixed clock of the fixtures: every stored timestamp is this instant. */
export const NOW = new Date('2026-11-27T09:00:00.000Z');
export const AT = NOW.toISOString();
export const EXPIRES_AT = Math.floor(NOW.getTime() / 1000) + 90 * 86_400;
export const GOAL =
  "Audit this tenant's billing logs, find underused resources over the last 30 days, check the contract terms, and draft an optimization report.";

/** The model tiers of serverless.yml's default params, each an entry of shared/agent/models/catalog.json. */
export const TIERS = {
  planner: 'us.anthropic.claude-sonnet-4-6',
  executor: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
  reader: 'us.amazon.nova-lite-v1:0',
  private: 'sagemaker:llama-3-1-8b-instruct',
} as const;

/** The model ids serverless.yml defaulted to before the catalog: a deployed stage would fail on them. */
export const PRE_CATALOG_IDS = {
  planner: 'anthropic.claude-3-5-sonnet-20241022-v2:0',
  executor: 'anthropic.claude-3-5-haiku-20241022-v1:0',
  private: 'sovereign-private',
} as const;

/** A Lambda Context as the runtime passes it, with a remaining time that never runs out. */
export const fakeContext = (overrides: Partial<Context> = {}): Context => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'sovereign-agent-test-fn',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sovereign-agent-test-fn',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sovereign-agent-test-fn',
  logStreamName: '2026/11/27/[$LATEST]abcdef0123456789',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
  ...overrides,
});

export const defaultLimits = (overrides: Partial<SessionLimits> = {}): SessionLimits => ({
  maxTurns: 8,
  tokenBudget: 200_000,
  usdBudget: 1,
  latencyToleranceMs: 30_000,
  dataClassification: 'internal',
  ...overrides,
});

/** A running session of the billing-auditor agent before its first model turn, unless overridden. */
export const sessionItem = (overrides: Partial<SessionItem> = {}): SessionItem => {
  const tenantId = overrides.tenantId ?? TENANT;
  const sessionId = overrides.sessionId ?? SESSION;
  return {
    ...keys.session(tenantId, sessionId),
    sk: 'META',
    entity: 'session',
    tenantId,
    sessionId,
    agent: 'billing-auditor',
    goal: GOAL,
    limits: defaultLimits(),
    status: 'running',
    turn: 0,
    tokensInput: 0,
    tokensOutput: 0,
    tokensCacheRead: 0,
    tokensCacheWrite: 0,
    costUsd: 0,
    toolCalls: 0,
    models: {},
    runs: 1,
    eventId: '4b1c6e39-5f0e-4a43-9d55-2f0d8a1e7c10',
    executionArn: `arn:aws:states:us-east-1:123456789012:execution:agent-goal:${tenantId}-${sessionId}`,
    createdAt: AT,
    updatedAt: AT,
    expiresAt: EXPIRES_AT,
    ...keys.sessionIndex(tenantId, AT, sessionId),
    ...overrides,
  };
};

export interface ToolUseSpec {
  toolUseId: string;
  name: string;
  /** The model's input; defaults to a valid input for the billing tools. */
  input?: ToolUseBlock['input'];
}

export const toolUseBlock = (use: ToolUseSpec): ContentBlock => ({
  toolUse: { toolUseId: use.toolUseId, name: use.name, input: use.input ?? { tenant_id: TENANT } },
});

export const messageItem = (
  fields: Pick<MessageItem, 'turn' | 'role' | 'content'> & Partial<MessageItem>,
  tenantId = TENANT,
  sessionId = SESSION,
): MessageItem => ({
  ...keys.message(tenantId, sessionId, fields.turn),
  entity: 'message',
  createdAt: AT,
  expiresAt: EXPIRES_AT,
  ...fields,
});

/** Turn 0: the goal as the user message intake stores. */
export const goalItem = (text = `Tenant: ${TENANT}\nAgent: billing-auditor\nGoal: ${GOAL}`): MessageItem =>
  messageItem({ turn: 0, role: 'user', content: [{ text }] });

/** An assistant turn that only answers in text (the model is done). */
export const assistantText = (turn: number, text: string): MessageItem =>
  messageItem({ turn, role: 'assistant', content: [{ text }], modelId: TIERS.executor, tier: 'executor' });

/** An assistant turn that asks for tools, with an optional lead-in text block as models usually send. */
export const assistantToolUses = (turn: number, uses: ToolUseSpec[], text?: string): MessageItem =>
  messageItem({
    turn,
    role: 'assistant',
    agent: 'billing-auditor',
    content: [...(text ? [{ text }] : []), ...uses.map(toolUseBlock)],
    modelId: TIERS.planner,
    tier: 'planner',
  });

export const toolCallItem = (
  fields: Pick<ToolCallItem, 'turn' | 'index' | 'toolUseId' | 'name'> & Partial<ToolCallItem>,
  tenantId = TENANT,
  sessionId = SESSION,
): ToolCallItem => ({
  ...keys.toolCall(tenantId, sessionId, fields.turn, fields.index),
  entity: 'toolCall',
  input: { tenant_id: tenantId },
  inputHash: 'input-hash',
  status: 'succeeded',
  result: '{"ok":true}',
  resultHash: 'result-hash',
  attempts: 1,
  idempotencyKey: `idem-${fields.turn}-${fields.index}`,
  startedAt: AT,
  finishedAt: AT,
  expiresAt: EXPIRES_AT,
  ...fields,
});

export const conversationOf = (
  session: SessionItem,
  messages: MessageItem[] = [goalItem()],
  toolCalls: ToolCallItem[] = [],
): Conversation => ({ session, messages, toolCalls });

/** The items a Query over the session's partition returns, in key order as DynamoDB would. */
export const partitionItems = (conversation: Conversation): Record<string, unknown>[] =>
  [conversation.session, ...conversation.messages, ...conversation.toolCalls]
    .map((item) => ({ ...item }) as Record<string, unknown>)
    .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : String(a.sk) > String(b.sk) ? 1 : 0));

/** A stored tenant policy (the sample tenants' shape), with overrides. */
export const tenantPolicy = (
  tenantId = TENANT,
  overrides: Partial<TenantPolicyItem> = {},
): TenantPolicyItem => ({
  ...keys.tenantPolicy(tenantId),
  entity: 'tenantPolicy',
  tenantId,
  dailyCapUsd: 25,
  updatedAt: AT,
  ...overrides,
});

/** Intake's tenant policies for unit tests: the given policies by tenant, or every tenant with a default one. */
export const fakeTenantPolicies = (policies?: Record<string, TenantPolicyItem>): TenantPolicies => ({
  getPolicy: async (tenantId) => (policies ? policies[tenantId] : tenantPolicy(tenantId)),
});

/** Intake's rules as the stage's defaults set them (32 KiB contexts, no default policy). */
export const intakeRules = (overrides: Partial<IntakeRules> = {}): IntakeRules => ({
  maxContextBytes: 32 * 1024,
  ...overrides,
});

/** A tool result's content as the model gets it: `text` inside its opening and closing data-block delimiters. */
export const dataBlock = (text: string) => [
  { text: expect.stringMatching(/^<tool_output nonce="[0-9a-f]{16}">$/) },
  { text },
  { text: expect.stringMatching(/^<\/tool_output nonce="[0-9a-f]{16}">$/) },
];
