/**
 * Resume on the local stack: two resume requests at once start one execution, a running session is never resumed,
 * and a long goal continues in fresh executions (continue-as-new) without repeating a turn or a tool call.
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ModelScript } from '../../local/bedrock/script';
import { resumeSession } from '../../local/cli/resume';
import { localClients, runGoal } from '../../local/cli/run-goal';
import { type LocalStack, startLocalStack } from '../../local/stack/start';
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { intakeConfig } from '../../shared/runtime/config';
import { SessionStateError } from '../../shared/runtime/errors';
import { acceptEvent, type IntakeDeps } from '../../shared/steps/intake';
import { keys } from '../../shared/store/table';
import { TenantStore } from '../../shared/store/tenant-store';
import { goalEvent, loadEvent } from './helpers';

jest.setTimeout(180_000);

let stack: LocalStack;

beforeAll(async () => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint) throw new Error('global-setup did not start DynamoDB Local');
  // As helpers.startTestStack, plus a small history budget for Plan so a 5-turn goal continues as new.
  stack = await startLocalStack({
    dynamodbEndpoint: endpoint,
    inMemory: true,
    dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-it-')),
    retryIntervalOverrides: {
      Plan: 0,
      RunTool: 0,
      StartSession: 0,
      Finalize: 0,
      RecordFailure: 0,
      ContinueAsNew: 0,
    },
    functionEnvironment: {
      runTool: { TOOL_RETRY_BASE_MS: '20', TOOL_RETRY_MAX_MS: '100' },
      plan: { HISTORY_EVENT_BUDGET: '90' },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const sessionIdOf = (event: { detail: unknown }) => (event.detail as { goalId: string }).goalId;

const executionsOf = async (sessionId: string) => {
  const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
  const out = await sfn.send(new ListExecutionsCommand({ stateMachineArn: stack.env.STATE_MACHINE_ARN }));
  return (out.executions ?? []).filter((e) => e.name?.includes(sessionId));
};

/** Polls the session until it is completed, stopped or failed again (after a resume began its run). */
const waitForEnd = async (sessionId: string) => {
  const { store } = localClients(stack.env);
  for (let i = 0; i < 300; i++) {
    const session = await store.requireSession('acme', sessionId);
    if (session.runs > 1 && ['completed', 'stopped', 'failed'].includes(session.status)) return session;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`session ${sessionId} did not end`);
};

const billingInvocations = () =>
  stack.lambda.invocations().filter((i) => i.functionName.endsWith('billingActionGroup')).length;

/** Turn 1 calls a tool; turn 2 is refused once (not retryable), which fails the goal with a checkpoint at turn 1. */
const failingScript: ModelScript = {
  turns: [
    { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
    { text: 'Audit done after the resume.', error: 'ValidationException', times: 1 },
  ],
};

describe('resume', () => {
  it('runs one execution for two resume requests at once; the other is told the session is being resumed', async () => {
    // Prepare: intake's own code, twice at once, against the stack's DynamoDB and Step Functions (delivered
    // through the bus, the local Lambda would run them one after the other and the race would not happen).
    const event = goalEvent();
    const sessionId = sessionIdOf(event);
    const failed = await runGoal({ stack, event, modelScript: failingScript });
    const auditsBefore = billingInvocations();
    const deps: IntakeDeps = {
      store: localClients(stack.env).store,
      sfn: new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN }),
      stateMachineArn: stack.env.STATE_MACHINE_ARN as string,
      events: new EventPublisher(
        new EventBridgeClient({ endpoint: stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE }),
        stack.env.EVENT_BUS_NAME as string,
        'sovereign-agent',
      ),
      tenants: new TenantStore(localClients(stack.env).doc, stack.env.TABLE_NAME as string),
      rules: intakeConfig({}),
    };
    const request = (id: string) => ({
      ...loadEvent('resume-request.json'),
      id,
      detail: { tenantId: 'acme', sessionId },
    });

    // Act
    const outcomes = await Promise.all([
      acceptEvent(deps, request(randomUUID())),
      acceptEvent(deps, request(randomUUID())),
    ]);
    const session = await waitForEnd(sessionId);

    // Assess
    expect(failed).toMatchObject({ status: 'failed', turns: 1 });
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['rejected', 'started']);
    const rejected = outcomes.find((o) => o.outcome === 'rejected');
    expect(rejected).toMatchObject({ reason: `session ${sessionId} is already being resumed (run 1)` });
    expect(await executionsOf(sessionId)).toHaveLength(2); // the first run and ONE resume
    expect(session).toMatchObject({ status: 'completed', turn: 2, toolCalls: 1, runs: 2 });
    expect(billingInvocations()).toBe(auditsBefore);
  });

  it('resumes a failed session through the CLI module and refuses one that is not resumable', async () => {
    // Prepare
    const event = goalEvent();
    const sessionId = sessionIdOf(event);
    await runGoal({ stack, event, modelScript: failingScript });
    const clients = localClients(stack.env);

    // Act
    const resumed = await resumeSession(clients, { stack, sessionId });
    const again = await resumeSession(clients, { stack, sessionId });
    const missing = await resumeSession(clients, { stack, sessionId: 'no-such-session' });

    // Assess
    expect(resumed).toMatchObject({
      status: 'completed',
      turns: 2,
      toolCalls: 1,
      output: 'Audit done after the resume.',
    });
    expect(again).toMatchObject({ status: 'rejected' });
    expect(again?.error).toMatch(/it is completed, not failed, paused or stopped by circuit_open/);
    expect(missing).toBeUndefined();
  });

  it('refuses to begin a resume run of a session that is running', async () => {
    // Prepare: a failed session that one resume run has begun (its execution still alive).
    const event = goalEvent();
    const sessionId = sessionIdOf(event);
    await runGoal({ stack, event, modelScript: failingScript });
    const { store } = localClients(stack.env);
    await store.beginRun(
      'acme',
      sessionId,
      'resume',
      'arn:aws:states:us-east-1:000000000000:execution:x:alive',
    );

    // Act
    const act = store.beginRun(
      'acme',
      sessionId,
      'resume',
      'arn:aws:states:us-east-1:000000000000:execution:x:second',
    );

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow(/is running; a resume needs failed/);
  });
});

describe('resume of a session stopped by open circuit breakers', () => {
  it('runs the calls the breaker refused again, once, and counts them once', async () => {
    // Prepare: a session whose turn-1 call was refused by an open breaker and that stopped circuit_open (written
    // as the breaker's RunTool and Plan's stop rule leave it).
    const event = goalEvent();
    const sessionId = sessionIdOf(event);
    await runGoal({ stack, event, modelScript: failingScript });
    const { doc, tableName, store } = localClients(stack.env);
    const session = await store.requireSession('acme', sessionId);
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.toolCall('acme', sessionId, 1, 0),
        UpdateExpression: 'SET #status = :failed, errorKind = :kind, #result = :result',
        ExpressionAttributeNames: { '#status': 'status', '#result': 'result' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':kind': 'circuit_open',
          ':result': '{"error":"circuit open"}',
        },
      }),
    );
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.session('acme', sessionId),
        UpdateExpression: 'SET #status = :stopped, stopReason = :reason, #output = :output REMOVE #error',
        ExpressionAttributeNames: { '#status': 'status', '#output': 'output', '#error': 'error' },
        ExpressionAttributeValues: {
          ':stopped': 'stopped',
          ':reason': 'circuit_open',
          ':output': 'Stopped because ...',
        },
      }),
    );
    const auditsBefore = billingInvocations();

    // Act
    const resumed = await resumeSession(localClients(stack.env), { stack, sessionId, tenantId: 'acme' });

    // Assess
    expect(session.toolCalls).toBe(1);
    expect(resumed).toMatchObject({
      status: 'completed',
      turns: 2,
      toolCalls: 1,
      output: 'Audit done after the resume.',
    });
    expect(billingInvocations() - auditsBefore).toBe(1);
    const conversation = await store.loadConversation('acme', sessionId);
    expect(conversation.toolCalls.map((c) => [c.turn, c.index, c.status])).toEqual([[1, 0, 'succeeded']]);
    expect(conversation.session.stopReason).toBe('completed');
  });
});

describe('continue-as-new', () => {
  it('continues a 5-turn goal in fresh executions and completes it, repeating no turn or tool call', async () => {
    // Prepare: four tool turns, then the answer; HISTORY_EVENT_BUDGET 90 continues after every second turn.
    const event = goalEvent();
    const sessionId = sessionIdOf(event);
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        {
          toolUse: [
            { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 30 } },
          ],
        },
        { toolUse: [{ name: 'get_contract_terms', input: { tenant_id: 'acme' } }] },
        {
          toolUse: [{ name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 7 } }],
        },
        { text: 'Done across executions.' },
      ],
    };
    const before = billingInvocations();

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({
      status: 'completed',
      turns: 5,
      toolCalls: 4,
      output: 'Done across executions.',
    });
    expect(billingInvocations() - before).toBe(4);
    const executions = await executionsOf(sessionId);
    expect(executions.length).toBeGreaterThanOrEqual(2);
    expect(executions.every((e) => e.status === 'SUCCEEDED')).toBe(true);
    const conversation = await localClients(stack.env).store.loadConversation('acme', sessionId);
    const assistant = conversation.messages.filter((m) => m.role === 'assistant');
    expect(assistant.map((m) => m.turn)).toEqual([1, 2, 3, 4, 5]);
    const input = assistant.reduce((n, m) => n + (m.usage?.input ?? 0), 0);
    expect(summary.tokens.input).toBe(input);
    expect(conversation.session.runs).toBe(executions.length);
    expect(Object.values(summary.models).reduce((n, c) => n + c, 0)).toBe(5);
    // The estimate is conservative: no execution's real history passed the budget it was planned against (measured:
    // 57 events for each 2-turn, 2-call execution that continued, estimated 76; 21 for the last, estimated 28).
    const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
    const histories = await Promise.all(
      executions.map((e) =>
        sfn.send(new GetExecutionHistoryCommand({ executionArn: e.executionArn, maxResults: 1000 })),
      ),
    );
    const sizes = histories.map((h) => h.events?.length ?? 0);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(90);
  });
});
