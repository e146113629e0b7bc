/**
 * Tenants on the local stack: goals of a tenant with no policy or an oversize context are rejected; `tenant pause`
 * (an event the costAlert function acts on) refuses new goals until `tenant resume`; a tenant_day 100 % threshold on
 * the bus pauses the tenant and the alert reaches the SNS topic; `tenant set` moves today's ledger with the cap.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ModelScript } from '../../local/bedrock/script';
import { EXIT, exitCodeFor, main } from '../../local/cli/main';
import { resumeSession } from '../../local/cli/resume';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { COST_THRESHOLD_CROSSED, TENANT_PAUSED } from '../../shared/contracts/lifecycle-events';
import { keys } from '../../shared/store/table';
import { TenantStore, usdToMicros, utcDay } from '../../shared/store/tenant-store';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(180_000);

let stack: LocalStack;
let tenants: TenantStore;

beforeAll(async () => {
  stack = await startTestStack();
  const clients = localClients(stack.env);
  tenants = new TenantStore(clients.doc, clients.tableName);
  // The CLI in this process finds this stack as a served one (its stack file, this pid).
  process.env.SOVEREIGN_AGENT_DATA_DIR = stack.dataDir;
});

afterAll(async () => {
  await stack?.stop();
});

/** Runs the CLI in this process; stdout and stderr are captured. */
const cli = async (...argv: string[]) => {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    const code = await main(argv);
    return { code, output: lines.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
};

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
  for (let i = 0; i < 150; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const putOnBus = async (detailType: string, detail: Record<string, unknown>) => {
  const bus = new EventBridgeClient({ endpoint: stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE });
  await bus.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: stack.env.EVENT_BUS_NAME,
          Source: 'sovereign-agent',
          DetailType: detailType,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  bus.destroy();
};

describe('tenant policies at intake', () => {
  it('rejects a goal of a tenant with no policy (exit 2), saying how to set one', async () => {
    const summary = await runGoal({ stack, event: goalEvent({ tenantId: 'hooli' }) });

    expect(summary.status).toBe('rejected');
    expect(summary.error).toContain(
      'tenant hooli has no policy: set one with `sovereign-agent tenant set hooli',
    );
    expect(exitCodeFor(summary)).toBe(EXIT.rejected);
  });

  it('rejects a 64 KB context with its size and the limit', async () => {
    // Over MAX_CONTEXT_BYTES and under MAX_EVENT_BYTES (96 KiB): a larger one is refused for the event's size first.
    const context = { billingExport: 'x'.repeat(64 * 1024) };

    const summary = await runGoal({ stack, event: goalEvent({ context }) });

    expect(summary.status).toBe('rejected');
    expect(summary.error).toContain(
      `context is ${Buffer.byteLength(JSON.stringify(context))} bytes, over the limit of 32768 bytes`,
    );
  });

  it('takes the sample tenants from events/tenants.json, and `tenant set` a new one that then runs', async () => {
    expect(await tenants.getPolicy('globex')).toMatchObject({
      dailyCapUsd: 25,
      allowedAgents: ['billing-auditor'],
    });

    const set = await cli(
      'tenant',
      'set',
      'hooli',
      '--daily-cap-usd',
      '3',
      '--session-usd-budget',
      '0.4',
      '--json',
    );
    const summary = await runGoal({ stack, event: goalEvent({ tenantId: 'hooli', constraints: undefined }) });

    expect(set.code).toBe(EXIT.ok);
    expect(JSON.parse(set.output).policy).toMatchObject({
      tenantId: 'hooli',
      dailyCapUsd: 3,
      sessionUsdBudget: 0.4,
    });
    expect(summary.status).not.toBe('rejected');
    const session = await localClients(stack.env).store.requireSession('hooli', summary.sessionId as string);
    expect(session.limits).toMatchObject({ usdBudget: 0.4, tenantDailyCapUsd: 3 });
  });

  it('refuses `tenant set` flags the policy schema refuses, with exit 1', async () => {
    const bad = await cli('tenant', 'set', 'acme', '--data-class', 'secret');
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.output).toMatch(/Invalid tenant policy: defaultDataClassification/);
  });
});

describe('pause and resume', () => {
  it('`tenant pause` makes the costAlert function pause the tenant; its goals are rejected until `tenant resume`', async () => {
    // Act: pause through the CLI (an event on the bus; the function changes the policy)
    const paused = await cli('tenant', 'pause', 'globex', '--reason', 'invoice dispute');
    const refused = await runGoal({
      stack,
      event: goalEvent({ tenantId: 'globex' }, 'goal-billing-audit-globex.json'),
    });
    const resumed = await cli('tenant', 'resume', 'globex');
    const accepted = await runGoal({
      stack,
      event: goalEvent({ tenantId: 'globex' }, 'goal-billing-audit-globex.json'),
    });

    // Assess
    expect(paused).toMatchObject({ code: EXIT.ok, output: expect.stringContaining('PAUSED since') });
    expect(refused.status).toBe('rejected');
    expect(refused.error).toContain('tenant globex is paused: invoice dispute');
    expect(resumed.code).toBe(EXIT.ok);
    expect(await tenants.getPolicy('globex')).toMatchObject({ paused: false });
    expect(accepted.status).toBe('completed');
  });

  it('refuses to resume a paused session while its tenant is paused', async () => {
    // Prepare: a session that stopped paused (Plan's check does that; here it is set directly)
    const done = await runGoal({
      stack,
      event: goalEvent({ tenantId: 'globex' }, 'goal-billing-audit-globex.json'),
    });
    const { doc, tableName } = localClients(stack.env);
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.session('globex', done.sessionId as string),
        UpdateExpression: 'SET #s = :paused, stopReason = :reason',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':paused': 'paused', ':reason': 'tenant_paused' },
      }),
    );
    await tenants.pause('globex', 'month-end freeze');

    // Act
    const summary = await resumeSession(localClients(stack.env), {
      stack,
      sessionId: done.sessionId as string,
    });
    await tenants.resume('globex');

    // Assess
    expect(summary).toMatchObject({ status: 'rejected' });
    expect(summary?.error).toContain('tenant globex is paused (month-end freeze): resume the tenant first');
  });

  it('a tenant_day 100 % threshold on the bus pauses the tenant and its alerts reach the SNS topic', async () => {
    // Act
    await putOnBus(COST_THRESHOLD_CROSSED, {
      scope: 'tenant_day',
      tenantId: 'initech',
      day: '2026-11-27',
      percent: 100,
      spentMicros: 10_000_000,
      budgetMicros: 10_000_000,
      spentUsd: 10,
      budgetUsd: 10,
      eventId: 'initech-2026-11-27-100',
    });
    const policy = await waitFor('initech paused', async () => {
      const p = await tenants.getPolicy('initech');
      return p?.paused ? p : undefined;
    });
    const alerts = await waitFor('two alerts', async () => {
      const mine = stack.sns.messages().filter((m) => m.messageAttributes.tenantId?.value === 'initech');
      return mine.length >= 2 ? mine : undefined;
    });

    // Assess
    expect(policy.pausedReason).toBe('daily cap of $10.00 reached on 2026-11-27');
    expect(alerts.map((m) => m.subject)).toEqual([
      '[sovereign-agent] initech: 100% of its daily cap (2026-11-27)',
      '[sovereign-agent] initech paused',
    ]);
    expect(alerts[0]?.topicArn).toMatch(/:sovereign-agent-local-cost-alerts$/);
    const announced = stack.eventBridge
      .events()
      .filter((e) => e.event['detail-type'] === TENANT_PAUSED && e.event.detail.tenantId === 'initech');
    expect(announced).toHaveLength(1);
    const listed = await cli('alerts', '--json');
    expect(listed.code).toBe(EXIT.ok);
    await tenants.resume('initech');
  });

  it('stops a running session of a paused tenant at its next turn with status paused', async () => {
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }], delayMs: 1500 },
        { text: 'Audit done.' },
      ],
    };
    const running = runGoal({ stack, event: goalEvent(), modelScript: script });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await tenants.pause('acme', 'operator pause during a run');

    const summary = await running;
    await tenants.resume('acme');

    expect(summary).toMatchObject({ status: 'paused', stopReason: 'tenant_paused', turns: 1 });
  });
});

describe('daily caps and costs', () => {
  it("`tenant set --daily-cap-usd` moves today's ledger cap and remaining by the change; `costs` shows it", async () => {
    // Prepare: today's ledger as the budget reservations leave it ($4 spent, $1 reserved, of acme's $50)
    const day = utcDay(new Date());
    const { doc, tableName } = localClients(stack.env);
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          ...keys.tenantDay('acme', day),
          entity: 'tenantDay',
          tenantId: 'acme',
          day,
          capMicros: usdToMicros(50),
          spentMicros: usdToMicros(4),
          remainingMicros: usdToMicros(45),
          updatedAt: new Date().toISOString(),
          expiresAt: Math.floor(Date.now() / 1000) + 86_400,
        },
      }),
    );

    // Act
    const set = await cli('tenant', 'set', 'acme', '--daily-cap-usd', '8');
    const costs = await cli('costs', '--tenant', 'acme', '--json');

    // Assess
    expect(set.code).toBe(EXIT.ok);
    expect(await tenants.getDay('acme', day)).toMatchObject({
      capMicros: usdToMicros(8),
      spentMicros: usdToMicros(4),
      remainingMicros: usdToMicros(3),
    });
    expect(JSON.parse(costs.output)).toEqual([
      { tenantId: 'acme', day, spentUsd: 4, capUsd: 8, percentUsed: 50, remainingUsd: 3 },
    ]);
    await tenants.setPolicy('acme', { dailyCapUsd: 50 });
  });
});

describe('a tenant over its daily cap, end to end', () => {
  it('stops its session at the cap, is paused by the cost alert, refuses goals until `tenant resume` lifts it', async () => {
    // Prepare: globex under a daily cap $0.06 above what it spent today (earlier tests ran goals for it). Turns 1
    // (planner) and 2 (executor) bill fixed usage, 28,261 and 17,727 micro-dollars with their tool calls; turn 3's
    // worst case no longer fits what the day has left.
    const spentToday = (await tenants.getDay('globex', utcDay(new Date())))?.spentMicros ?? 0;
    await tenants.setPolicy('globex', { dailyCapUsd: (spentToday + 60_000) / 1_000_000 });
    const billed = (answer: Omit<ModelScript['turns'][number], 'usage'>, input: number, output: number) => ({
      ...answer,
      usage: { inputTokens: input, outputTokens: output, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 },
    });
    const script: ModelScript = {
      turns: [
        billed(
          {
            toolUse: [
              { name: 'audit_billing_logs', input: { tenant_id: 'globex' } },
              { name: 'list_underutilized_resources', input: { tenant_id: 'globex', lookback_days: 30 } },
              { name: 'get_contract_terms', input: { tenant_id: 'globex' } },
            ],
          },
          1_000,
          1_500,
        ),
        billed(
          { toolUse: [{ name: 'list_underutilized_resources', input: { tenant_id: 'globex' } }] },
          6_000,
          2_000,
        ),
        { text: 'Audit done.' },
      ],
    };
    const goal = () => goalEvent({ tenantId: 'globex' });

    try {
      // Act: the first goal runs until the day's cap refuses its third turn
      const first = await runGoal({ stack, event: goal(), modelScript: script });

      // Assess: stopped at the cap with its two turns saved, and the tenant paused by the costAlert function
      expect(first).toMatchObject({
        status: 'stopped',
        stopReason: 'tenant_daily_cap',
        turns: 2,
        toolCalls: 4,
      });
      const paused = await waitFor('globex paused', async () => {
        const policy = await tenants.getPolicy('globex');
        return policy?.paused ? policy : undefined;
      });
      expect(paused.pausedReason).toMatch(/^daily cap of \$[\d.]+ reached on \d{4}-\d{2}-\d{2}$/);
      const dayAlerts = stack.eventBridge
        .events()
        .filter(
          (e) => e.event['detail-type'] === COST_THRESHOLD_CROSSED && e.event.detail.tenantId === 'globex',
        )
        .map((e) => [e.event.detail.scope, e.event.detail.percent]);
      // Each threshold once; 100 % when the cap refused the third turn.
      expect(new Set(dayAlerts.map(String)).size).toBe(dayAlerts.length);
      expect(dayAlerts).toContainEqual(['tenant_day', 100]);

      // Act + Assess: the next goal is rejected while paused
      const refused = await runGoal({ stack, event: goal(), modelScript: script });
      expect(refused.status).toBe('rejected');
      expect(refused.error).toMatch(/paused/);

      // Act + Assess: `tenant resume` lifts the pause; a goal is accepted again (and stopped at the spent cap)
      const resumed = await cli('tenant', 'resume', 'globex');
      expect(resumed.code).toBe(EXIT.ok);
      expect((await tenants.getPolicy('globex'))?.paused).toBeFalsy();
      const accepted = await runGoal({ stack, event: goal(), modelScript: script });
      expect(accepted).toMatchObject({ status: 'stopped', stopReason: 'tenant_daily_cap', turns: 0 });
    } finally {
      await tenants.resume('globex');
      await tenants.setPolicy('globex', { dailyCapUsd: 25 });
    }
  });
});
