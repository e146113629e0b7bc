/** costAlert's decisions: which events alert, which pause or resume a tenant, and that a redelivery acts once. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Alert, AlertSink } from '../../shared/contracts/alerts';
import { snsSubject } from '../../shared/contracts/alerts';
import {
  APPROVAL_REQUESTED,
  BUDGET_EXCEEDED,
  COST_THRESHOLD_CROSSED,
  TENANT_PAUSE_REQUESTED,
  TENANT_PAUSED,
  TENANT_RESUME_REQUESTED,
  TENANT_RESUMED,
} from '../../shared/contracts/lifecycle-events';
import { StepInputError } from '../../shared/runtime/errors';
import {
  alertOf,
  type CostAlertDeps,
  handleCostEvent,
  parseCostEvent,
  pauseReasonOf,
  type TenantSwitch,
} from '../../shared/steps/cost-alert';
import type { TenantPolicyItem } from '../../shared/store/table';
import { TenantNotFoundError } from '../../shared/store/tenant-store';
import { mockedPublisher } from '../helpers/aws';
import { tenantPolicy } from '../helpers/fixtures';

const TIME = '2026-11-27T21:14:00Z';

const envelope = (detailType: string, detail: Record<string, unknown>, id = 'evt-1') => ({
  version: '0',
  id,
  source: 'sovereign-agent',
  'detail-type': detailType,
  time: TIME,
  detail,
});

const dayAt = (percent: 50 | 80 | 100) =>
  envelope(COST_THRESHOLD_CROSSED, {
    scope: 'tenant_day',
    tenantId: 'acme',
    day: '2026-11-27',
    percent,
    spentMicros: percent * 500_000,
    budgetMicros: 50_000_000,
    spentUsd: percent / 2,
    budgetUsd: 50,
    eventId: `acme-day-${percent}`,
  });

/** A tenant switch over one in-memory policy, behaving as TenantStore's conditional updates do. */
const memoryTenants = (
  initial: TenantPolicyItem | undefined,
): TenantSwitch & { policy?: TenantPolicyItem } => {
  const box: { policy?: TenantPolicyItem } = initial ? { policy: initial } : {};
  return {
    get policy() {
      return box.policy;
    },
    pause: async (tenantId, reason, at) => {
      if (!box.policy) throw new TenantNotFoundError(`tenant ${tenantId} has no policy`);
      if (box.policy.paused) return { changed: false, policy: box.policy };
      box.policy = { ...box.policy, paused: true, pausedReason: reason, ...(at ? { pausedAt: at } : {}) };
      return { changed: true, policy: box.policy };
    },
    resume: async (tenantId) => {
      if (!box.policy) throw new TenantNotFoundError(`tenant ${tenantId} has no policy`);
      if (!box.policy.paused) return { changed: false, policy: box.policy };
      const { pausedReason: _r, pausedAt: _a, ...rest } = box.policy;
      box.policy = { ...rest, paused: false };
      return { changed: true, policy: box.policy };
    },
  };
};

/** null: the tenant has no policy. */
const setup = (policy: TenantPolicyItem | null = tenantPolicy('acme')) => {
  const { eventBridge, publisher } = mockedPublisher();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
  const sent: Alert[] = [];
  const alerts: AlertSink = {
    publish: async (alert) => {
      sent.push(alert);
      return `msg-${sent.length}`;
    },
  };
  const tenants = memoryTenants(policy ?? undefined);
  const deps: CostAlertDeps = { tenants, alerts, events: publisher };
  const busEvents = () =>
    eventBridge.commandCalls(PutEventsCommand).flatMap((c) =>
      (c.args[0].input.Entries ?? []).map((e) => ({
        type: e.DetailType,
        detail: JSON.parse(e.Detail ?? '{}'),
      })),
    );
  return { deps, sent, tenants, busEvents };
};

describe('costAlert decisions', () => {
  it('pauses only at a tenant_day 100 % threshold or on request', () => {
    expect(pauseReasonOf(parseCostEvent(dayAt(100)))).toBe('daily cap of $50.00 reached on 2026-11-27');
    expect(pauseReasonOf(parseCostEvent(dayAt(80)))).toBeUndefined();
    const session100 = envelope(COST_THRESHOLD_CROSSED, {
      scope: 'session',
      tenantId: 'acme',
      sessionId: 's1',
      percent: 100,
      spentUsd: 1,
      budgetUsd: 1,
    });
    expect(pauseReasonOf(parseCostEvent(session100))).toBeUndefined();
    expect(
      pauseReasonOf(parseCostEvent(envelope(TENANT_PAUSE_REQUESTED, { tenantId: 'acme', reason: 'audit' }))),
    ).toBe('audit');
    expect(pauseReasonOf(parseCostEvent(envelope(BUDGET_EXCEEDED, { tenantId: 'acme' })))).toBeUndefined();
  });

  it('writes a readable subject and message for a threshold', () => {
    const alert = alertOf(parseCostEvent(dayAt(80)));
    expect(alert).toMatchObject({
      subject: '[sovereign-agent] acme: 80% of its daily cap (2026-11-27)',
      alertId: 'evt-1',
      eventType: COST_THRESHOLD_CROSSED,
      tenantId: 'acme',
    });
    expect(alert?.message).toContain(
      'Tenant acme has spent $40.00 of its daily cap (2026-11-27) of $50.00 (80%).',
    );
  });

  it('keeps SNS subjects printable ASCII within 100 characters', () => {
    expect(snsSubject(`caf\u00e9\n${'x'.repeat(200)}`)).toMatch(/^caf\?\?x+$/);
    expect(snsSubject('x'.repeat(200))).toHaveLength(100);
  });

  it('refuses an event of another type, or a detail without tenantId, as a step input error', () => {
    expect(() => parseCostEvent(envelope('Agent Goal Completed', { tenantId: 'acme' }))).toThrow(
      StepInputError,
    );
    expect(() => parseCostEvent(envelope(TENANT_PAUSE_REQUESTED, {}))).toThrow(/tenantId/);
  });
});

describe('handleCostEvent', () => {
  it('at 100 % of the daily cap: alerts, pauses the tenant and announces Agent Tenant Paused', async () => {
    // Prepare
    const { deps, sent, tenants, busEvents } = setup();

    // Act
    const outcome = await handleCostEvent(deps, dayAt(100));

    // Assess
    expect(outcome).toEqual({
      type: COST_THRESHOLD_CROSSED,
      tenantId: 'acme',
      alerted: true,
      tenant: 'paused',
    });
    expect(tenants.policy).toMatchObject({
      paused: true,
      pausedReason: 'daily cap of $50.00 reached on 2026-11-27',
      pausedAt: TIME,
    });
    expect(sent.map((a) => a.subject)).toEqual([
      '[sovereign-agent] acme: 100% of its daily cap (2026-11-27)',
      '[sovereign-agent] acme paused',
    ]);
    expect(busEvents()).toEqual([
      {
        type: TENANT_PAUSED,
        detail: expect.objectContaining({
          tenantId: 'acme',
          reason: 'daily cap of $50.00 reached on 2026-11-27',
        }),
      },
    ]);
  });

  it('redelivered, finds its own pause: the tenant paused once, the announcement repeated with the same id', async () => {
    const { deps, busEvents } = setup();
    await handleCostEvent(deps, dayAt(100));

    const again = await handleCostEvent(deps, dayAt(100));

    expect(again.tenant).toBe('paused');
    const [first, second] = busEvents();
    expect(second?.detail.eventId).toBe(first?.detail.eventId);
  });

  it('a second, different pause of a paused tenant changes and announces nothing', async () => {
    const { deps, busEvents, tenants } = setup();
    await handleCostEvent(
      deps,
      envelope(TENANT_PAUSE_REQUESTED, { tenantId: 'acme', reason: 'first' }, 'p1'),
    );

    const outcome = await handleCostEvent(deps, {
      ...envelope(TENANT_PAUSE_REQUESTED, { tenantId: 'acme', reason: 'second' }, 'p2'),
      time: '2026-11-27T22:00:00Z',
    });

    expect(outcome.tenant).toBe('unchanged');
    expect(tenants.policy?.pausedReason).toBe('first');
    expect(busEvents()).toHaveLength(1);
  });

  it('a resume request resumes a paused tenant and announces Agent Tenant Resumed; a second does nothing', async () => {
    const { deps, tenants, busEvents } = setup(tenantPolicy('acme', { paused: true, pausedReason: 'x' }));

    const first = await handleCostEvent(deps, envelope(TENANT_RESUME_REQUESTED, { tenantId: 'acme' }));
    const second = await handleCostEvent(deps, envelope(TENANT_RESUME_REQUESTED, { tenantId: 'acme' }, 'r2'));

    expect([first.tenant, second.tenant]).toEqual(['resumed', 'unchanged']);
    expect(tenants.policy).toMatchObject({ paused: false });
    expect(busEvents().map((e) => e.type)).toEqual([TENANT_RESUMED]);
  });

  it('a budget exceeded event alerts only; a pause of a tenant without a policy is answered, not retried', async () => {
    const { deps, sent } = setup(null);

    const budget = await handleCostEvent(
      deps,
      envelope(BUDGET_EXCEEDED, { tenantId: 'acme', sessionId: 's1' }),
    );
    const pause = await handleCostEvent(deps, envelope(TENANT_PAUSE_REQUESTED, { tenantId: 'acme' }));

    expect(budget).toEqual({ type: BUDGET_EXCEEDED, tenantId: 'acme', alerted: true });
    expect(sent[0]?.subject).toBe('[sovereign-agent] acme: session s1 stopped at its budget');
    expect(pause.tenant).toBe('no_policy');
  });
});

describe('approval requests', () => {
  it('reach a person: the call, its input, its expiry and how to answer, and act on no tenant', async () => {
    // Arrange
    const { deps, sent } = setup(null);
    const detail = {
      eventId: 'approval-1',
      tenantId: 'acme',
      sessionId: 's1',
      turn: 2,
      callId: 'tooluse_1',
      tool: 'create_optimization_report',
      actionGroup: 'billing',
      input: { tenant_id: 'acme', title: 'Q4' },
      expiresAt: '2026-11-27T22:14:00Z',
    };

    // Act
    const outcome = await handleCostEvent(deps, envelope(APPROVAL_REQUESTED, detail));

    // Assess
    expect(outcome).toEqual({ type: APPROVAL_REQUESTED, tenantId: 'acme', alerted: true });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      alertId: 'approval-1',
      subject: '[sovereign-agent] acme: approve create_optimization_report?',
    });
    expect(sent[0]?.message).toContain('create_optimization_report {"tenant_id":"acme","title":"Q4"}');
    expect(sent[0]?.message).toContain('Answer before 2026-11-27T22:14:00Z');
    expect(sent[0]?.message).toContain('"callId":"tooluse_1"');
    expect(sent[0]?.message).toContain('sovereign-agent approve|deny s1 tooluse_1');
  });

  it('refuses a request without the call it is about', () => {
    expect(() => parseCostEvent(envelope(APPROVAL_REQUESTED, { tenantId: 'acme', sessionId: 's1' }))).toThrow(
      /callId/,
    );
  });
});
