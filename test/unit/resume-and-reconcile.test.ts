/** Pure pieces of resume, continue-as-new and the reconciler: what reruns, when to continue, how an end is read. */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  EVENTS_FIXED,
  EVENTS_PER_CALL,
  EVENTS_PER_TURN,
  estimatedHistoryEvents,
  shouldContinueAsNew,
} from '../../shared/agent/history-budget';
import { GOAL_FAILED } from '../../shared/contracts/lifecycle-events';
import { EXECUTION_STATUS_CHANGE, failureOf, reconcileExecution } from '../../shared/steps/reconcile';
import { callsToRerun } from '../../shared/steps/start-session';
import { conditionFailed, mockedPublisher, mockedStore } from '../helpers/aws';
import { SESSION, sessionItem, TENANT, toolCallItem } from '../helpers/fixtures';

const ARN = 'arn:aws:states:us-east-1:123456789012:execution:sovereign-agent-dev-agent-goal:acme-x';

const statusChange = (detail: Record<string, unknown>) => ({
  source: 'aws.states' as const,
  'detail-type': EXECUTION_STATUS_CHANGE as typeof EXECUTION_STATUS_CHANGE,
  detail: {
    executionArn: ARN,
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:sovereign-agent-dev-agent-goal',
    name: 'acme-x',
    status: 'ABORTED' as const,
    input: JSON.stringify({ tenantId: TENANT, sessionId: SESSION, mode: 'start' }),
    error: null,
    cause: null,
    ...detail,
  },
});

describe('callsToRerun', () => {
  it('reruns the last turn calls a circuit_open stop refused without invoking them, and nothing else', () => {
    // Prepare
    const session = sessionItem({ status: 'stopped', stopReason: 'circuit_open', turn: 3 });
    const calls = [
      toolCallItem({
        turn: 2,
        index: 0,
        toolUseId: 'a',
        name: 't',
        status: 'failed',
        errorKind: 'circuit_open',
      }),
      toolCallItem({
        turn: 3,
        index: 0,
        toolUseId: 'b',
        name: 't',
        status: 'failed',
        errorKind: 'circuit_open',
      }),
      toolCallItem({ turn: 3, index: 1, toolUseId: 'c', name: 't', status: 'failed', errorKind: 'limit' }),
      toolCallItem({ turn: 3, index: 2, toolUseId: 'd', name: 't', status: 'succeeded' }),
    ];

    // Act
    const rerun = callsToRerun(session, calls);

    // Assess
    expect(rerun).toEqual([
      { turn: 3, index: 0 },
      { turn: 3, index: 1 },
    ]);
  });

  it('reruns nothing for a failed session or one stopped by its own limits', () => {
    const call = toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'a',
      name: 't',
      status: 'failed',
      errorKind: 'circuit_open',
    });
    expect(callsToRerun(sessionItem({ status: 'failed', turn: 1 }), [call])).toEqual([]);
    expect(
      callsToRerun(sessionItem({ status: 'stopped', stopReason: 'max_turns', turn: 1 }), [call]),
    ).toEqual([]);
  });
});

describe('history budget', () => {
  it('counts events per turn and per call from the ASL, over-counting one retry per Task', () => {
    expect(EVENTS_PER_TURN).toBe(14);
    expect(EVENTS_PER_CALL).toBe(10);
    expect(estimatedHistoryEvents(0, 0)).toBe(EVENTS_FIXED);
    expect(estimatedHistoryEvents(2, 3)).toBe(EVENTS_FIXED + 28 + 30);
  });

  it('continues when the next turn, as busy as the busiest so far, would pass the budget', () => {
    // 28 fixed + 3 turns * 14 + 3 calls * 10 = 100
    expect(shouldContinueAsNew(2, 2, 1, 100)).toBe(false);
    expect(shouldContinueAsNew(2, 2, 1, 99)).toBe(true);
    // A turn of four calls so far: the next is assumed to make four too.
    expect(shouldContinueAsNew(1, 4, 4, 136)).toBe(false); // 28 + 2 * 14 + 8 * 10
    expect(shouldContinueAsNew(1, 4, 4, 135)).toBe(true);
    expect(shouldContinueAsNew(0, 0, 0, 20_000)).toBe(false);
  });
});

describe('failureOf', () => {
  it('names the failure after how the execution ended, with its error and cause', () => {
    expect(failureOf(statusChange({ error: 'OperatorStop', cause: 'ops' }).detail)).toEqual({
      type: 'ExecutionAborted',
      message: 'Execution acme-x ended ABORTED outside the workflow: OperatorStop: ops',
    });
    expect(failureOf(statusChange({ status: 'TIMED_OUT', error: 'States.Timeout' }).detail).type).toBe(
      'ExecutionTimedOut',
    );
    expect(failureOf(statusChange({ status: 'FAILED', error: 'States.Runtime' }).detail).type).toBe(
      'States.Runtime',
    );
  });
});

describe('reconcileExecution', () => {
  it('fails the session still running under that execution and announces Agent Goal Failed', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher } = mockedPublisher();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] });
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: sessionItem({ status: 'failed', executionArn: ARN, turn: 2 }) });

    // Act
    const outcome = await reconcileExecution({ store, events: publisher }, statusChange({}));

    // Assess
    expect(outcome).toMatchObject({ outcome: 'failed', error: { type: 'ExecutionAborted' } });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression:
        'attribute_exists(pk) AND #status IN (:running, :awaiting) AND executionArn = :arn',
      ExpressionAttributeValues: expect.objectContaining({ ':arn': ARN }),
    });
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.DetailType).toBe(GOAL_FAILED);
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      resumable: true,
      checkpointTurn: 2,
      executionArn: ARN,
    });
  });

  it('leaves alone a session a newer execution runs, or RecordFailure already failed', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const { eventBridge, publisher } = mockedPublisher();
    ddb
      .on(UpdateCommand)
      .rejectsOnce(conditionFailed(sessionItem({ status: 'running', executionArn: `${ARN}-r1` })))
      .rejectsOnce(
        conditionFailed(
          sessionItem({
            status: 'failed',
            executionArn: ARN,
            error: { type: 'ModelRequestError', message: 'm', at: 'x' },
          }),
        ),
      );

    // Act
    const newer = await reconcileExecution({ store, events: publisher }, statusChange({}));
    const recorded = await reconcileExecution(
      { store, events: publisher },
      statusChange({ status: 'FAILED', error: 'GoalFailed' }),
    );

    // Assess
    expect(newer).toMatchObject({ outcome: 'ignored' });
    expect(recorded).toMatchObject({ outcome: 'ignored' });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('ignores executions whose input names no session, and statuses that are not an end outside the workflow', async () => {
    const { ddb, store } = mockedStore();
    const { publisher } = mockedPublisher();
    expect(
      await reconcileExecution({ store, events: publisher }, statusChange({ input: 'not json' })),
    ).toMatchObject({
      outcome: 'ignored',
    });
    expect(
      await reconcileExecution({ store, events: publisher }, statusChange({ status: 'SUCCEEDED' })),
    ).toMatchObject({
      outcome: 'ignored',
    });
    expect(ddb).not.toHaveReceivedAnyCommand();
  });
});
