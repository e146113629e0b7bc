/**
 * Routing per step on the local stack: the sample goal's turns go planner (plan), executor (extract) and planner
 * (verify, after the report is stored); a long tool result sends the next turn to the reader tier (summarize); a
 * small USD budget crosses the degrade threshold and the later turns go one tier cheaper with compacted history,
 * which the Converse requests the Bedrock emulator recorded show (they shrink).
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
    // Prepare: a budget the sample's first (planner) turn uses 85 % of
    const sample = await traceOf(sampleSession);
    const firstTurnCost = sample.turns[0]?.costUsd ?? 0;
    expect(firstTurnCost).toBeGreaterThan(0);
    const usdBudget = firstTurnCost / 0.85;

    // Act
    const summary = await runSample({ constraints: { usdBudget, maxTurns: 6 } });
    const degraded = summary.sessionId;

    // Assess: the cheaper turns ran, and the cap stopped the goal only after its third turn (not before)
    expect(summary.turns).toBeGreaterThanOrEqual(3);
    expect(['completed', 'usd_budget']).toContain(summary.stopReason);
    // Turn 2 (extract) on the reader instead of the executor, turn 3 (verify) on the executor instead of
    // the planner, both saying so
    const routing = await routingOf(degraded);
    expect(routing.slice(0, 3).map((t) => [t.tier, t.stepKind])).toEqual([
      ['planner', 'plan'],
      ['reader', 'extract'],
      ['executor', 'verify'],
    ]);
    expect(routing[1]?.routeReason).toMatch(
      /^step extract \(.*\): executor; budget 8\d % used: reader instead of executor; history compacted$/,
    );
    expect(routing[2]?.routeReason).toMatch(
      /^step verify \(.*\): planner; budget (8|9)\d % used: executor instead of planner; history compacted$/,
    );
    // Turn 3's request carried turn 1's results as stubs: it is smaller than the same turn of the sample run
    const [full, compacted] = [requestTokens(sampleSession), requestTokens(degraded)];
    const saved = (full[2]?.tokens ?? 0) - (compacted[2]?.tokens ?? 0);
    expect(saved).toBeGreaterThan(500);
    // Turn 2 reads turn 1's results whole (only turns before the last are compacted): about the same size
    expect(Math.abs((full[1]?.tokens ?? 0) - (compacted[1]?.tokens ?? 0))).toBeLessThan(50);
  });
});
