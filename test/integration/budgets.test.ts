/**
 * Budgets on the local stack: reservations before every model and tool call (session and tenant day), the stops
 * they decide, the cost alerts and Agent Budget Exceeded on the bus, and resume with a raised budget.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace } from '../../local/cli/inspect';
import { resumeSession } from '../../local/cli/resume';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { rateFor } from '../../shared/agent/pricing';
import {
  costMicros,
  TOOL_CALL_INFRASTRUCTURE_MICROS,
  TURN_INFRASTRUCTURE_MICROS,
  usdToMicros,
} from '../../shared/agent/pricing/micros';
import {
  BUDGET_EXCEEDED,
  COST_THRESHOLD_CROSSED,
  type CostThresholdDetail,
  EventPublisher,
} from '../../shared/contracts/lifecycle-events';
import { alertTenantDay } from '../../shared/steps/cost-alerts';
import { BudgetLedger, utcDay } from '../../shared/store/budget-ledger';
import { keys } from '../../shared/store/table';
import { TIERS } from '../helpers/fixtures';
import { goalEvent, newSessionInput, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const clients = () => localClients(stack.env);

/** Events of one detail-type the agent put on the bus, for one session (or tenant day). */
const busEvents = (detailType: string, match: (detail: Record<string, unknown>) => boolean) =>
  stack.eventBridge
    .events()
    .filter((r) => r.event['detail-type'] === detailType && match(r.event.detail))
    .map((r) => r.event.detail);

const ofSession = (sessionId: string) => (detail: Record<string, unknown>) => detail.sessionId === sessionId;

/** A scripted turn with its usage fixed, so each turn's cost is known to the micro-dollar. */
const turn = (answer: Omit<ModelScript['turns'][number], 'usage'>, input: number, output: number) => ({
  ...answer,
  usage: { inputTokens: input, outputTokens: output, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 },
});
const audit = { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] };
const idle = {
  toolUse: [{ name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 30 } }],
};
const terms = { toolUse: [{ name: 'get_contract_terms', input: { tenant_id: 'acme' } }] };

describe('a USD budget', () => {
  it('stops usd_budget with its state saved, alerts at 50, 80 and 100 % once each, and resumes when raised', async () => {
    // Prepare: turn 1 (planner) spends over half of $0.053 (its own worst case, about $0.0505 on Sonnet 4.6's US
    // profile, must fit first), turn 2 (executor) over 80 %. From there the session degrades: turns 3 and 4 go to the
    // reader, the cheapest tier, until what is left cannot fund even the reader's worst case (turn 5's counted
    // input plus maxTokens), so turn 5 is never called.
    const reader = (answer: Omit<ModelScript['turns'][number], 'usage'>) => turn(answer, 40_000, 2_000);
    const modelScript: ModelScript = {
      turns: [
        turn(audit, 1_000, 1_500),
        turn(idle, 6_000, 2_000),
        reader(terms),
        reader(audit),
        turn({ text: 'Audit done.' }, 500, 50),
      ],
    };
    const event = goalEvent({ constraints: { usdBudget: 0.053 } });

    // Act
    const stopped = await runGoal({ stack, event, modelScript });

    // Assess: stopped before turn 5, nothing overspent
    expect(stopped).toMatchObject({ status: 'stopped', stopReason: 'usd_budget', turns: 4, toolCalls: 4 });
    expect(stopped.costMicros).toBeLessThanOrEqual(usdToMicros(0.053));
    expect(stopped.costUsd).toBeCloseTo(stopped.costMicros / 1e6, 9);
    const sessionId = stopped.sessionId as string;
    const alerts = busEvents(
      COST_THRESHOLD_CROSSED,
      ofSession(sessionId),
    ) as unknown as CostThresholdDetail[];
    expect(alerts.map((a) => [a.scope, a.percent])).toEqual([
      ['session', 50],
      ['session', 80],
      ['session', 100],
    ]);
    expect(new Set(alerts.map((a) => a.eventId)).size).toBe(3);
    expect(alerts[0]).toMatchObject({ tenantId: 'acme', budgetMicros: 53_000, budgetUsd: 0.053 });
    expect(busEvents(BUDGET_EXCEEDED, ofSession(sessionId))).toEqual([
      expect.objectContaining({ reason: 'usd_budget', status: 'stopped' }),
    ]);

    // Act: a resume without a raise is refused; with one it completes from turn 5
    const refused = await resumeSession(clients(), { stack, sessionId, tenantId: 'acme' });
    const resumed = await resumeSession(clients(), {
      stack,
      sessionId,
      tenantId: 'acme',
      raise: { usdBudget: 1 },
    });

    // Assess
    expect(refused).toMatchObject({ status: 'rejected' });
    expect(refused?.error).toMatch(/higher usdBudget/);
    expect(resumed).toMatchObject({ status: 'completed', turns: 5, toolCalls: 4 });
    // Under the raised budget no threshold is crossed; the three alerts stay the only ones.
    expect(busEvents(COST_THRESHOLD_CROSSED, ofSession(sessionId))).toHaveLength(3);
    expect(busEvents(BUDGET_EXCEEDED, ofSession(sessionId))).toHaveLength(1);
    // The trace's per-turn figures add up to the session's CPTO: turns plus each tool call's infrastructure.
    const trace = buildTrace(await clients().store.loadConversation('acme', sessionId));
    expect(trace.turns.map((t) => [t.tier, t.provider])).toEqual([
      ['planner', 'bedrock'],
      ['executor', 'bedrock'],
      ['reader', 'bedrock'],
      ['reader', 'bedrock'],
      ['executor', 'bedrock'],
    ]);
    expect(trace.turns[2]?.routeReason).toMatch(
      /budget \d+ % used: reader instead of executor; history compacted/,
    );
    const turnsMicros = trace.turns.reduce((sum, t) => sum + t.costMicros, 0);
    expect(resumed?.costMicros).toBe(turnsMicros + 4 * TOOL_CALL_INFRASTRUCTURE_MICROS);
    expect(resumed?.providers).toEqual({ bedrock: 5, sagemaker: 0 });
    expect(Object.values(resumed?.modelUsage ?? {}).reduce((sum, u) => sum + u.calls, 0)).toBe(5);
  });

  it('runs no model call and no tool for a budget of 1e-9 USD', async () => {
    // Prepare
    const event = goalEvent({ constraints: { usdBudget: 1e-9 } });

    // Act
    const summary = await runGoal({ stack, event, modelScript: { turns: [audit, { text: 'done' }] } });

    // Assess
    expect(summary).toMatchObject({ status: 'stopped', stopReason: 'usd_budget', turns: 0, toolCalls: 0 });
    expect(stack.bedrock.calls().filter((c) => c.sessionId === summary.sessionId)).toEqual([]);
    expect(summary.costMicros).toBe(0);
    expect(busEvents(BUDGET_EXCEEDED, ofSession(summary.sessionId as string))).toHaveLength(1);
  });

  it('lets only what the budget funds run of two parallel tool calls: the other is refused, never invoked', async () => {
    // Prepare: turn 1 calls two tools at once and leaves between one and two calls' cost of a $0.06 budget (its
    // own worst case must fit first).
    const budget = usdToMicros(0.06);
    const planner = rateFor(TIERS.planner, 'planner');
    const output = 2_000;
    let input = 0;
    const left = (n: number) =>
      budget -
      costMicros({ input: n, output, cacheRead: 0, cacheWrite: 0 }, planner) -
      TURN_INFRASTRUCTURE_MICROS;
    while (left(input) >= 2 * TOOL_CALL_INFRASTRUCTURE_MICROS) input += 1;
    const both = { toolUse: [...audit.toolUse, ...terms.toolUse] };
    const event = goalEvent({ constraints: { usdBudget: 0.06 } });

    // Act
    const summary = await runGoal({
      stack,
      event,
      modelScript: { turns: [turn(both, input, output), { text: 'x' }] },
    });

    // Assess
    expect(left(input)).toBeGreaterThanOrEqual(TOOL_CALL_INFRASTRUCTURE_MICROS);
    expect(summary).toMatchObject({ status: 'stopped', stopReason: 'usd_budget', turns: 1, toolCalls: 2 });
    const { session, toolCalls } = await clients().store.loadConversation(
      'acme',
      summary.sessionId as string,
    );
    const kinds = toolCalls.map((c) => c.errorKind ?? c.status).sort();
    expect(kinds).toEqual(['budget', 'succeeded']);
    expect(toolCalls.find((c) => c.errorKind === 'budget')?.invocations).toBe(0);
    expect(session.costMicros).toBeLessThanOrEqual(budget);
    expect(session.remainingMicros).toBeGreaterThanOrEqual(0);
    expect(session.reservations).toEqual({});
  });
});

describe('a token budget', () => {
  it('is never overshot: a turn whose worst case does not fit is not called', async () => {
    // Prepare: each turn bills 30,100 tokens; three fit in 100,000, a fourth would reach 120,400.
    const turns = [audit, idle, terms, audit, idle].map((t) => turn(t, 30_000, 100));
    const event = goalEvent({ constraints: { tokenBudget: 100_000, usdBudget: 2 } });

    // Act
    const summary = await runGoal({ stack, event, modelScript: { turns } });

    // Assess
    const { input, output, cacheRead, cacheWrite } = summary.tokens;
    expect(summary).toMatchObject({ status: 'stopped', stopReason: 'token_budget', turns: 3 });
    expect(input + output + cacheRead + cacheWrite).toBe(90_300);
  });
});

describe('a tenant', () => {
  it("alerts at the day's cap once when two sessions' reservations cross it together", async () => {
    // Prepare: two running sessions of one tenant under a daily cap of $0.001 (1,000 micro-dollars)
    const { doc, tableName, store } = clients();
    const tenantId = `cap-${Date.now().toString(36)}`;
    const ledger = new BudgetLedger(doc, tableName, 90);
    const sessions = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const input = newSessionInput(tenantId, `${tenantId}-${name}`);
        await store.createSession({ ...input, limits: { ...input.limits, tenantDailyCapUsd: 0.001 } });
        return store.beginRun(tenantId, input.sessionId, 'start', `arn:local:${name}`);
      }),
    );
    const events = new EventPublisher(
      new EventBridgeClient({
        endpoint: stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE ?? '',
        region: stack.env.AWS_REGION ?? 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      stack.env.EVENT_BUS_NAME ?? '',
      'sovereign-agent',
    );

    // Act: 600 each against 1,000 left: one fits, the other is refused by the day's ledger
    const reserved = await Promise.all(
      sessions.map((session, i) =>
        ledger.reserve({ session, id: `turn-${i}`, micros: 600, tokens: 0, ttlMs: 60_000 }),
      ),
    );
    const sent = await Promise.all(
      sessions.map((session) => alertTenantDay({ ledger, events }, session, true)),
    );

    // Assess
    expect(reserved.map((r) => (r.reserved ? 'reserved' : r.stop)).sort()).toEqual([
      'reserved',
      'tenant_daily_cap',
    ]);
    expect(sent.flat()).toEqual([100]);
    const day = utcDay(new Date());
    const alerts = busEvents(COST_THRESHOLD_CROSSED, (d) => d.tenantId === tenantId);
    expect(alerts).toEqual([
      expect.objectContaining({ scope: 'tenant_day', day, percent: 100, budgetMicros: 1_000 }),
    ]);
    expect(await ledger.getTenantDay(tenantId, day)).toMatchObject({
      capMicros: 1_000,
      remainingMicros: 400,
    });
  });

  it('pauses a session at its next turn when its tenant is paused, and resumes it once the tenant is resumed', async () => {
    // Prepare: the first tool call takes a while; the tenant is paused meanwhile (its policy item written here)
    const { doc, tableName } = clients();
    const policy = (paused: boolean) =>
      doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...keys.tenantPolicy('acme'),
            entity: 'tenantPolicy',
            tenantId: 'acme',
            dailyCapUsd: 100,
            paused,
            updatedAt: new Date().toISOString(),
          },
        }),
      );
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const running = runGoal({
      stack,
      event,
      modelScript: { turns: [audit, { text: 'Audit done.' }] },
      toolFaults: { audit_billing_logs: { delayMs: 1_500 } },
    });
    while ((await clients().store.getSession('acme', sessionId))?.turn !== 1)
      await new Promise((r) => setTimeout(r, 50));
    await policy(true);

    // Act
    const paused = await running;
    await policy(false);
    const resumed = await resumeSession(clients(), { stack, sessionId, tenantId: 'acme' });
    await doc.send(new DeleteCommand({ TableName: tableName, Key: keys.tenantPolicy('acme') }));

    // Assess
    expect(paused).toMatchObject({ status: 'paused', stopReason: 'tenant_paused', turns: 1, toolCalls: 1 });
    expect(paused.resumable).toBe(true);
    expect(resumed).toMatchObject({ status: 'completed', turns: 2, toolCalls: 1 });
  });
});
