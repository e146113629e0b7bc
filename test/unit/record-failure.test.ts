/** Finalize and RecordFailure: what ends up in the session and on the bus, and that no end event is lost. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import { summary } from '../../shared/contracts/lifecycle-events';
import { finalizeSession } from '../../shared/steps/finalize';
import { describeCause, recordFailure } from '../../shared/steps/record-failure';
import { keys } from '../../shared/store/table';
import { conditionFailed, mockedPublisher, mockedStore } from '../helpers/aws';
import { assistantText, SESSION, sessionItem, TENANT } from '../helpers/fixtures';

describe('recordFailure', () => {
  it('marks a running session failed and announces it as resumable from its last committed turn', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ status: 'failed', turn: 3 }) });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });

    // Act
    const detail = await recordFailure(
      { store, events },
      {
        tenantId: TENANT,
        sessionId: SESSION,
        error: { Error: 'ModelRequestError', Cause: JSON.stringify({ errorMessage: 'model refused' }) },
      },
    );

    // Assess
    expect(detail).toMatchObject({ resumable: true, checkpointTurn: 3, published: true });
    expect(detail.error).toEqual({ type: 'ModelRequestError', message: 'model refused', step: null });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('announces a completed session as completed again, never as failed (the event Finalize may have lost)', async () => {
    // Prepare: Finalize committed the session, then its PutEvents failed and the ASL caught it
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    const ended = sessionItem({
      status: 'completed',
      stopReason: 'completed',
      output: 'Report stored.',
      turn: 4,
    });
    ddb.on(UpdateCommand).rejects(conditionFailed(ended));
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-2' }] });

    // Act
    const detail = await recordFailure(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, error: { Error: 'EventPublishError' } },
    );

    // Assess
    expect(detail).toMatchObject({
      resumable: false,
      published: true,
      event: 'Agent Goal Completed',
      status: 'completed',
    });
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.DetailType).toBe('Agent Goal Completed');
    expect(JSON.parse(entry?.Detail ?? '{}')).toEqual({
      eventId: detail.eventId,
      ...summary(ended),
      reason: 'completed',
      output: 'Report stored.',
    });
  });

  it('announces a stopped session as stopped, with its stop reason', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    const ended = sessionItem({ status: 'stopped', stopReason: 'max_turns', output: 'Stopped because x.' });
    ddb.on(UpdateCommand).rejects(conditionFailed(ended));
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-3' }] });

    // Act
    const detail = await recordFailure(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, error: { Error: 'EventPublishError' } },
    );

    // Assess
    expect(detail).toMatchObject({ published: true, event: 'Agent Goal Stopped', status: 'stopped' });
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.DetailType).toBe('Agent Goal Stopped');
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      reason: 'max_turns',
      output: 'Stopped because x.',
    });
  });

  it('announces nothing for a session that does not exist', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const detail = await recordFailure(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, error: { Error: 'States.Timeout' } },
    );

    // Assess
    expect(detail).toMatchObject({ resumable: false, published: false, event: null, status: null });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });
});

describe('finalizeSession', () => {
  it('publishes the event again when a retried Finalize finds the session already ended the same way', async () => {
    // Prepare: the first attempt committed the session; its PutEvents failed, so the step is retried
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    const ended = sessionItem({ status: 'completed', stopReason: 'completed', output: 'Done.', turn: 2 });
    ddb.on(GetCommand).resolves({ Item: assistantText(2, 'Done.') });
    ddb.on(UpdateCommand).resolves({ Attributes: ended });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-4' }] });

    // Act
    const result = await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 2, reason: 'completed' },
    );

    // Assess: the update's condition admits the same status and reason; the event goes out again
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ConditionExpression).toContain('OR (#status = :status AND stopReason = :reason)');
    expect(result).toMatchObject({ status: 'completed', reason: 'completed' });
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.DetailType).toBe('Agent Goal Completed');
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({ reason: 'completed', output: 'Done.' });
  });
});

describe('finalizeSession: the output', () => {
  it("reads only the last turn's answer (one GetItem, no Query of the conversation) and explains a stop", async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(GetCommand).resolves({ Item: assistantText(4, 'Two idle instances found.') });
    ddb.on(UpdateCommand).callsFake((input: { ExpressionAttributeValues: Record<string, unknown> }) => ({
      Attributes: sessionItem({
        status: 'stopped',
        stopReason: 'usd_budget',
        output: String(input.ExpressionAttributeValues[':output']),
        turn: 4,
      }),
    }));
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-5' }] });

    // Act
    await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 4, reason: 'usd_budget' },
    );

    // Assess
    expect(ddb).toHaveReceivedCommandWith(GetCommand, {
      Key: keys.message(TENANT, SESSION, 4),
    });
    expect(ddb).not.toHaveReceivedCommand(QueryCommand);
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ExpressionAttributeValues?.[':output']).toBe(
      'Stopped because the USD budget was used up. Last answer: Two idle instances found.',
    );
  });

  it('reads nothing when the goal stopped before its first turn', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).resolves({
      Attributes: sessionItem({ status: 'stopped', stopReason: 'usd_budget', output: 'x', turn: 0 }),
    });
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-6' }] });

    // Act
    await finalizeSession(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, turn: 0, reason: 'usd_budget' },
    );

    // Assess
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':output']).toBe(
      'Stopped because the USD budget was used up.',
    );
  });
});

describe('describeCause', () => {
  it('reads the Lambda error message out of a Step Functions Cause, and keeps plain causes as they are', () => {
    expect(describeCause(JSON.stringify({ errorType: 'X', errorMessage: 'boom' }))).toBe('boom');
    expect(describeCause('Task timed out')).toBe('Task timed out');
    expect(describeCause(undefined)).toBe('no cause recorded');
  });
});
