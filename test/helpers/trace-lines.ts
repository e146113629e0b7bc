/** Synthetic Lambda log lines in the shapes of the trace-record contract (Powertools keys first, latencyMs last). */
import { randomUUID } from 'node:crypto';

const powertools = (message: string, fn: string, requestId: string, at: string, level = 'INFO') => ({
  level,
  message,
  timestamp: at,
  service: 'sovereign-agent',
  cold_start: false,
  function_arn: `arn:aws:lambda:us-east-1:000000000000:function:sovereign-agent-local-${fn}`,
  function_memory_size: '512',
  function_name: `sovereign-agent-local-${fn}`,
  function_request_id: requestId,
  sampling_rate: 0,
});

export interface ToolCallLine {
  sessionId: string;
  fn: string;
  latencyMs: number;
  outcome?: string;
  errorKind?: string;
  at?: string;
  requestId?: string;
}

export const toolCallLine = (c: ToolCallLine): string =>
  JSON.stringify({
    ...powertools('Tool call', 'runTool', c.requestId ?? randomUUID(), c.at ?? '2026-12-02T06:00:00.000Z'),
    sessionId: c.sessionId,
    tenantId: 'acme',
    turn: 1,
    callId: `tooluse_${c.fn}`,
    actionGroup: 'billing',
    function: c.fn,
    outcome: c.outcome ?? 'succeeded',
    attempts: 1,
    trace: {
      kind: 'tool',
      actionGroup: 'billing',
      function: c.fn,
      callId: `tooluse_${c.fn}`,
      outcome: c.outcome ?? 'succeeded',
      attempts: 1,
      ...(c.errorKind ? { errorKind: c.errorKind } : {}),
    },
    latencyMs: c.latencyMs,
  });

export const modelCallLine = (c: {
  sessionId: string;
  costUsd: number;
  inputTokens: number;
  latencyMs: number;
}) =>
  JSON.stringify({
    ...powertools('Model call', 'plan', randomUUID(), '2026-12-02T06:00:00.000Z'),
    sessionId: c.sessionId,
    tenantId: 'acme',
    turn: 1,
    stepKind: 'plan',
    tier: 'planner',
    modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
    provider: 'bedrock',
    costUsd: c.costUsd,
    trace: {
      kind: 'model',
      modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
      tier: 'planner',
      provider: 'bedrock',
      stepKind: 'plan',
      inputTokens: c.inputTokens,
      outputTokens: 10,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      costUsd: c.costUsd,
      costMicros: Math.round(c.costUsd * 1e6),
      stopReason: 'tool_use',
      outcome: 'ok',
    },
    latencyMs: c.latencyMs,
  });

export const exceptionLine = (c: { sessionId: string; errorKind: string; fn?: string }) =>
  JSON.stringify({
    ...powertools('Handler failed', 'runTool', randomUUID(), '2026-12-02T06:00:00.000Z', 'ERROR'),
    sessionId: c.sessionId,
    ...(c.fn ? { function: c.fn } : {}),
    errorKind: c.errorKind,
    exception: {
      name: 'ThrottlingException',
      message: 'Rate exceeded',
      stack: 'ThrottlingException: Rate exceeded\n    at x',
    },
  });
