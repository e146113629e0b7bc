/**
 * A goal ended by a tool outage, resumed after it (issue test 6), end to end on the local stack: an outage of a tool
 * without a fallback opens its breaker for every session; a session that meets it open stops `circuit_open`
 * (resumable); after the outage and the cooldown, `resume` runs the refused call as the breaker's probe and
 * completes the goal, re-running no completed call and counting no token, dollar or call twice. And a tool whose
 * fallback is its last known good answer answers from the tenant's own, never another tenant's.
 */
import type { ModelScript } from '../../local/bedrock/script';
import { resumeSession } from '../../local/cli/resume';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { TOOL_CALL_INFRASTRUCTURE_MICROS } from '../../shared/agent/pricing/micros';
import { CIRCUIT_CLOSED, CIRCUIT_OPENED } from '../../shared/contracts/lifecycle-events';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(240_000);

/** Long enough for the stopped session to meet the breaker open, short enough to wait out. */
const COOLDOWN_SECONDS = 8;
const TOOL = 'list_underutilized_resources';
const AUDIT = 'audit_billing_logs';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: { runTool: { BREAKER_MAX_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS) } },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const call = (name: string) => ({ name, input: { tenant_id: 'acme' } });

/** Invocations of the billing action group for one tool, from the local Lambda's records. */
const invocationsOf = (tool: string, sessionId: string): number =>
  stack.lambda.invocations().filter((i) => i.tool === tool && i.sessionId === sessionId).length;

const circuitEvents = (type: string) =>
  stack.eventBridge.events().filter((r) => r.event['detail-type'] === type && r.event.detail.name === TOOL);

describe('a goal stopped by a tool outage', () => {
  it('stops circuit_open while the tool is down, and a resume after the outage completes it once', async () => {
    // Prepare: an outage of the tool for five other sessions opens its breaker (it has no fallback)
    const outage = await Promise.all(
      Array.from({ length: 5 }, () =>
        runGoal({
          stack,
          event: goalEvent(),
          modelScript: { turns: [{ toolUse: [call(TOOL)] }, { text: 'The tool is down.' }] },
          toolFaults: { [TOOL]: { failTimes: 100, error: 'ServiceUnavailable' } },
        }),
      ),
    );
    expect(circuitEvents(CIRCUIT_OPENED)).toHaveLength(1);
    expect(outage.map((s) => s.stopReason)).toEqual(Array(5).fill('tools_unavailable'));

    // Act 1: our session audits (succeeds), then needs the tool while its breaker is open
    const script: ModelScript = {
      turns: [
        { toolUse: [call(AUDIT)] },
        { toolUse: [call(TOOL)] },
        { text: 'Audit and utilization reviewed after the outage.' },
      ],
    };
    const event = goalEvent();
    const stopped = await runGoal({ stack, event, modelScript: script });
    const sessionId = stopped.sessionId as string;

    // Assess 1: a resumable stop, the refused call never invoked
    expect(stopped).toMatchObject({
      status: 'stopped',
      stopReason: 'circuit_open',
      resumable: true,
      turns: 2,
    });
    expect(invocationsOf(AUDIT, sessionId)).toBe(1);
    expect(invocationsOf(TOOL, sessionId)).toBe(0);
    const before = await localClients(stack.env).store.loadConversation('acme', sessionId);
    expect(before.toolCalls.map((c) => [c.name, c.status, c.errorKind ?? null])).toEqual([
      [AUDIT, 'succeeded', null],
      [TOOL, 'failed', 'circuit_open'],
    ]);

    // Act 2: the outage is over (this session has no faults) and the cooldown has passed: resume
    const openedAt = Date.parse(circuitEvents(CIRCUIT_OPENED)[0]?.receivedAt ?? '');
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, openedAt + COOLDOWN_SECONDS * 1000 + 500 - Date.now())),
    );
    const resumed = await resumeSession(localClients(stack.env), { stack, sessionId, tenantId: 'acme' });

    // Assess 2: completed; the audit was not run again, the refused call ran once (the probe, which closed it)
    expect(resumed).toMatchObject({
      status: 'completed',
      stopReason: 'completed',
      turns: 3,
      toolCalls: 2,
      failedToolCalls: 0,
      output: 'Audit and utilization reviewed after the outage.',
    });
    expect(invocationsOf(AUDIT, sessionId)).toBe(1);
    expect(invocationsOf(TOOL, sessionId)).toBe(1);
    expect(circuitEvents(CIRCUIT_CLOSED)).toHaveLength(1);
    const after = await localClients(stack.env).store.loadConversation('acme', sessionId);
    expect(after.toolCalls.map((c) => [c.name, c.status, c.breaker?.probe ?? false])).toEqual([
      [AUDIT, 'succeeded', false],
      [TOOL, 'succeeded', true],
    ]);
    // Counters: each turn's tokens and cost once (the sums of the three committed turns), two runs
    const turns = after.messages.filter((m) => m.role === 'assistant');
    expect(turns).toHaveLength(3);
    const sum = (pick: (m: (typeof turns)[number]) => number) => turns.reduce((n, m) => n + pick(m), 0);
    expect(after.session.tokensInput).toBe(sum((m) => m.usage?.input ?? 0));
    expect(after.session.tokensOutput).toBe(sum((m) => m.usage?.output ?? 0));
    // The cost also carries each settled RunTool's infrastructure: the two calls, and the one the open breaker
    // refused (its RunTool ran; the resume cleared it and ran it again).
    expect(after.session.costMicros).toBe(
      sum((m) => m.costMicros ?? 0) + 3 * TOOL_CALL_INFRASTRUCTURE_MICROS,
    );
    expect(after.session.costUsd).toBeCloseTo((after.session.costMicros ?? 0) / 1e6, 12);
    expect(after.session.runs).toBe(2);
  });
});

describe("a tool whose fallback is the tenant's last known good answer", () => {
  const TERMS = 'get_contract_terms';
  const termsOnce = (tenantId: string): ModelScript => ({
    turns: [{ toolUse: [{ name: TERMS, input: { tenant_id: tenantId } }] }, { text: 'Terms checked.' }],
  });
  const termsCallOf = async (tenantId: string, sessionId: string) => {
    const conversation = await localClients(stack.env).store.loadConversation(tenantId, sessionId);
    return conversation.toolCalls.find((c) => c.name === TERMS);
  };

  it("answers from the tenant's last good answer when the tool fails past its retries; another tenant gets the static text", async () => {
    // Prepare: a good answer for acme
    const good = await runGoal({ stack, event: goalEvent(), modelScript: termsOnce('acme') });
    const goodCall = await termsCallOf('acme', good.sessionId as string);
    expect(goodCall).toMatchObject({ status: 'succeeded' });
    expect(goodCall?.fallback).toBeUndefined();
    const down = { [TERMS]: { failTimes: 100, error: 'ServiceUnavailable' } };

    // Act: the tool is down for a later acme session, and for a globex one
    const acme = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: termsOnce('acme'),
      toolFaults: down,
    });
    const globex = await runGoal({
      stack,
      event: goalEvent({ tenantId: 'globex' }),
      modelScript: termsOnce('globex'),
      toolFaults: down,
    });

    // Assess: acme's answer is its own earlier one, said to be so; globex has none, so the static text answers
    const acmeCall = await termsCallOf('acme', acme.sessionId as string);
    expect(acmeCall).toMatchObject({
      status: 'succeeded',
      invocations: 3,
      fallback: { kind: 'last_known_good', reason: 'failed after 3 attempts' },
    });
    expect(acmeCall?.result).toMatch(
      new RegExp(
        `^${TERMS} is unavailable \\(failed after 3 attempts\\); its last known good answer, from \\S+Z \\(\\d+ min ago; it may be out of date\\): `,
      ),
    );
    expect(acmeCall?.result?.endsWith(goodCall?.result ?? 'missing')).toBe(true);
    const globexCall = await termsCallOf('globex', globex.sessionId as string);
    expect(globexCall).toMatchObject({ status: 'succeeded', fallback: { kind: 'static' } });
    expect(globexCall?.result).not.toContain('acme');
  });
});
