/** Typed session summaries, the tools_unavailable stop, the failed step, and lifecycle events published once. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import { formatSummary } from '../../local/cli/inspect';
import { summarize } from '../../local/cli/run-goal';
import { GOAL_COMPLETED, lifecycleEventId, summary } from '../../shared/contracts/lifecycle-events';
import { finalizeSession } from '../../shared/steps/finalize';
import { recordFailure } from '../../shared/steps/record-failure';
import { allToolCallsFailed } from '../../shared/store/session-store';
import { conditionFailed, mockedPublisher, mockedStore } from '../helpers/aws';
import { assistantText, SESSION, sessionItem, TENANT } from '../helpers/fixtures';

const published = (eventBridge: ReturnType<typeof mockedPublisher>['eventBridge']) =>
  eventBridge.commandCalls(PutEventsCommand).map((c) => {
    const entry = c.args[0].input.Entries?.[0];
    return { type: entry?.DetailType, detail: JSON.parse(entry?.Detail ?? '{}') as Record<string, unknown> };
  });

describe('summary', () => {
  it('types a stop: the StopReason, no failure, resumable only for a resumable stop', () => {
    expect(summary(sessionItem({ status: 'stopped', stopReason: 'loop_detected' }))).toMatchObject({
      stopReason: 'loop_detected',
      failure: null,
      resumable: false,
      failedToolCalls: 0,
    });
    expect(summary(sessionItem({ status: 'stopped', stopReason: 'circuit_open' })).resumable).toBe(true);
  });

  it('types a failure: its type, message and step, resumable, no stop reason', () => {
    const failed = sessionItem({
      status: 'failed',
      failedToolCalls: 2,
      error: { type: 'ModelRequestError', message: 'bad request', at: 'x', step: 'Plan' },
    });
    expect(summary(failed)).toMatchObject({
      stopReason: null,
      failure: { type: 'ModelRequestError', message: 'bad request', step: 'Plan' },
      resumable: true,
      failedToolCalls: 2,
    });
  });
});

describe('allToolCallsFailed', () => {
  it.each([
    [0, undefined, false],
    [2, undefined, false],
    [2, 1, false],
    [2, 2, true],
  ])('%i calls, %s failed -> %s', (toolCalls, failedToolCalls, expected) => {
    expect(
      allToolCallsFailed({ toolCalls, ...(failedToolCalls === undefined ? {} : { failedToolCalls }) }),
    ).toBe(expected);
  });
});

describe('completeToolCall counts failed calls', () => {
  it('adds to failedToolCalls only when the call did not succeed', async () => {
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).resolves({});
    const base = { tenantId: TENANT, sessionId: SESSION, turn: 1, index: 0, result: 'ok' };
    const rest = { resultHash: 'h', latencyMs: 1, invocations: 1 };
    await store.completeToolCall({ ...base, ...rest, status: 'succeeded' });
    const session = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[1];
    expect(session?.Update?.UpdateExpression).toBe('ADD toolCalls :one SET updatedAt = :now');
  });
});

describe('finalizeSession: every tool call failed', () => {
  it('stops the session with tools_unavailable instead of completing it, from the counters the update saw', async () => {
    // Prepare: the completing update's condition fails on a running session whose 3 calls all failed
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(GetCommand).resolves({ Item: assistantText(2, 'The billing API is down.') });
    ddb
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed(sessionItem({ toolCalls: 3, failedToolCalls: 3, turn: 2 })))
      .callsFake((input: { ExpressionAttributeValues: Record<string, unknown> }) => ({
        Attributes: sessionItem({
          status: 'stopped',
          stopReason: String(input.ExpressionAttributeValues[':reason']),
          output: String(input.ExpressionAttributeValues[':output']),
          toolCalls: 3,
          failedToolCalls: 3,
        }),
      }));
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });

    // Act
    const result = await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 2, reason: 'completed' },
    );

    // Assess
    expect(result).toMatchObject({ status: 'stopped', stopReason: 'tools_unavailable' });
    const [first, second] = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(first?.ConditionExpression).toContain('failedToolCalls < toolCalls');
    expect(second?.ExpressionAttributeValues).toMatchObject({
      ':status': 'stopped',
      ':reason': 'tools_unavailable',
      ':output': expect.stringContaining('every tool call failed'),
    });
    expect(published(eventBridge)[0]).toMatchObject({
      type: 'Agent Goal Stopped',
      detail: { stopReason: 'tools_unavailable', reason: 'tools_unavailable' },
    });
  });
});

describe('lifecycle events are published once', () => {
  it('carries a deterministic eventId and records it on the session after PutEvents', async () => {
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    const ended = sessionItem({ status: 'completed', stopReason: 'completed', output: 'Done.', turn: 1 });
    ddb.on(GetCommand).resolves({ Item: assistantText(1, 'Done.') });
    ddb.on(UpdateCommand).resolves({ Attributes: ended });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });

    const result = await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 1, reason: 'completed' },
    );

    const eventId = lifecycleEventId(TENANT, SESSION, ended.runs, GOAL_COMPLETED);
    expect(result).toMatchObject({ eventId, published: true });
    expect(published(eventBridge)[0]?.detail.eventId).toBe(eventId);
    const record = ddb.commandCalls(UpdateCommand)[1]?.args[0].input;
    expect(record).toMatchObject({
      ConditionExpression: 'attribute_exists(pk) AND NOT contains(publishedEvents, :id)',
      ExpressionAttributeValues: expect.objectContaining({ ':id': eventId, ':ids': [eventId] }),
    });
  });

  it('publishes nothing when a replayed Finalize finds the id already recorded', async () => {
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    const eventId = lifecycleEventId(TENANT, SESSION, 1, GOAL_COMPLETED);
    const ended = sessionItem({ status: 'completed', stopReason: 'completed', publishedEvents: [eventId] });
    ddb.on(GetCommand).resolves({ Item: assistantText(1, 'Done.') });
    ddb.on(UpdateCommand).resolves({ Attributes: ended });

    const result = await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 1, reason: 'completed' },
    );

    expect(result).toMatchObject({ eventId, published: false });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('does not record the id when PutEvents failed, so the retry publishes', async () => {
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ status: 'failed' }) });
    eventBridge
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });

    const act = recordFailure({ store, events }, { tenantId: TENANT, sessionId: SESSION, error: {} });

    await expect(act).rejects.toThrow('failed');
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });
});

describe('recordFailure: the failed step', () => {
  it("stores the step the state machine named as the session's error.step and announces it", async () => {
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ status: 'failed' }) });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });

    const detail = await recordFailure(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, error: { Error: 'ModelRequestError' }, step: 'Plan' },
    );

    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ExpressionAttributeValues?.[':error']).toMatchObject({
      type: 'ModelRequestError',
      step: 'Plan',
    });
    expect(detail.error.step).toBe('Plan');
    expect(published(eventBridge)[0]?.detail).toMatchObject({
      error: { step: 'Plan' },
      eventId: detail.eventId,
    });
  });
});

describe('formatSummary', () => {
  it('shows a stop reason, and a failure with its type and step, in the text summary', () => {
    const stopped = formatSummary(
      summarize(
        sessionItem({ status: 'stopped', stopReason: 'tools_unavailable', toolCalls: 2, failedToolCalls: 2 }),
      ),
    );
    expect(stopped).toMatch(/^reason {4}tools_unavailable$/m);
    expect(stopped).toMatch(/tool calls 2 \(2 failed\)/);
    const failed = formatSummary(
      summarize(
        sessionItem({
          status: 'failed',
          error: { type: 'ModelRequestError', message: 'refused', at: 'x', step: 'Plan' },
        }),
      ),
    );
    expect(failed).toMatch(/^failure {3}ModelRequestError in Plan \(resumable\)$/m);
    expect(
      formatSummary(summarize(sessionItem({ status: 'completed', stopReason: 'completed' }))),
    ).not.toMatch(/reason|failure/);
  });
});
