/**
 * Circuit breakers shared by every execution, on the local stack: a tool failing for many concurrent sessions opens
 * its breaker once, later calls fail fast to its fallback (the read-only replica) without invoking it, and after the
 * cooldown exactly one racing session probes it and closes it. Events go on the bus once per transition.
 */
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace, formatTrace } from '../../local/cli/inspect';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { BusEventRecord } from '../../local/eventbridge/service';
import type { LocalStack } from '../../local/stack/start';
import { DEFAULT_BREAKER_SETTINGS } from '../../shared/agent/breaker';
import { CIRCUIT_CLOSED, CIRCUIT_HALF_OPENED, CIRCUIT_OPENED } from '../../shared/contracts/lifecycle-events';
import { BreakerStore } from '../../shared/store/breaker-store';
import type { ToolCallItem } from '../../shared/store/session-store';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(240_000);

/** Longer than the concurrent sessions take to open the breaker and then meet it open, short enough to wait out. */
const COOLDOWN_SECONDS = 15;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: { runTool: { BREAKER_MAX_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS) } },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const AUDIT = 'audit_billing_logs';
const REPLICA = 'audit_billing_logs_replica';
const auditOnce: ModelScript = {
  turns: [{ toolUse: [{ name: AUDIT, input: { tenant_id: 'acme' } }] }, { text: 'Done.' }],
};

const auditCallsOf = async (sessionIds: string[]): Promise<ToolCallItem[]> => {
  const { store } = localClients(stack.env);
  const conversations = await Promise.all(sessionIds.map((id) => store.loadConversation('acme', id)));
  return conversations.flatMap((c) => c.toolCalls).filter((call) => call.name === AUDIT);
};

const circuitEvents = (type: string): BusEventRecord[] =>
  stack.eventBridge
    .events()
    .filter((record) => record.event['detail-type'] === type && record.event.detail.name === AUDIT);

const runSessions = (count: number, toolFaults: Parameters<typeof runGoal>[0]['toolFaults']) =>
  Promise.all(
    Array.from({ length: count }, () =>
      runGoal({ stack, event: goalEvent(), modelScript: auditOnce, toolFaults, timeoutMs: 120_000 }),
    ),
  );

describe('a tool breaker shared by every execution', () => {
  it('opens once for a tool failing in 10 concurrent sessions, fails fast to the replica, and lets one probe close it', async () => {
    // Act 1: the audit tool fails past RunTool's retries for ten sessions at once
    const failing = await runSessions(10, { [AUDIT]: { failTimes: 100, error: 'ServiceUnavailable' } });

    // Assess 1: every session completes on the replica's answer; the breaker opened once, past minCalls
    expect(failing.map((s) => s.status)).toEqual(Array(10).fill('completed'));
    const first = await auditCallsOf(failing.map((s) => s.sessionId as string));
    expect(first).toHaveLength(10);
    for (const call of first) {
      expect(call).toMatchObject({ status: 'succeeded', fallback: { kind: 'tool', tool: REPLICA } });
      expect(call.result).toMatch(
        new RegExp(`^${AUDIT} is unavailable \\(.+\\); answered by its fallback ${REPLICA}: `),
      );
      expect(call.result).toContain('"source":"replica"');
    }
    const opened = circuitEvents(CIRCUIT_OPENED);
    expect(opened).toHaveLength(1);
    expect(opened[0]?.event.detail).toMatchObject({
      kind: 'tool',
      state: 'open',
      reason: 'failure rate',
      cooldownSeconds: COOLDOWN_SECONDS,
    });
    expect(Number(opened[0]?.event.detail.calls)).toBeGreaterThanOrEqual(DEFAULT_BREAKER_SETTINGS.minCalls);
    // No lost or double-counted update: the window holds exactly the calls that invoked the tool.
    const invoked = first.filter((call) => call.fallback?.reason.startsWith('failed after'));
    const window = await new BreakerStore(
      localClients(stack.env).doc,
      stack.env.TABLE_NAME as string,
    ).readWindow('tool', AUDIT, DEFAULT_BREAKER_SETTINGS);
    expect(window).toEqual({ calls: invoked.length, failures: invoked.length });
    expect(invoked.length).toBeGreaterThanOrEqual(DEFAULT_BREAKER_SETTINGS.minCalls);

    // Act 2: within the cooldown, healthy sessions meet the open breaker
    const meanwhile = await runSessions(2, undefined);

    // Assess 2: answered by the replica without invoking the tool (one invocation: the replica's)
    const refused = await auditCallsOf(meanwhile.map((s) => s.sessionId as string));
    for (const call of refused) {
      expect(call).toMatchObject({
        status: 'succeeded',
        invocations: 1,
        breaker: { state: 'open' },
        fallback: { kind: 'tool', tool: REPLICA, reason: 'circuit open' },
      });
    }

    const trace = buildTrace(
      await localClients(stack.env).store.loadConversation('acme', meanwhile[0]?.sessionId as string),
    );
    expect(trace.turns[0]?.toolCalls[0]).toMatchObject({
      breaker: { state: 'open' },
      fallback: { kind: 'tool', tool: REPLICA, reason: 'circuit open' },
    });
    expect(formatTrace(trace)).toContain(`breaker open, answered by ${REPLICA} (circuit open)`);

    // Act 3: after the cooldown, five sessions race while the tool is healthy again (and slow, so they overlap)
    const openedAt = Date.parse(opened[0]?.receivedAt ?? '');
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, openedAt + COOLDOWN_SECONDS * 1000 + 500 - Date.now())),
    );
    const racing = await runSessions(5, { [AUDIT]: { delayMs: 1500 } });

    // Assess 3: exactly one probe ran the tool and closed the breaker; each transition's event came once
    expect(racing.map((s) => s.status)).toEqual(Array(5).fill('completed'));
    const after = await auditCallsOf(racing.map((s) => s.sessionId as string));
    const probes = after.filter((call) => call.breaker?.probe === true);
    expect(probes).toHaveLength(1);
    expect(probes[0]).toMatchObject({ status: 'succeeded', invocations: 1, breaker: { state: 'half_open' } });
    expect(probes[0]?.fallback).toBeUndefined();
    expect(circuitEvents(CIRCUIT_OPENED)).toHaveLength(1);
    expect(circuitEvents(CIRCUIT_HALF_OPENED)).toHaveLength(1);
    expect(circuitEvents(CIRCUIT_CLOSED)).toHaveLength(1);
  });

  it('opens the breaker of a looped tool; a session whose every call it refuses stops with circuit_open', async () => {
    // Prepare: list_underutilized_resources has no fallback; six identical calls are a loop (threshold 5)
    const LIST = 'list_underutilized_resources';
    const call = { name: LIST, input: { tenant_id: 'acme', lookback_days: 30 } };
    const looping: ModelScript = { turns: [...Array(6).fill({ toolUse: [call] }), { text: 'never' }] };
    const refusedScript: ModelScript = { turns: [{ toolUse: [call] }, { text: 'never' }] };

    // Act
    const looped = await runGoal({ stack, event: goalEvent(), modelScript: looping });
    const refused = await runGoal({ stack, event: goalEvent(), modelScript: refusedScript });

    // Assess
    expect(looped).toMatchObject({ status: 'stopped' });
    const opened = stack.eventBridge
      .events()
      .filter((r) => r.event['detail-type'] === CIRCUIT_OPENED && r.event.detail.name === LIST);
    expect(opened).toHaveLength(1);
    expect(opened[0]?.event.detail).toMatchObject({ kind: 'tool', state: 'open', reason: 'loop' });
    expect(refused).toMatchObject({ status: 'stopped', turns: 1 });
    expect(refused.output).toMatch(/circuit breakers are open/);
    const { store } = localClients(stack.env);
    const calls = (await store.loadConversation('acme', refused.sessionId as string)).toolCalls;
    expect(calls).toEqual([
      expect.objectContaining({
        name: LIST,
        status: 'failed',
        errorKind: 'circuit_open',
        invocations: 0,
        breaker: { state: 'open' },
      }),
    ]);
    expect(calls[0]?.fallback).toBeUndefined();
  });
});
