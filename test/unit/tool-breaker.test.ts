/**
 * RunTool's breaker gate and fallbacks, over a fake breaker store: refusals, static, tool and last-known-good
 * fallbacks, the probe.
 */
import type { BreakerRecord } from '../../shared/agent/breaker';
import { getActionGroup, type ToolDefinition } from '../../shared/agent/tools';
import type { ActionGroupEvent } from '../../shared/contracts/action-group';
import type { EventPublisher } from '../../shared/contracts/lifecycle-events';
import {
  type GuardedOutcome,
  invokeBehindBreaker,
  lastKnownGoodUpdates,
  type ToolBreakerDeps,
  type ToolOutcome,
} from '../../shared/steps/tool-breaker';
import type { BreakerStore } from '../../shared/store/breaker-store';
import { LastKnownGoodStore } from '../../shared/store/last-known-good';
import type { LastKnownGoodItem } from '../../shared/store/table';

const NOW = 1_800_000_000_000;
const tools = getActionGroup('billing').tools;
const tool = (name: string): ToolDefinition => {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};
const event = {
  function: 'x',
  actionGroup: 'billing',
  sessionAttributes: { tenantId: 'acme' },
} as unknown as ActionGroupEvent;
const open: BreakerRecord = { state: 'open', openedAt: NOW - 1000, cooldownSeconds: 30 };

const depsWith = (record: BreakerRecord | undefined, probeWon = true): ToolBreakerDeps => ({
  breakers: {
    getState: async () => record,
    takeProbe: async () => ({ won: probeWon, first: probeWon, lease: NOW + 5000 }),
  } as unknown as BreakerStore,
  events: { publish: jest.fn(async () => 'id') } as unknown as EventPublisher,
  probeLeaseMs: 5000,
  now: () => NOW,
});

const invoker = (outcomes: Record<string, ToolOutcome>) => {
  const called: string[] = [];
  const invoke = async (target: ToolDefinition) => {
    called.push(target.name);
    const outcome = outcomes[target.name];
    if (!outcome) throw new Error(`unexpected call of ${target.name}`);
    return outcome;
  };
  return { called, invoke };
};
const failedPastRetries: ToolOutcome = {
  status: 'failed',
  errorKind: 'invocation',
  invocations: 3,
  result: 'down',
};

describe('invokeBehindBreaker', () => {
  it('refuses a call without a fallback while the breaker is open: circuit_open, never invoked', async () => {
    // Prepare
    const { called, invoke } = invoker({});

    // Act
    const outcome = await invokeBehindBreaker(depsWith(open), {
      tool: tool('create_optimization_report'),
      tools,
      event,
      invoke,
    });

    // Assess
    expect(outcome).toMatchObject({
      status: 'failed',
      errorKind: 'circuit_open',
      invocations: 0,
      breaker: { state: 'open' },
    });
    expect(outcome.counted).toBeUndefined();
    expect(called).toEqual([]);
  });

  it('answers a tool failing past its retries with its static fallback, and counts the failure', async () => {
    // Prepare
    const { invoke } = invoker({ get_contract_terms: failedPastRetries });

    // Act
    const outcome = await invokeBehindBreaker(depsWith(undefined), {
      tool: tool('get_contract_terms'),
      tools,
      event,
      invoke,
    });

    // Assess
    expect(outcome).toMatchObject({
      status: 'succeeded',
      fallback: { kind: 'static', reason: 'failed after 3 attempts' },
      counted: { failed: true },
      breaker: { state: 'closed' },
    });
    expect(outcome.result).toMatch(
      /^get_contract_terms is unavailable \(failed after 3 attempts\); its configured fallback answer: /,
    );
  });

  it('does not count a FAILURE answer of the action group against the tool', async () => {
    // Prepare
    const { invoke } = invoker({
      audit_billing_logs: { status: 'failed', errorKind: 'tool', invocations: 1, result: 'tenant mismatch' },
    });

    // Act
    const outcome = await invokeBehindBreaker(depsWith(undefined), {
      tool: tool('audit_billing_logs'),
      tools,
      event,
      invoke,
    });

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorKind: 'tool', counted: { failed: false } });
    expect(outcome.fallback).toBeUndefined();
  });

  it('runs the one probe after the cooldown; a racer that lost the probe is answered by the fallback', async () => {
    // Prepare
    const cooled: BreakerRecord = { state: 'open', openedAt: NOW - 60_000, cooldownSeconds: 30 };
    const winner = invoker({ audit_billing_logs: { status: 'succeeded', invocations: 1, result: '{}' } });
    const loser = invoker({
      audit_billing_logs_replica: { status: 'succeeded', invocations: 1, result: '{}' },
    });

    // Act
    const probe = await invokeBehindBreaker(depsWith(cooled, true), {
      tool: tool('audit_billing_logs'),
      tools,
      event,
      invoke: winner.invoke,
    });
    const refused = await invokeBehindBreaker(depsWith(cooled, false), {
      tool: tool('audit_billing_logs'),
      tools,
      event,
      invoke: loser.invoke,
    });

    // Assess
    expect(probe).toMatchObject({
      breaker: { state: 'half_open', probe: true },
      probe: { openedAt: NOW - 60_000 },
    });
    expect(winner.called).toEqual(['audit_billing_logs']);
    expect(refused).toMatchObject({
      breaker: { state: 'half_open' },
      fallback: { kind: 'tool', tool: 'audit_billing_logs_replica' },
    });
    expect(loser.called).toEqual(['audit_billing_logs_replica']);
  });
});

describe('the last-known-good fallback (get_contract_terms: a week, else its static answer)', () => {
  const lastGood: LastKnownGoodItem = {
    pk: 'T#acme',
    sk: 'LKG#get_contract_terms',
    entity: 'lastKnownGood',
    tenantId: 'acme',
    tool: 'get_contract_terms',
    result: '{"renewal":"2026-12-01"}',
    sessionId: 's-earlier',
    at: NOW - 2 * 3_600_000,
    expiresAt: 0,
  };
  const withStore = (found: LastKnownGoodItem | undefined) => {
    const get = jest.fn(async () => found);
    const deps = {
      ...depsWith(open),
      lastKnownGood: { get } as unknown as LastKnownGoodStore,
    };
    return { deps, get };
  };

  it("answers with the tenant's last good answer, saying how old it is", async () => {
    // Prepare
    const { deps, get } = withStore(lastGood);
    const { called, invoke } = invoker({});

    // Act
    const outcome = await invokeBehindBreaker(deps, {
      tool: tool('get_contract_terms'),
      tools,
      event,
      invoke,
    });

    // Assess
    expect(get).toHaveBeenCalledWith('acme', 'get_contract_terms', 604_800);
    expect(outcome).toMatchObject({
      status: 'succeeded',
      fallback: { kind: 'last_known_good', reason: 'circuit open' },
    });
    expect(outcome.result).toBe(
      'get_contract_terms is unavailable (circuit open); its last known good answer, from ' +
        `${new Date(lastGood.at).toISOString()} (120 min ago; it may be out of date): {"renewal":"2026-12-01"}`,
    );
    expect(called).toEqual([]);
  });

  it('answers with the static text beside it when the tenant has none', async () => {
    const { deps } = withStore(undefined);
    const { invoke } = invoker({});

    const outcome = await invokeBehindBreaker(deps, {
      tool: tool('get_contract_terms'),
      tools,
      event,
      invoke,
    });

    expect(outcome).toMatchObject({
      status: 'succeeded',
      fallback: { kind: 'static', reason: 'circuit open' },
    });
  });

  it("keeps only the tool's own good answers (not a fallback's, not a failure) for the record transaction", () => {
    const deps = {
      ...depsWith(undefined),
      lastKnownGood: new LastKnownGoodStore({} as never, 'table', () => NOW),
    };
    const call = { tenantId: 'acme', sessionId: 's-1', result: 'terms' };
    const good: GuardedOutcome = { status: 'succeeded', invocations: 1, result: 'terms' };

    const updates = lastKnownGoodUpdates(deps, tool('get_contract_terms'), good, call);

    expect(updates).toEqual([
      expect.objectContaining({
        TableName: 'table',
        Key: { pk: 'T#acme', sk: 'LKG#get_contract_terms' },
        ExpressionAttributeValues: expect.objectContaining({
          ':result': 'terms',
          ':session': 's-1',
          ':at': NOW,
          ':expires': NOW / 1000 + 604_800,
        }),
      }),
    ]);
    const fromFallback = { ...good, fallback: { kind: 'static' as const, reason: 'circuit open' } };
    expect(lastKnownGoodUpdates(deps, tool('get_contract_terms'), fromFallback, call)).toEqual([]);
    expect(lastKnownGoodUpdates(deps, tool('get_contract_terms'), failedPastRetries, call)).toEqual([]);
    expect(lastKnownGoodUpdates(deps, tool('audit_billing_logs'), good, call)).toEqual([]);
  });
});
