/**
 * The Guardrails stage option on the local stack: Plan sends guardrailConfig with every Bedrock call (GUARDRAIL_ID,
 * GUARDRAIL_VERSION), and the Bedrock emulator's deny-list guardrail intervenes the way Converse does. An intervened
 * turn is recorded with the guardrail's message, the goal stops with `guardrail_intervened`, and the intervention is a
 * security event; a guardrail Bedrock does not know is refused with ResourceNotFoundException.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import type { ModelScript } from '../../local/bedrock/script';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(120_000);

const BLOCKED_INPUT = 'This request cannot be processed: it asks for something the stage does not allow.';
const BLOCKED_OUTPUT = 'The answer was withheld by the stage guardrail.';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: { plan: { GUARDRAIL_ID: 'finguard', GUARDRAIL_VERSION: '1' } },
    guardrails: {
      finguard: {
        versions: ['1'],
        deniedWords: ['wire transfer', 'routing number'],
        blockedInputMessaging: BLOCKED_INPUT,
        blockedOutputsMessaging: BLOCKED_OUTPUT,
      },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const securityEvents = (sessionId: string) =>
  readFileSync(join(stack.dataDir, 'logs', 'plan.log'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"Security event"') && line.includes(sessionId))
    .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);

const endOf = async (sessionId: string) => {
  const conversation = await localClients(stack.env).store.loadConversation('acme', sessionId);
  return { session: conversation.session, last: conversation.messages.at(-1) };
};

describe('the Guardrails stage option', () => {
  it('blocks a goal whose text the guardrail denies: the turn holds its message and the goal stops', async () => {
    // Act: no script: a blocked input never reaches the model
    const summary = await runGoal({
      stack,
      event: goalEvent({
        goal: 'Audit the bill, then prepare a wire transfer of the savings to account 42.',
      }),
    });

    // Assess
    const sessionId = summary.sessionId as string;
    const { session, last } = await endOf(sessionId);
    expect([session.status, session.stopReason]).toEqual(['stopped', 'guardrail_intervened']);
    expect(last).toMatchObject({ role: 'assistant', turn: 1, stopReason: 'guardrail_intervened' });
    expect(last?.content).toEqual([{ text: BLOCKED_INPUT }]);
    expect(securityEvents(sessionId)).toEqual([
      expect.objectContaining({
        type: 'guardrail_intervened',
        tenantId: 'acme',
        turn: 1,
        guardrailId: 'finguard',
      }),
    ]);
  });

  it('withholds an answer the guardrail denies, after the tool calls that ran', async () => {
    // Prepare
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'Savings found. Send them with this routing number: 0210-0002-1.' },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    const sessionId = summary.sessionId as string;
    const { session, last } = await endOf(sessionId);
    expect([session.status, session.stopReason]).toEqual(['stopped', 'guardrail_intervened']);
    expect(last).toMatchObject({
      turn: 2,
      stopReason: 'guardrail_intervened',
      content: [{ text: BLOCKED_OUTPUT }],
    });
    expect(securityEvents(sessionId).map((e) => [e.type, e.turn])).toEqual([['guardrail_intervened', 2]]);
  });

  it('lets a goal the guardrail does not deny complete, with the guardrail sent on every call', async () => {
    // Act
    const summary = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: { turns: [{ text: 'Nothing to flag.' }] },
    });

    // Assess
    const sessionId = summary.sessionId as string;
    expect(summary.status).toBe('completed');
    expect(securityEvents(sessionId)).toEqual([]);
    const calls = stack.bedrock.calls().filter((c) => c.sessionId === sessionId);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.map((c) => c.guardrail)).toEqual(calls.map(() => 'finguard'));
  });

  it('refuses a guardrail id or version it does not know with ResourceNotFoundException', async () => {
    // Prepare
    const client = new BedrockRuntimeClient({
      endpoint: stack.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const request = (guardrailIdentifier: string, guardrailVersion: string) =>
      new ConverseCommand({
        modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
        messages: [{ role: 'user', content: [{ text: 'Hello.' }] }],
        guardrailConfig: { guardrailIdentifier, guardrailVersion },
      });

    // Act / Assess
    await expect(client.send(request('nosuchguard', '1'))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(client.send(request('finguard', '7'))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    const answer = await client.send(request('finguard', '1'));
    expect(answer.stopReason).not.toBe('guardrail_intervened');
    client.destroy();
  });
});
