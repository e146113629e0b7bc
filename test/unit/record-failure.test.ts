/** Finalize and RecordFailure: what ends up in the session and on the bus. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import { describeCause, recordFailure } from '../../shared/steps/record-failure';
import { conditionFailed, mockedPublisher, mockedStore } from '../helpers/aws';
import { SESSION, sessionItem, TENANT } from '../helpers/fixtures';

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
    expect(detail.error).toEqual({ type: 'ModelRequestError', message: 'model refused' });
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('announces nothing for a session that already completed (a failure would contradict it)', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher: events } = mockedPublisher();
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand).resolves({ Item: sessionItem({ status: 'completed' }) });

    // Act
    const detail = await recordFailure(
      { store, events },
      { tenantId: TENANT, sessionId: SESSION, error: { Error: 'States.Timeout' } },
    );

    // Assess
    expect(detail).toMatchObject({ resumable: false, published: false, status: 'completed' });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });
});

describe('describeCause', () => {
  it('reads the Lambda error message out of a Step Functions Cause, and keeps plain causes as they are', () => {
    expect(describeCause(JSON.stringify({ errorType: 'X', errorMessage: 'boom' }))).toBe('boom');
    expect(describeCause('Task timed out')).toBe('Task timed out');
    expect(describeCause(undefined)).toBe('no cause recorded');
  });
});
