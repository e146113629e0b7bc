/**
 * The private tier on the local stack: a restricted goal runs on the stage's SageMaker endpoint only (InvokeEndpoint
 * in chat-completions format, tool calls mapped both ways), never reaching Bedrock, priced above zero; a throttled
 * endpoint is retried as the SDK and the ASL say and then fails the session, still without a Bedrock call.
 */
import type { ModelScript } from '../../local/bedrock/script';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(180_000);

const ENDPOINT = 'sovereign-agent-local-private';
const PRIVATE_MODEL = 'sagemaker:llama-3-1-8b-instruct';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const restrictedGoal = () =>
  goalEvent({
    constraints: { maxTurns: 6, tokenBudget: 120_000, usdBudget: 0.5, dataClassification: 'restricted' },
  });

const bedrockCallsOf = (sessionId: string) => stack.bedrock.calls().filter((c) => c.sessionId === sessionId);
const sageMakerCallsOf = (sessionId: string) =>
  stack.sagemaker
    .calls()
    .filter((c) => c.sessionId === sessionId)
    .map((c) => `${c.endpointName} ${c.status}${c.errorType ? ` ${c.errorType}` : ''}`);

describe('the private tier', () => {
  it('completes a restricted goal on the SageMaker endpoint alone, tool calls and all, at a cost above zero', async () => {
    // Prepare: no script, so the fixture model plans tool calls, reads their results and then summarizes
    const event = restrictedGoal();

    // Act
    const summary = await runGoal({ stack, event });

    // Assess
    expect(summary).toMatchObject({ status: 'completed', error: null });
    const sessionId = summary.sessionId as string;
    const turns = summary.turns as number;
    expect(turns).toBeGreaterThan(1);
    expect(sageMakerCallsOf(sessionId)).toEqual(Array(turns).fill(`${ENDPOINT} 200`));
    expect(bedrockCallsOf(sessionId)).toEqual([]);
    expect(summary.costUsd).toBeGreaterThan(0);
    const { store } = localClients(stack.env);
    const first = (await store.getMessage('acme', sessionId, 1)) as Record<string, unknown>;
    expect(first).toMatchObject({ modelId: PRIVATE_MODEL, tier: 'private', provider: 'sagemaker' });
    // The first turn's tool calls came back from chat tool_calls as toolUse blocks, and ran.
    const toolUses = (first.content as { toolUse?: { name: string } }[]).flatMap((b) => b.toolUse ?? []);
    expect(toolUses.length).toBeGreaterThan(0);
    const conversation = await store.loadConversation('acme', sessionId);
    expect(conversation.toolCalls.filter((c) => c.turn === 1 && c.status === 'succeeded')).toHaveLength(
      toolUses.length,
    );
    for (const message of conversation.messages.filter((m) => m.role === 'assistant')) {
      expect(message).toMatchObject({ provider: 'sagemaker', modelId: PRIVATE_MODEL });
    }
    // The final answer summarizes results the model read back from the chat `tool` messages.
    expect(summary.output).toEqual(expect.any(String));
  });

  it('retries a throttled endpoint as the SDK and the ASL say, then fails, and never falls back to Bedrock', async () => {
    // Prepare
    const event = restrictedGoal();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const throttled: ModelScript = { turns: [{ text: 'never', error: 'ThrottlingException', times: 1000 }] };

    // Act
    const summary = await runGoal({ stack, event, modelScript: throttled });

    // Assess
    expect(summary).toMatchObject({ status: 'failed', turns: 0 });
    expect(summary.error).toMatch(/^ModelThrottledError: InvokeEndpoint ThrottlingException on /);
    // 4 Plan attempts (the ASL's 3 retries) of 3 InvokeEndpoint attempts each (the SDK's)
    expect(sageMakerCallsOf(sessionId)).toEqual(Array(12).fill(`${ENDPOINT} 400 ThrottlingException`));
    expect(bedrockCallsOf(sessionId)).toEqual([]);
  });
});
