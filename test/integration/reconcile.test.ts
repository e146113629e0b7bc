/**
 * The reconciler on the local stack: an execution stopped by an operator (StopExecution) fails its session,
 * resumable, with Agent Goal Failed announced, through the status-change event the local Step Functions puts on
 * the default bus as AWS does; a resume then completes it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { ModelScript } from '../../local/bedrock/script';
import { resumeSession } from '../../local/cli/resume';
import { localClients, runGoal } from '../../local/cli/run-goal';
import { type LocalStack, startLocalStack } from '../../local/stack/start';
import { GOAL_FAILED, lifecycleEventId } from '../../shared/contracts/lifecycle-events';
import { EXECUTION_STATUS_CHANGE } from '../../shared/steps/reconcile';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(180_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the reconciler', () => {
  it('fails the session of a stopped execution, resumable, announces it, and a resume completes it', async () => {
    // Prepare: turn 1 calls a tool; turn 2's model answer takes 4 s, long enough to stop the execution meanwhile.
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'Finished after the resume.', delayMs: 4000 },
      ],
    };
    const { store } = localClients(stack.env);
    const run = runGoal({ stack, event, modelScript: script, timeoutMs: 60_000 });
    let executionArn: string | undefined;
    for (let i = 0; i < 200 && executionArn === undefined; i++) {
      const session = await store.getSession('acme', sessionId);
      if (session?.status === 'running' && session.turn === 1) executionArn = session.executionArn;
      else await sleep(50);
    }
    if (!executionArn) throw new Error('the goal never reached turn 1');

    // Act
    const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
    await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'OperatorStop', cause: 'stopped by a test' }),
    );
    const failedEvent = await stack.eventBridge.waitForEvent(
      (e) =>
        e.event['detail-type'] === GOAL_FAILED &&
        (e.event.detail as { sessionId?: string }).sessionId === sessionId,
      20_000,
    );
    const failed = await run;

    // Assess
    const statusChange = stack.eventBridge
      .events()
      .find(
        (e) =>
          e.event['detail-type'] === EXECUTION_STATUS_CHANGE &&
          (e.event.detail as { executionArn?: string; status?: string }).executionArn === executionArn &&
          (e.event.detail as { status?: string }).status === 'ABORTED',
      );
    expect(statusChange).toMatchObject({
      eventBusName: 'default',
      event: { source: 'aws.states', resources: [executionArn] },
    });
    expect(statusChange?.matchedRules.length).toBe(1);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.error).toMatch(/^ExecutionAborted: .*OperatorStop: stopped by a test/);
    expect(failedEvent.event.detail).toMatchObject({
      sessionId,
      resumable: true,
      executionArn,
      error: { type: 'ExecutionAborted' },
      // The run's deterministic id, recorded on the session: a redelivered status change publishes nothing.
      eventId: lifecycleEventId('acme', sessionId, 1, GOAL_FAILED),
    });

    // Act: resume the failed session.
    const resumed = await resumeSession(localClients(stack.env), { stack, sessionId, tenantId: 'acme' });

    // Assess
    expect(resumed).toMatchObject({
      status: 'completed',
      turns: 2,
      toolCalls: 1,
      output: 'Finished after the resume.',
    });
  });

  it('leaves alone a session its execution failed through RecordFailure (one Agent Goal Failed only)', async () => {
    // Prepare: the model refuses turn 2 (not retryable): RecordFailure fails the session, the execution FAILED.
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'never', error: 'ValidationException', times: 1 },
      ],
    };

    // Act
    const failed = await runGoal({ stack, event, modelScript: script });
    await stack.eventBridge.waitForEvent(
      (e) =>
        e.event['detail-type'] === EXECUTION_STATUS_CHANGE &&
        (e.event.detail as { status?: string }).status === 'FAILED' &&
        ((e.event.detail as { input?: string }).input ?? '').includes(sessionId) &&
        e.settled,
      20_000,
    );
    await sleep(500);

    // Assess
    expect(failed.error).toMatch(/ModelRequestError/);
    const announced = stack.eventBridge
      .events()
      .filter(
        (e) =>
          e.event['detail-type'] === GOAL_FAILED &&
          (e.event.detail as { sessionId?: string }).sessionId === sessionId,
      );
    expect(announced).toHaveLength(1);
    const session = await localClients(stack.env).store.requireSession('acme', sessionId);
    expect(session.error?.type).toBe('ModelRequestError');
  });

  it('after a restart, fails the session of an execution the stopped stack had left running', async () => {
    // Prepare: a stack that keeps its executions on disk runs a goal whose turn 2 takes 5 s, and is stopped then.
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB as string;
    const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-restart-'));
    const options = {
      dynamodbEndpoint: endpoint,
      dataDir,
      retryIntervalOverrides: { Plan: 0, StartSession: 0 },
    };
    const first = await startLocalStack(options);
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'Finished after the restart.', delayMs: 5000 },
      ],
    };
    void runGoal({ stack: first, event, modelScript: script, timeoutMs: 30_000 }).catch(() => undefined);
    const { store } = localClients(first.env);
    for (let i = 0; i < 200; i++) {
      const session = await store.getSession('acme', sessionId);
      if (session?.status === 'running' && session.turn === 1) break;
      await sleep(50);
    }
    await first.stop();

    // Act
    const second = await startLocalStack(options);
    try {
      const failedEvent = await second.eventBridge.waitForEvent(
        (e) =>
          e.event['detail-type'] === GOAL_FAILED &&
          (e.event.detail as { sessionId?: string }).sessionId === sessionId,
        20_000,
      );
      const session = await localClients(second.env).store.requireSession('acme', sessionId);
      // The first stack's emulator and the script in it are gone: the rest of the goal is the fixture model's.
      const resumed = await resumeSession(localClients(second.env), {
        stack: second,
        sessionId,
        tenantId: 'acme',
      });
      const conversation = await localClients(second.env).store.loadConversation('acme', sessionId);

      // Assess
      expect(failedEvent.event.detail).toMatchObject({
        resumable: true,
        error: { type: 'ExecutionAborted' },
      });
      expect(session).toMatchObject({ status: 'failed', turn: 1 });
      expect(session.error?.message).toMatch(/LocalStackShutdown/);
      expect(resumed?.status).toBe('completed');
      expect(resumed?.turns).toBeGreaterThanOrEqual(2);
      // Turn 1's call, done before the stop, is served from its record, not run again.
      const turnOne = conversation.toolCalls.filter((c) => c.turn === 1);
      expect(turnOne.map((c) => [c.status, c.invocations])).toEqual([['succeeded', 1]]);
      expect(resumed?.toolCalls).toBe(conversation.toolCalls.length);
    } finally {
      await second.stop();
    }
  });
});
