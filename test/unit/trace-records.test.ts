/** Trace records: the fields of a model call and a tool call, shared by the log line and the `trace` CLI. */
import { buildTrace } from '../../local/cli/inspect';
import {
  modelCallLogRecord,
  modelCallOf,
  toolCallLogRecord,
  toolCallOf,
} from '../../shared/observability/trace-records';
import {
  assistantToolUses,
  conversationOf,
  goalItem,
  messageItem,
  SESSION,
  sessionItem,
  TENANT,
  TIERS,
  toolCallItem,
} from '../helpers/fixtures';

const session = { sessionId: SESSION, tenantId: TENANT };
const usage = { input: 1200, output: 80, cacheRead: 900, cacheWrite: 300 };

describe('modelCallLogRecord', () => {
  it('carries the contract fields at the top level and in trace, latencyMs last', () => {
    // Prepare
    const message = messageItem({
      turn: 2,
      role: 'assistant',
      content: [{ text: 'done' }],
      modelId: TIERS.executor,
      tier: 'executor',
      provider: 'bedrock',
      stepKind: 'extract',
      usage,
      costUsd: 0.0021,
      costMicros: 2100,
      latencyMs: 812,
      stopReason: 'end_turn',
    });

    // Act
    const record = modelCallLogRecord(session, modelCallOf(message));

    // Assess
    expect(Object.keys(record)).toEqual([
      'message',
      'sessionId',
      'tenantId',
      'turn',
      'stepKind',
      'tier',
      'modelId',
      'provider',
      'costUsd',
      'trace',
      'latencyMs',
    ]);
    expect(record).toMatchObject({ message: 'Model call', turn: 2, modelId: TIERS.executor, latencyMs: 812 });
    expect(record.trace).toEqual({
      kind: 'model',
      modelId: TIERS.executor,
      tier: 'executor',
      provider: 'bedrock',
      stepKind: 'extract',
      inputTokens: 1200,
      outputTokens: 80,
      cacheReadTokens: 900,
      cacheWriteTokens: 300,
      costUsd: 0.0021,
      costMicros: 2100,
      stopReason: 'end_turn',
      outcome: 'ok',
    });
  });

  it('records a failed attempt with no tokens and its error kind as the outcome', () => {
    // Act
    const record = modelCallLogRecord(
      session,
      modelCallOf({ turn: 1, modelId: TIERS.planner, tier: 'planner', latencyMs: 40 }, 'throttled'),
    );

    // Assess
    expect(record.trace).toMatchObject({
      outcome: 'throttled',
      inputTokens: 0,
      outputTokens: 0,
      costMicros: 0,
    });
    expect(record.latencyMs).toBe(40);
  });
});

describe('toolCallLogRecord', () => {
  it('names the call by actionGroup and function, counts invocations as attempts, latencyMs last', () => {
    // Prepare
    const stored = toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'tu-audit',
      name: 'audit_billing_logs',
      actionGroup: 'billing',
      status: 'failed',
      errorKind: 'invocation',
      invocations: 3,
      latencyMs: 1650,
    });

    // Act
    const record = toolCallLogRecord(session, toolCallOf(stored));

    // Assess
    expect(Object.keys(record).at(-1)).toBe('latencyMs');
    expect(record).toMatchObject({
      message: 'Tool call',
      callId: 'tu-audit',
      actionGroup: 'billing',
      function: 'audit_billing_logs',
      outcome: 'failed',
      attempts: 3,
      latencyMs: 1650,
    });
    expect(record.trace).toEqual({
      kind: 'tool',
      actionGroup: 'billing',
      function: 'audit_billing_logs',
      callId: 'tu-audit',
      outcome: 'failed',
      attempts: 3,
      stepAttempts: 1,
      errorKind: 'invocation',
    });
  });

  it('leaves errorKind out of a call that succeeded', () => {
    const call = toolCallOf(toolCallItem({ turn: 1, index: 0, toolUseId: 't', name: 'get_contract_terms' }));
    expect(toolCallLogRecord(session, call).trace).not.toHaveProperty('errorKind');
  });
});

describe('buildTrace and the trace records', () => {
  it('shows each turn and call with the values its trace record carries', () => {
    // Prepare
    const turn = {
      ...assistantToolUses(1, [{ toolUseId: 'tu-1', name: 'audit_billing_logs' }]),
      provider: 'bedrock',
      usage,
      costUsd: 0.01,
      costMicros: 10_000,
      latencyMs: 900,
    };
    const call = toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'tu-1',
      name: 'audit_billing_logs',
      actionGroup: 'billing',
      invocations: 2,
      attempts: 1,
      latencyMs: 321,
    });
    const conversation = conversationOf(sessionItem({ turn: 1 }), [goalItem(), turn], [call]);

    // Act
    const [traced] = buildTrace(conversation).turns;
    const modelRecord = modelCallLogRecord(session, modelCallOf(turn));
    const toolRecord = toolCallLogRecord(session, toolCallOf(call));

    // Assess
    expect(traced).toMatchObject({
      modelId: modelRecord.modelId,
      tier: modelRecord.tier,
      costMicros: modelRecord.trace.costMicros,
      latencyMs: modelRecord.latencyMs,
      tokens: { input: modelRecord.trace.inputTokens, output: modelRecord.trace.outputTokens },
    });
    expect(traced?.toolCalls[0]).toMatchObject({
      name: toolRecord.function,
      status: toolRecord.outcome,
      invocations: toolRecord.attempts,
      latencyMs: toolRecord.latencyMs,
    });
  });
});
