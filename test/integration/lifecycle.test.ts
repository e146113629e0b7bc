/**
 * How a goal ends, on the local stack: typed stop reasons and failures in run/status/trace and the lifecycle
 * events, tools_unavailable, usage of an unusable answer, goalId reuse, concurrent deliveries, a replayed Finalize.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace } from '../../local/cli/inspect';
import { exitCodeFor } from '../../local/cli/main';
import { localClients, runGoal } from '../../local/cli/run-goal';
import { fetchBusEvents } from '../../local/eventbridge/service';
import type { LocalStack } from '../../local/stack/start';
import { lifecycleEventId } from '../../shared/contracts/lifecycle-events';
import { goalEvent, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const store = () => localClients(stack.env).store;
const traceOf = async (tenantId: string, sessionId: string) =>
  buildTrace(await store().loadConversation(tenantId, sessionId));

/** The agent's own events on the bus about one session. */
const eventsOf = async (sessionId: string, detailType?: string) =>
  (await fetchBusEvents(stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE as string))
    .map((r) => r.event)
    .filter((e) => e.source === 'sovereign-agent' && e.detail.sessionId === sessionId)
    .filter((e) => detailType === undefined || e['detail-type'] === detailType);

/** The session ends before its step's PutEvents: wait (up to 10 s) until the bus has the session's `detailType`. */
const publishedOf = async (sessionId: string, detailType: string) => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await eventsOf(sessionId, detailType);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const lambda = () => new LambdaClient({ endpoint: stack.env.AWS_ENDPOINT_URL_LAMBDA });
const functionName = (key: string): string => {
  const fn = stack.lambda.functions().find((f) => f.key === key);
  if (!fn) throw new Error(`no function ${key}`);
  return fn.name;
};
const invoke = async (key: string, payload: unknown): Promise<Record<string, unknown>> => {
  const out = await lambda().send(
    new InvokeCommand({ FunctionName: functionName(key), Payload: JSON.stringify(payload) }),
  );
  return JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) as Record<string, unknown>;
};

const audit = { name: 'audit_billing_logs', input: { tenant_id: 'acme' } };

describe('a loop stop is typed, not prose', () => {
  it('shows stopReason loop_detected in run, status and trace, and in Agent Goal Stopped', async () => {
    // Prepare: the same call six times in a row (the profile's loopThreshold is 5)
    const event = goalEvent();
    const script: ModelScript = {
      turns: [...Array.from({ length: 6 }, () => ({ toolUse: [audit] })), { text: 'x' }],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({
      status: 'stopped',
      stopReason: 'loop_detected',
      resumable: false,
      failure: null,
    });
    expect(exitCodeFor(summary)).toBe(4);
    const sessionId = summary.sessionId as string;
    const trace = await traceOf('acme', sessionId);
    expect(trace.session).toMatchObject({ status: 'stopped', stopReason: 'loop_detected' });
    const [stopped, ...more] = await publishedOf(sessionId, 'Agent Goal Stopped');
    expect(more).toHaveLength(0);
    expect(stopped?.detail).toMatchObject({
      stopReason: 'loop_detected',
      reason: 'loop_detected',
      eventId: lifecycleEventId('acme', sessionId, 1, 'Agent Goal Stopped'),
    });
  });
});

describe('a failure says what failed and where', () => {
  it('fails in Plan on a non-retryable Converse error: failure.type and failure.step in run, trace and Agent Goal Failed', async () => {
    // Prepare
    const event = goalEvent();
    const script: ModelScript = { turns: [{ text: 'never', error: 'ValidationException' }] };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({
      status: 'failed',
      stopReason: null,
      resumable: true,
      failure: { type: 'ModelRequestError', step: 'Plan' },
    });
    expect(exitCodeFor(summary)).toBe(3);
    const sessionId = summary.sessionId as string;
    expect((await traceOf('acme', sessionId)).session.failure?.step).toBe('Plan');
    const failed = await publishedOf(sessionId, 'Agent Goal Failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.detail).toMatchObject({
      error: { type: 'ModelRequestError', step: 'Plan' },
      summary: { failure: { step: 'Plan' } },
      eventId: lifecycleEventId('acme', sessionId, 1, 'Agent Goal Failed'),
    });
  });
});

describe('every tool call failed', () => {
  // A tool without a fallback: audit_billing_logs would be answered by its read-only replica.
  const underused = { name: 'list_underutilized_resources', input: { tenant_id: 'acme' } };

  it('ends stopped with tools_unavailable (exit 4), not completed, even though the model answered', async () => {
    // Prepare: the tool fails every invocation (RunTool retries it 3 times per call)
    const event = goalEvent();
    const script: ModelScript = {
      turns: [
        { toolUse: [underused] },
        { toolUse: [underused] },
        { text: 'The billing data is unavailable.' },
      ],
    };

    // Act
    const summary = await runGoal({
      stack,
      event,
      modelScript: script,
      toolFaults: { list_underutilized_resources: { failTimes: 100, error: 'ServiceUnavailable' } },
    });

    // Assess
    expect(summary).toMatchObject({
      status: 'stopped',
      stopReason: 'tools_unavailable',
      toolCalls: 2,
      failedToolCalls: 2,
    });
    expect(summary.output).toMatch(/^Stopped because every tool call failed/);
    expect(exitCodeFor(summary)).toBe(4);
    const stopped = await publishedOf(summary.sessionId as string, 'Agent Goal Stopped');
    expect(stopped[0]?.detail).toMatchObject({ stopReason: 'tools_unavailable', failedToolCalls: 2 });
  });

  it('still completes when one of the calls succeeded', async () => {
    const event = goalEvent();
    const script: ModelScript = {
      turns: [{ toolUse: [underused] }, { toolUse: [underused] }, { text: 'Done.' }],
    };

    const summary = await runGoal({
      stack,
      event,
      modelScript: script,
      toolFaults: { list_underutilized_resources: { failTimes: 3 } },
    });

    expect(summary).toMatchObject({
      status: 'completed',
      stopReason: 'completed',
      toolCalls: 2,
      failedToolCalls: 1,
    });
  });
});

describe('an unusable model answer', () => {
  it('records the tokens and cost of the call on the session before failing in Plan', async () => {
    // Prepare: a tool call far over the profile's 2048 output tokens is dropped whole: no content, max_tokens
    const event = goalEvent();
    const script: ModelScript = {
      turns: [{ toolUse: [{ name: 'audit_billing_logs', input: { note: 'word '.repeat(6000) } }] }],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary).toMatchObject({
      status: 'failed',
      turns: 0,
      failure: { type: 'ModelRequestError', step: 'Plan' },
    });
    expect(summary.failure?.message).toMatch(/no usable content .*max_tokens/);
    const call = stack.bedrock.calls().find((c) => c.sessionId === summary.sessionId);
    expect(call?.usage?.inputTokens).toBeGreaterThan(0);
    expect(summary.tokens.input).toBe(call?.usage?.inputTokens);
    expect(summary.tokens.output).toBe(call?.usage?.outputTokens);
    expect(summary.costUsd).toBeGreaterThan(0);
    expect(Object.values(summary.models)).toEqual([1]);
  });
});

describe('a goalId reused with another goal', () => {
  it('is rejected with the reason (exit 2), while the same goal again stays a duplicate of the old session', async () => {
    // Prepare
    const event = goalEvent({ goal: 'Audit the billing logs.' });
    const script: ModelScript = { turns: [{ text: 'Audited.' }] };
    const first = await runGoal({ stack, event, modelScript: script });
    expect(first.status).toBe('completed');

    // Act
    const same = await runGoal({ stack, event });
    const other = await runGoal({
      stack,
      event: { ...event, detail: { ...event.detail, goal: 'Delete every report.' } },
    });

    // Assess
    expect(same).toMatchObject({ status: 'completed', sessionId: first.sessionId, output: 'Audited.' });
    expect(other.status).toBe('rejected');
    expect(other.error).toMatch(/already used by another goal/);
    expect(exitCodeFor(other)).toBe(2);
    const rejected = (await fetchBusEvents(stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE as string)).filter(
      (r) => r.event['detail-type'] === 'Agent Goal Rejected' && r.event.detail.sessionId === first.sessionId,
    );
    expect(rejected).toHaveLength(1);
    expect((await store().getSession('acme', first.sessionId as string))?.goal).toBe(
      'Audit the billing logs.',
    );
  });
});

describe('concurrent deliveries of one goal', () => {
  it('start one execution, and only one delivery says started (GoalsStarted counts one)', async () => {
    // Prepare: one envelope, delivered five times at once (EventBridge delivers at least once)
    const event = { ...goalEvent(), id: `it-dup-${Date.now().toString(36)}` };
    const sessionId = (event.detail as { goalId: string }).goalId;

    // Act
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => invoke('intake', event)));

    // Assess
    expect(outcomes.filter((o) => o.outcome === 'started')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(4);
    const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
    const executions = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: stack.env.STATE_MACHINE_ARN }),
    );
    expect((executions.executions ?? []).filter((e) => e.name?.includes(sessionId))).toHaveLength(1);
  });
});

describe('a replayed Finalize', () => {
  it('publishes Agent Goal Completed once: the replay finds the event id on the session', async () => {
    // Prepare
    const event = goalEvent();
    const summary = await runGoal({ stack, event, modelScript: { turns: [{ text: 'Done.' }] } });
    expect(summary.status).toBe('completed');
    const sessionId = summary.sessionId as string;
    const eventId = lifecycleEventId('acme', sessionId, 1, 'Agent Goal Completed');
    // The session ends before Finalize publishes and records the id: wait for the step to be done.
    const deadline = Date.now() + 10_000;
    while (!(await store().getSession('acme', sessionId))?.publishedEvents?.includes(eventId)) {
      if (Date.now() > deadline) throw new Error('Finalize never recorded its event');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // Act: Step Functions runs the step again (a retry after a lost response), twice
    const input = { tenantId: 'acme', sessionId, turn: 1, reason: 'completed' };
    const replays = [await invoke('finalize', input), await invoke('finalize', input)];

    // Assess
    expect(replays.map((r) => [r.published, r.eventId])).toEqual([
      [false, eventId],
      [false, eventId],
    ]);
    const completed = await publishedOf(sessionId, 'Agent Goal Completed');
    expect(completed.map((e) => e.detail.eventId)).toEqual([eventId]);
    expect((await store().getSession('acme', sessionId))?.publishedEvents).toEqual([eventId]);
  });
});
