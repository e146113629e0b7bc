/**
 * Tier fallback lists on the local stack: a planner model throttled past the SDK's retries gives the turn to the
 * tier's next model (said on the turn); a one-model tier throttled past the SDK's and the ASL's retries fails the
 * session resumably with ModelThrottledError, and a resume completes it.
 */
import type { ModelScript } from '../../local/bedrock/script';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { DEFAULT_BREAKER_SETTINGS } from '../../shared/agent/breaker';
import { BreakerStore } from '../../shared/store/breaker-store';
import { TIERS } from '../helpers/fixtures';
import { goalEvent, loadEvent, startTestStack } from './helpers';

jest.setTimeout(180_000);

const SONNET = TIERS.planner;
const HAIKU = TIERS.executor;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: { plan: { MODEL_TIER_PLANNER: `${SONNET},${HAIKU}` } },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const callsOf = (sessionId: string) =>
  stack.bedrock
    .calls()
    .filter((c) => c.sessionId === sessionId)
    .map((c) => `${c.modelId} ${c.status}`);

describe('model fallback within a tier', () => {
  it("moves a turn to the tier's next model when its model throttles past the SDK's retries", async () => {
    // Prepare: the sample goal plans its first turn on the planner tier, whose list is sonnet, then haiku
    const event = goalEvent();
    const script: ModelScript = {
      turns: [
        { text: 'Answered by the fallback.', error: 'ThrottlingException', times: 100, modelIds: [SONNET] },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({ status: 'completed', output: 'Answered by the fallback.' });
    const sessionId = summary.sessionId as string;
    expect(callsOf(sessionId)).toEqual([`${SONNET} 429`, `${SONNET} 429`, `${SONNET} 429`, `${HAIKU} 200`]);
    const turn = (await localClients(stack.env).store.getMessage('acme', sessionId, 1)) ?? {};
    expect(turn).toMatchObject({ modelId: HAIKU, tier: 'planner' });
    expect((turn as { routeReason?: string }).routeReason).toMatch(
      new RegExp(`fell back to ${HAIKU} \\(${SONNET}: ModelThrottledError\\)`),
    );
  });

  it('fails a one-model tier resumably with ModelThrottledError past every retry, and a resume completes it', async () => {
    // Prepare: a tight latency tolerance routes to the executor tier, which lists one model
    const event = goalEvent({ constraints: { latencyToleranceMs: 500 } });
    const sessionId = (event.detail as { goalId: string }).goalId;
    const throttled: ModelScript = { turns: [{ text: 'never', error: 'ThrottlingException', times: 1000 }] };

    // Act
    const failed = await runGoal({ stack, event, modelScript: throttled });
    const resumed = await runGoal({
      stack,
      event: { ...loadEvent('resume-request.json'), detail: { tenantId: 'acme', sessionId } },
      modelScript: { turns: [{ text: 'Answered after the resume.' }] },
    });

    // Assess
    expect(failed).toMatchObject({ status: 'failed', turns: 0 });
    expect(failed.error).toMatch(/^ModelThrottledError: /);
    // 4 Plan attempts (the ASL's 3 retries) of 3 Converse attempts each (the SDK's), all on the tier's one model
    expect(callsOf(sessionId).slice(0, 12)).toEqual(Array(12).fill(`${HAIKU} 429`));
    expect(resumed).toMatchObject({ status: 'completed', output: 'Answered after the resume.', error: null });
    expect(
      stack.eventBridge.events().some((e) => e.event['detail-type'] === 'Agent Goal Resume Requested'),
    ).toBe(true);
    // Each Plan attempt counted once on the model's breaker (fewer than minCalls: it stays closed)
    const window = await new BreakerStore(
      localClients(stack.env).doc,
      stack.env.TABLE_NAME as string,
    ).readWindow('model', HAIKU, DEFAULT_BREAKER_SETTINGS);
    expect(window).toEqual({ calls: 4, failures: 4 });
  });
});
