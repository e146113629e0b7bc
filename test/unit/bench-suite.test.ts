/** The benchmark's task suite in events/suite/: every file valid, and together the shapes the issue asks for. */
import { join } from 'node:path';
import { BenchError } from '../../local/bench/errors';
import { largestPayload } from '../../local/bench/payload';
import { loadSuite, parseSuiteGoal } from '../../local/bench/suite';

const root = join(__dirname, '..', '..');
const suite = loadSuite(root);

const sample = () => ({
  description: 'two turns',
  event: {
    id: 'e-1',
    source: 'test',
    'detail-type': 'Agent Goal Submitted',
    detail: { tenantId: 'acme', agent: 'billing-auditor', goal: 'Audit.', constraints: { maxTurns: 2 } },
  },
  modelScript: {
    turns: [{ toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] }, { text: 'Done.' }],
  },
});

describe('the task suite', () => {
  it('holds at least 20 goals over the three sample tenants', () => {
    // Assess
    expect(suite.length).toBeGreaterThanOrEqual(20);
    expect(new Set(suite.map((g) => g.tenantId))).toEqual(new Set(['acme', 'globex', 'initech']));
  });

  it('spans 1 to 20 turns, with goals of exactly 1, 5 and 20 turns for the payload figures', () => {
    // Prepare
    const turns = suite.map((g) => g.expected.turns);

    // Assess
    expect(Math.min(...turns)).toBe(1);
    expect(Math.max(...turns)).toBe(20);
    for (const t of [1, 5, 20]) expect(turns).toContain(t);
  });

  it('has turns of 0 to 4 tool calls, parallel calls among them', () => {
    // Prepare
    const perTurn = suite.flatMap((g) => g.modelScript.turns.map((t) => t.toolUse?.length ?? 0));

    // Assess
    expect(new Set(perTurn)).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it('has model throttling (absorbed by the SDK and beyond it), tool faults, a schema error and an action-group failure', () => {
    // Prepare
    const throttles = suite.flatMap((g) =>
      g.modelScript.turns.flatMap((t) => (t.error ? [t.times ?? 1] : [])),
    );
    const faults = suite.flatMap((g) => Object.values(g.toolFaults ?? {}));
    const inputs = suite.flatMap((g) =>
      g.modelScript.turns.flatMap((t) =>
        (t.toolUse ?? []).map((u) => ({ tenant: g.tenantId, input: u.input })),
      ),
    );

    // Assess: the SDK makes 3 attempts, so 2 failures stay inside one Plan attempt and 4 need a Step Functions retry
    expect(throttles).toEqual(expect.arrayContaining([2, 4]));
    expect(faults.some((f) => (f.failTimes ?? 0) > 0)).toBe(true);
    expect(faults.some((f) => (f.crashAfterSideEffect ?? 0) > 0)).toBe(true);
    expect(inputs.some(({ input }) => input.lookback_days === 0)).toBe(true);
    expect(inputs.some(({ tenant, input }) => input.tenant_id !== tenant)).toBe(true);
  });

  it('lets every goal finish: maxTurns covers the script, only the last turn answers', () => {
    // Assess: loadSuite refuses anything else; the budgets are checked here
    for (const goal of suite) {
      const constraints = (goal.event.detail as { constraints?: { maxTurns?: number; tokenBudget?: number } })
        .constraints;
      expect({ goal: goal.name, fits: (constraints?.maxTurns ?? 0) >= goal.expected.turns }).toEqual({
        goal: goal.name,
        fits: true,
      });
    }
  });

  it('picks goals by part of their name, and names an entry that matches none', () => {
    // Act + Assess
    expect(loadSuite(root, ['20-', '01-']).map((g) => g.name)).toEqual([
      '01-answer-only-acme',
      '20-twenty-turns-acme',
    ]);
    expect(() => loadSuite(root, ['no-such-goal'])).toThrow(/no-such-goal match no goal/);
  });
});

describe('parseSuiteGoal', () => {
  it('reads the expected turns and tool calls off the script', () => {
    // Act
    const goal = parseSuiteGoal('events/suite/x.json', sample());

    // Assess
    expect(goal).toMatchObject({ name: 'x', tenantId: 'acme', expected: { turns: 2, toolCalls: 1 } });
  });

  it('names the file and every problem of an invalid goal', () => {
    // Prepare
    const bad = sample();
    bad.event.detail.constraints.maxTurns = 1;
    (bad.event.detail as Record<string, unknown>).goalId = 'fixed';
    bad.modelScript.turns.push({ text: 'again' });

    // Act + Assess
    expect(() => parseSuiteGoal('events/suite/bad.json', bad)).toThrow(BenchError);
    expect(() => parseSuiteGoal('events/suite/bad.json', bad)).toThrow(/bad\.json:\n.*goalId/s);
    delete (bad.event.detail as Record<string, unknown>).goalId;
    expect(() => parseSuiteGoal('events/suite/bad.json', bad)).toThrow(
      /turns\.1: only the last turn may answer[\s\S]*maxTurns must be at least 3/,
    );
  });

  it('refuses more than 4 tool calls in a turn', () => {
    // Prepare
    const wide = sample();
    const call = { name: 'audit_billing_logs', input: { tenant_id: 'acme' } };
    wide.modelScript.turns[0] = { toolUse: [call, call, call, call, call] };

    // Act + Assess
    expect(() => parseSuiteGoal('events/suite/wide.json', wide)).toThrow(/5 tool calls, at most 4/);
  });
});

describe('largestPayload', () => {
  it('finds the biggest state input or output in UTF-8 bytes, with its state', () => {
    // Act
    const largest = largestPayload([
      {
        id: 1,
        type: 'ExecutionStarted',
        timestamp: new Date(),
        executionStartedEventDetails: { input: '{"a":1}' },
      },
      {
        id: 2,
        type: 'TaskStateEntered',
        timestamp: new Date(),
        stateEnteredEventDetails: { name: 'Plan', input: '{"é":1}' },
      },
      {
        id: 3,
        type: 'TaskStateExited',
        timestamp: new Date(),
        stateExitedEventDetails: { name: 'Plan', output: '{"ok":true}' },
      },
    ]);

    // Assess
    expect(largest).toEqual({ maxBytes: 11, where: 'Plan output' });
  });
});
