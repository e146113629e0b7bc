/**
 * Trace records: the fields of one model call and one tool call, read alike from what Plan and RunTool store
 * (the `trace` CLI) and from what they just did (the log's trace record), so the two never disagree.
 */
import type { MessageItem, ToolCallItem } from '../store/table';

/** What a model call is known by: a committed turn's message, or the same fields of an attempt that failed. */
export type ModelCallSource = Pick<MessageItem, 'turn'> &
  Partial<
    Pick<
      MessageItem,
      | 'modelId'
      | 'tier'
      | 'provider'
      | 'stepKind'
      | 'usage'
      | 'costUsd'
      | 'costMicros'
      | 'latencyMs'
      | 'stopReason'
    >
  >;

/** `ok`: a usable answer; `unusable`: answered (and paid for) with nothing the loop can use; else the errorKind. */
export type ModelCallOutcome = 'ok' | 'unusable' | string;

export interface ModelCall {
  turn: number;
  modelId: string | null;
  tier: string | null;
  provider: string | null;
  stepKind: string | null;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number };
  costUsd: number;
  costMicros: number;
  latencyMs: number | null;
  stopReason: string | null;
  outcome: ModelCallOutcome;
}

export const modelCallOf = (m: ModelCallSource, outcome: ModelCallOutcome = 'ok'): ModelCall => ({
  turn: m.turn,
  modelId: m.modelId ?? null,
  tier: m.tier ?? null,
  provider: m.provider ?? null,
  stepKind: m.stepKind ?? null,
  tokens: m.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
  costUsd: m.costUsd ?? 0,
  costMicros: m.costMicros ?? 0,
  latencyMs: m.latencyMs ?? null,
  stopReason: m.stopReason ?? null,
  outcome,
});

/** What a tool call is known by: its stored item, or the same fields RunTool just recorded. */
export type ToolCallSource = Pick<ToolCallItem, 'turn' | 'toolUseId' | 'name' | 'status'> &
  Partial<Pick<ToolCallItem, 'actionGroup' | 'errorKind' | 'attempts' | 'invocations' | 'latencyMs'>>;

export interface ToolCall {
  turn: number;
  callId: string;
  /** The OpenAPI operation name (the model's tool name). */
  function: string;
  actionGroup: string | null;
  /** succeeded, failed, unknown (a side effect whose outcome was lost), or started (still leased). */
  outcome: string;
  errorKind: string | null;
  /** Action-group Lambda invocations, retries included (0: never invoked). */
  invocations: number;
  /** RunTool step attempts that claimed the call (more than 1 after a crash or a Step Functions retry). */
  stepAttempts: number;
  latencyMs: number | null;
}

export const toolCallOf = (c: ToolCallSource): ToolCall => ({
  turn: c.turn,
  callId: c.toolUseId,
  function: c.name,
  actionGroup: c.actionGroup ?? null,
  outcome: c.status,
  errorKind: c.errorKind ?? null,
  invocations: c.invocations ?? 0,
  stepAttempts: c.attempts ?? 0,
  latencyMs: c.latencyMs ?? null,
});

export interface SessionKeys {
  sessionId: string;
  tenantId: string;
}

/**
 * The log line of a model call (contract 1 of issue 9). `latencyMs` is the last key, so that Logs Insights'
 * `parse @message '"latencyMs":*'` captures the number and the closing brace, nothing beyond.
 */
export const modelCallLogRecord = (session: SessionKeys, call: ModelCall) => ({
  message: 'Model call',
  sessionId: session.sessionId,
  tenantId: session.tenantId,
  turn: call.turn,
  stepKind: call.stepKind,
  tier: call.tier,
  modelId: call.modelId,
  provider: call.provider,
  costUsd: call.costUsd,
  trace: {
    kind: 'model' as const,
    modelId: call.modelId,
    tier: call.tier,
    provider: call.provider,
    stepKind: call.stepKind,
    inputTokens: call.tokens.input,
    outputTokens: call.tokens.output,
    cacheReadTokens: call.tokens.cacheRead,
    cacheWriteTokens: call.tokens.cacheWrite,
    costUsd: call.costUsd,
    costMicros: call.costMicros,
    stopReason: call.stopReason,
    outcome: call.outcome,
  },
  latencyMs: call.latencyMs ?? 0,
});

/** The log line of a tool call (contract 1 of issue 9): `attempts` counts invocations; `latencyMs` last. */
export const toolCallLogRecord = (session: SessionKeys, call: ToolCall) => ({
  message: 'Tool call',
  sessionId: session.sessionId,
  tenantId: session.tenantId,
  turn: call.turn,
  callId: call.callId,
  actionGroup: call.actionGroup,
  function: call.function,
  outcome: call.outcome,
  attempts: call.invocations,
  trace: {
    kind: 'tool' as const,
    actionGroup: call.actionGroup,
    function: call.function,
    callId: call.callId,
    outcome: call.outcome,
    attempts: call.invocations,
    stepAttempts: call.stepAttempts,
    ...(call.errorKind ? { errorKind: call.errorKind } : {}),
  },
  latencyMs: call.latencyMs ?? 0,
});
