/**
 * Routing per step on the local stack: the sample goal's turns go planner (plan), executor (extract) and planner
 * (verify, after the report is stored); a long tool result sends the next turn to the reader tier (summarize); a
 * session past 80 % of its USD budget sends its next turn one tier cheaper with compacted history, which the
 * Converse requests the Bedrock emulator recorded show (they shrink).
 */
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace } from '../../local/cli/inspect';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { getProfile } from '../../shared/agent/profiles';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(180_000);

const profile = getProfile('billing-auditor');
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const traceOf = async (sessionId: string) =>
  buildTrace(await localClients(stack.env).store.loadConversation('acme', sessionId));

/** The routing of each turn as the trace shows it. */
const routingOf = async (sessionId: string) =>
  (await traceOf(sessionId)).turns.map(({ turn, tier, stepKind, routeReason }) => ({
    turn,
    tier,
    stepKind,
    routeReason,
  }));

/** Tokens each Converse request of a session carried into the model (input, cache read and cache write). */
const requestTokens = (sessionId: string) =>
  stack.bedrock
    .calls()
    .filter((c) => c.sessionId === sessionId && c.status === 200)
    .map((c) => ({
      turn: c.turn,
      modelId: c.modelId,
      tokens:
        (c.usage?.inputTokens ?? 0) +
        (c.usage?.cacheReadInputTokens ?? 0) +
        (c.usage?.cacheWriteInputTokens ?? 0),
    }));

const runSample = async (detail: Record<string, unknown> = {}) => {
  const summary = await runGoal({ stack, event: goalEvent(detail) });
  return { ...summary, sessionId: summary.sessionId as string };
};

describe('routing per step', () => {
  let sampleSession: string;

  it('routes the sample goal planner (plan), executor (extract), planner (verify), each turn saying why', async () => {
    // Act
    const summary = await runSample();
    sampleSession = summary.sessionId;

    // Assess
    expect(summary).toMatchObject({ status: 'completed', turns: 3 });
    expect(await routingOf(sampleSession)).toEqual([
      {
        turn: 1,
        tier: 'planner',
        stepKind: 'plan',
        routeReason: expect.stringMatching(/^step plan \(first turn\), RCI \d+ > 70: planner$/),
      },
      {
        turn: 2,
        tier: 'executor',
        stepKind: 'extract',
        routeReason: 'step extract (create_optimization_report not done yet): executor',
      },
      {
        turn: 3,
        tier: 'planner',
        stepKind: 'verify',
        routeReason: 'step verify (create_optimization_report succeeded, a side effect): planner',
      },
    ]);
    // The emulator saw each turn's request go to the model its turn records, the planner's twice
    const trace = await traceOf(sampleSession);
    const models = requestTokens(sampleSession).map((c) => c.modelId);
    expect(models).toEqual(trace.turns.map((t) => t.modelId));
    expect(new Set(models).size).toBe(2);
  });

  it('sends the turn after a long tool result to the reader tier (summarize)', async () => {
    // Prepare: turn 2 asks for every utilization window and the terms, whose results together are long
    const event = goalEvent();
    const lookbacks = [7, 30, 60, 90, 180, 365];
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        {
          toolUse: [
            ...lookbacks.map((days) => ({
              name: 'list_underutilized_resources',
              input: { tenant_id: 'acme', lookback_days: days },
            })),
            { name: 'get_contract_terms', input: { tenant_id: 'acme' } },
          ],
        },
        { text: 'Condensed: three idle resources, contract renews on 2026-12-01.' },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({ status: 'completed', turns: 3 });
    const trace = await traceOf(summary.sessionId as string);
    const turnTwoChars = trace.turns[1]?.toolCalls.reduce((n, c) => n + (c.result?.length ?? 0), 0) ?? 0;
    expect(turnTwoChars).toBeGreaterThan(profile.routing.summarizeAboveChars);
    expect(trace.turns.map((t) => [t.tier, t.stepKind])).toEqual([
      ['planner', 'plan'],
      ['executor', 'extract'],
      ['reader', 'summarize'],
    ]);
    expect(trace.turns[2]?.routeReason).toBe(
      `step summarize (turn 2 tool results ${turnTwoChars} characters > ${profile.routing.summarizeAboveChars}): reader`,
    );
    // The reader is a model of its own, and the summarize request went to it
    const models = requestTokens(summary.sessionId as string).map((c) => c.modelId);
    expect(models).toEqual(trace.turns.map((t) => t.modelId));
    expect(models.slice(0, 2)).not.toContain(models[2]);
  });

  it('near the USD cap routes later turns one tier cheaper and sends them compacted history', async () => {
    // Prepare: one script run twice, under a roomy budget and under $0.055. Turns 1 (planner) and 2 (executor) bill
    // fixed usage: 28,261 + 17,727 micro-dollars with their tool calls, 83.6 % of $0.055, while each turn's own
    // worst case still fits what is left (a reservation refuses a turn it cannot fund). Turn 3 is counted by the
    // emulator from what the request carries.
    const billed = (answer: Omit<ModelScript['turns'][number], 'usage'>, input: number, output: number) => ({
      ...answer,
      usage: { inputTokens: input, outputTokens: output, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 },
    });
    const gather: ModelScript['turns'][number] = {
      toolUse: [
        { name: 'audit_billing_logs', input: { tenant_id: 'acme' } },
        { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 30 } },
        { name: 'get_contract_terms', input: { tenant_id: 'acme' } },
      ],
    };
    const again = {
      toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme', month: '2026-10' } }],
    };
    const script: ModelScript = {
      turns: [billed(gather, 1_000, 1_500), billed(again, 6_000, 2_000), { text: 'Nothing more to do.' }],
    };
    const run = async (usdBudget: number) => {
      const summary = await runGoal({
        stack,
        event: goalEvent({ constraints: { usdBudget } }),
        modelScript: script,
      });
      return { ...summary, sessionId: summary.sessionId as string };
    };

    // Act
    const roomy = await run(1);
    const capped = await run(0.055);

    // Assess: both complete; under the cap turn 3 (extract) went to the reader instead of the executor, saying so
    expect([roomy.status, capped.status]).toEqual(['completed', 'completed']);
    const routing = await routingOf(capped.sessionId);
    expect(routing.map((t) => [t.tier, t.stepKind])).toEqual([
      ['planner', 'plan'],
      ['executor', 'extract'],
      ['reader', 'extract'],
    ]);
    expect(routing[2]?.routeReason).toMatch(
      /^step extract \(.*\): executor; budget 8\d % used: reader instead of executor; history compacted$/,
    );
    expect((await routingOf(roomy.sessionId)).map((t) => t.tier)).toEqual([
      'planner',
      'executor',
      'executor',
    ]);
    // Turn 3's request carried turn 1's results as stubs: smaller than the same turn under the roomy budget
    const [full, compacted] = [requestTokens(roomy.sessionId), requestTokens(capped.sessionId)];
    expect((full[2]?.tokens ?? 0) - (compacted[2]?.tokens ?? 0)).toBeGreaterThan(500);
    expect(capped.costMicros).toBeLessThanOrEqual(55_000);
  });
});
