/**
 * Trace records on the local stack: a sample goal's Plan and RunTool log lines (.local/logs/<fn>.log, as the
 * sandboxes write them) match the `trace` command's turns and tool calls one for one; a throttled attempt that fell
 * back is a model call of its own; the action group's line is not a trace record; EMF metrics reach the logs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace, type Trace } from '../../local/cli/inspect';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { TIERS } from '../helpers/fixtures';
import { goalEvent, loadJson, startTestStack } from './helpers';

jest.setTimeout(180_000);

const SONNET = TIERS.planner;
const HAIKU = TIERS.executor;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: { plan: { MODEL_TIER_PLANNER: `${SONNET},${HAIKU}` } },
  });
});

afterAll(async () => {
  await stack?.stop();
});

type Line = Record<string, unknown> & { trace?: Record<string, unknown> };

/** The JSON lines of a function's local log (the START/END/REPORT lines are not JSON). */
const logLines = (functionKey: string): { raw: string; json: Line }[] =>
  readFileSync(join(stack.dataDir, 'logs', `${functionKey}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((raw) => ({ raw, json: JSON.parse(raw) as Line }));

const recordsOf = (functionKey: string, sessionId: string) =>
  logLines(functionKey).filter(({ json }) => json.trace !== undefined && json.sessionId === sessionId);

/** The records, waiting a moment for the last invocation's lines (each is written when its invocation ends). */
const awaitRecords = async (functionKey: string, sessionId: string, count: number) => {
  for (let i = 0; i < 50; i += 1) {
    const records = recordsOf(functionKey, sessionId);
    if (records.length >= count) return records;
    await new Promise((r) => setTimeout(r, 100));
  }
  return recordsOf(functionKey, sessionId);
};

const traceOf = async (sessionId: string): Promise<Trace> =>
  buildTrace(await localClients(stack.env).store.loadConversation('acme', sessionId));

describe('trace records in the local logs', () => {
  it("match the trace command's turns and tool calls one for one", async () => {
    // Prepare
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    const sessionId = summary.sessionId as string;
    const trace = await traceOf(sessionId);
    const calls = trace.turns.flatMap((t) => t.toolCalls);
    const models = (await awaitRecords('plan', sessionId, trace.turns.length)).map((r) => r.json);
    const tools = (await awaitRecords('runTool', sessionId, calls.length)).map((r) => r.json);
    expect(
      models.map((m) => [m.message, m.turn, m.modelId, m.trace?.inputTokens, m.trace?.outputTokens]),
    ).toEqual(trace.turns.map((t) => ['Model call', t.turn, t.modelId, t.tokens.input, t.tokens.output]));
    expect(models.map((m) => [m.trace?.cacheReadTokens, m.trace?.costMicros, m.latencyMs])).toEqual(
      trace.turns.map((t) => [t.tokens.cacheRead, t.costMicros, t.latencyMs]),
    );
    const byCall = (a: Line, b: Line) => String(a.callId).localeCompare(String(b.callId));
    expect(
      [...tools]
        .sort(byCall)
        .map((c) => [c.message, c.callId, c.function, c.outcome, c.attempts, c.latencyMs]),
    ).toEqual(
      [...calls]
        .sort((a, b) => a.toolUseId.localeCompare(b.toolUseId))
        .map((c) => ['Tool call', c.toolUseId, c.name, c.status, c.invocations, c.latencyMs]),
    );
    expect(tools.every((t) => t.actionGroup === 'billing' && t.tenantId === 'acme')).toBe(true);
  });

  it('end every trace record with latencyMs, and leave trace and latencyMs off the action group line', async () => {
    // Act
    const summary = await runGoal({ stack, event: goalEvent() });

    // Assess
    const sessionId = summary.sessionId as string;
    const records = [
      ...(await awaitRecords('plan', sessionId, 1)),
      ...(await awaitRecords('runTool', sessionId, 1)),
    ];
    expect(records.length).toBeGreaterThan(1);
    for (const { raw, json } of records) {
      expect(Object.keys(json).at(-1)).toBe('latencyMs');
      expect(raw).toMatch(/"latencyMs":\d+}$/);
    }
    const actionGroup = logLines('billingActionGroup').filter(({ json }) => json.sessionId === sessionId);
    expect(actionGroup.length).toBeGreaterThan(0);
    for (const { raw } of actionGroup) expect(raw).not.toMatch(/"trace":|"latencyMs":/);
  });

  it('log a throttled attempt as a model call of its own before the fallback that answered', async () => {
    // Prepare: the planner tier is sonnet then haiku; sonnet throttles past the SDK's retries
    const script: ModelScript = {
      turns: [
        { text: 'Answered by the fallback.', error: 'ThrottlingException', times: 100, modelIds: [SONNET] },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    const sessionId = summary.sessionId as string;
    const models = (await awaitRecords('plan', sessionId, 2)).map((r) => r.json);
    expect(models.map((m) => [m.turn, m.modelId, m.trace?.outcome])).toEqual([
      [1, SONNET, 'throttled'],
      [1, HAIKU, 'ok'],
    ]);
    const trace = await traceOf(sessionId);
    expect(trace.turns.map((t) => t.modelId)).toEqual([HAIKU]);
  });

  it('print EMF metrics into the local logs: tokens by tier, tool latency by action group and function', async () => {
    // Act
    await runGoal({ stack, event: goalEvent() });

    // Assess
    const emf = [...logLines('plan'), ...logLines('runTool')]
      .map(({ json }) => json as { _aws?: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] } })
      .filter((j) => j._aws);
    const names = new Set(emf.flatMap((j) => j._aws?.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name) ?? []));
    expect([...names]).toEqual(
      expect.arrayContaining(['InputTokens', 'CostMicros', 'ToolLatency', 'ToolErrors']),
    );
    expect(emf.some((j) => 'sessionId' in j || 'tenantId' in j)).toBe(false);
  });

  // Last: the loop opens audit_billing_logs' breaker on this file's table.
  it('count a loop detection, the breaker it opens and a budget stop as EMF metrics with their dimensions', async () => {
    // Prepare: the same call six times in a row (the profile's loopThreshold is 5); a budget no call fits
    const audit = { name: 'audit_billing_logs', input: { tenant_id: 'acme' } };
    const loop: ModelScript = {
      turns: [...Array.from({ length: 6 }, () => ({ toolUse: [audit] })), { text: 'x' }],
    };
    const before = logLines('plan').length;

    // Act
    const looped = await runGoal({ stack, event: goalEvent(), modelScript: loop });
    const broke = await runGoal({ stack, event: goalEvent({ constraints: { usdBudget: 1e-9 } }) });

    // Assess
    expect([looped.stopReason, broke.stopReason]).toEqual(['loop_detected', 'usd_budget']);
    const counted = logLines('plan')
      .slice(before)
      .map(
        ({ json }) =>
          json as Record<string, unknown> & {
            _aws?: { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
          },
      )
      .filter((j) => j._aws && ['LoopDetections', 'BreakerOpens', 'BudgetStops'].some((n) => n in j))
      .map(({ _aws, timestamp: _t, service: _s, ...rest }) => rest);
    expect(counted).toEqual([
      { kind: 'tool', BreakerOpens: 1 },
      { LoopDetections: 1 },
      { stopReason: 'usd_budget', BudgetStops: 1 },
    ]);
  });
});
