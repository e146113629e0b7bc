/** RunTool's breaker gate and fallbacks, over a fake breaker store: refusals, static and tool fallbacks, the probe. */
import type { BreakerRecord } from '../../shared/agent/breaker';
import { getActionGroup, type ToolDefinition } from '../../shared/agent/tools';
import type { ActionGroupEvent } from '../../shared/contracts/action-group';
import type { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { invokeBehindBreaker, type ToolBreakerDeps, type ToolOutcome } from '../../shared/steps/tool-breaker';
import type { BreakerStore } from '../../shared/store/breaker-store';

const NOW = 1_800_000_000_000;
const tools = getActionGroup('billing').tools;
const tool = (name: string): ToolDefinition => {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};
const event = { function: 'x', actionGroup: 'billing' } as ActionGroupEvent;
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
