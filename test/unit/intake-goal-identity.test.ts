/** Intake: a goalId reused with another goal is rejected, and concurrent deliveries of one goal count one start. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import acmeGoal from '../../events/goal-billing-audit.json';
import { goalDetailSchema } from '../../shared/contracts/goal-events';
import { GOAL_REJECTED } from '../../shared/contracts/lifecycle-events';
import { acceptEvent, goalHashOf, type IntakeDeps } from '../../shared/steps/intake';
import type { SessionItem } from '../../shared/store/session-store';
import {
  conditionFailed,
  credentials,
  mockedPublisher,
  mockedStore,
  REGION,
  transactionConditionFailed,
} from '../helpers/aws';
import { fakeTenantPolicies, intakeRules, sessionItem } from '../helpers/fixtures';

const setup = () => {
  const { ddb, store } = mockedStore();
  const { eventBridge, publisher } = mockedPublisher();
  const sfnClient = new SFNClient({ region: REGION, credentials });
  const sfn = mockClient(sfnClient);
  ddb.on(TransactWriteCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'published-1' }] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec', startDate: new Date() });
  const deps: IntakeDeps = {
    store,
    sfn: sfnClient,
    stateMachineArn: 'arn:sm',
    events: publisher,
    tenants: fakeTenantPolicies(),
    rules: intakeRules(),
  };
  return { ddb, sfn, eventBridge, deps };
};

const GOAL_ID = 'audit-2026-11';
const goalEvent = (goal: string) => ({ ...acmeGoal, detail: { ...acmeGoal.detail, goalId: GOAL_ID, goal } });
const hashOf = (event: ReturnType<typeof goalEvent>) => goalHashOf(goalDetailSchema.parse(event.detail));
const existing = (overrides: Partial<SessionItem>) =>
  transactionConditionFailed(sessionItem({ sessionId: GOAL_ID, ...overrides }), 'none');

describe('goalHashOf', () => {
  it('is the same for the same goal whatever its key order or surrounding blanks, and differs for another', () => {
    const detail = goalDetailSchema.parse(goalEvent('Audit billing.').detail);
    const reordered = goalDetailSchema.parse(
      Object.fromEntries(Object.entries({ ...detail, goal: '  Audit billing. ' }).reverse()),
    );
    expect(goalHashOf(reordered)).toBe(goalHashOf(detail));
    expect(goalHashOf({ ...detail, goal: 'Audit contracts.' })).not.toBe(goalHashOf(detail));
  });
});

describe('acceptEvent: a goalId already used', () => {
  it('stores the goal hash with the new session', async () => {
    const { ddb, deps } = setup();
    const event = goalEvent('Audit billing.');
    await acceptEvent(deps, event);
    const session = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put?.Item;
    expect(session?.goalHash).toBe(hashOf(event));
  });

  it('answers a redelivery of the same goal as a duplicate, starting nothing', async () => {
    const { ddb, sfn, eventBridge, deps } = setup();
    const event = goalEvent('Audit billing.');
    ddb.on(TransactWriteCommand).rejects(existing({ status: 'completed', goalHash: hashOf(event) }));
    const outcome = await acceptEvent(deps, event);
    expect(outcome).toMatchObject({ outcome: 'duplicate', reason: 'session already completed' });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('rejects another goal under the used id and says why in Agent Goal Rejected', async () => {
    const { ddb, sfn, eventBridge, deps } = setup();
    ddb
      .on(TransactWriteCommand)
      .rejects(existing({ status: 'completed', goalHash: hashOf(goalEvent('Old.')) }));
    const outcome = await acceptEvent(deps, goalEvent('Audit contracts.'));
    expect(outcome).toMatchObject({ outcome: 'rejected', sessionId: GOAL_ID });
    expect(outcome.outcome === 'rejected' && outcome.reason).toMatch(/already used by another goal/);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    const entry = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(entry?.DetailType).toBe(GOAL_REJECTED);
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({
      reason: expect.stringContaining(`goalId "${GOAL_ID}" is already used by another goal`),
      sessionId: GOAL_ID,
    });
  });
});

describe('acceptEvent: concurrent deliveries of one goal', () => {
  it('says started only for the delivery whose claim of the count wins; StartExecution answered the others alike', async () => {
    const { ddb, deps } = setup();
    const event = goalEvent('Audit billing.');
    ddb.on(TransactWriteCommand).rejects(existing({ status: 'pending', goalHash: hashOf(event) }));
    ddb.on(UpdateCommand).resolvesOnce({}).rejects(conditionFailed());
    const outcomes = [await acceptEvent(deps, event), await acceptEvent(deps, event)];
    expect(outcomes.map((o) => o.outcome)).toEqual(['started', 'duplicate']);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET startCountedFor = :arn',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(startCountedFor)',
    });
  });
});
