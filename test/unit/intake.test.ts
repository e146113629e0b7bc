/** Intake: a bus event becomes at most one running execution per goal or resume, or a published rejection. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import acmeGoal from '../../events/goal-billing-audit.json';
import globexGoal from '../../events/goal-billing-audit-globex.json';
import resumeRequest from '../../events/resume-request.json';
import { executionNameFor } from '../../shared/contracts/goal-events';
import { GOAL_REJECTED } from '../../shared/contracts/lifecycle-events';
import { StoreUnavailableError } from '../../shared/runtime/errors';
import { acceptEvent, type IntakeDeps, resolveLimits } from '../../shared/steps/intake';
import type { MessageItem, SessionItem } from '../../shared/store/session-store';
import {
  BUS,
  conditionFailed,
  credentials,
  mockedPublisher,
  mockedStore,
  REGION,
  SOURCE,
  TABLE,
  tableThrottled,
  transactionConditionFailed,
} from '../helpers/aws';
import { fakeTenantPolicies, intakeRules, sessionItem } from '../helpers/fixtures';

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:sovereign-agent-test-agentGoal';
const executionArn = (name: string) =>
  `arn:aws:states:us-east-1:123456789012:execution:sovereign-agent-test-agentGoal:${name}`;

const setup = () => {
  const { ddb, store } = mockedStore();
  const { eventBridge, publisher } = mockedPublisher();
  const sfnClient = new SFNClient({ region: REGION, credentials });
  const sfn = mockClient(sfnClient);
  ddb.on(TransactWriteCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'published-1' }] });
  sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(input.name),
    startDate: new Date(),
  }));
  const deps: IntakeDeps = {
    store,
    sfn: sfnClient,
    stateMachineArn: STATE_MACHINE,
    events: publisher,
    tenants: fakeTenantPolicies(),
    rules: intakeRules(),
  };
  return { ddb, sfn, eventBridge, deps };
};

/** The detail of the one "Agent Goal Rejected" event published, parsed. */
const rejectionDetail = (eventBridge: ReturnType<typeof setup>['eventBridge']): Record<string, unknown> => {
  const entries = eventBridge
    .commandCalls(PutEventsCommand)
    .flatMap((call) => call.args[0].input.Entries ?? []);
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ EventBusName: BUS, Source: SOURCE, DetailType: GOAL_REJECTED });
  return JSON.parse(entries[0]?.Detail ?? '{}') as Record<string, unknown>;
};

describe('acceptEvent: new goals', () => {
  it('stores the session with its goal message and starts one execution named after the goal', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();
    const name = executionNameFor('acme', acmeGoal.id);

    // Act
    const outcome = await acceptEvent(deps, acmeGoal);

    // Assess
    expect(outcome).toEqual({
      outcome: 'started',
      sessionId: acmeGoal.id,
      tenantId: 'acme',
      executionArn: executionArn(name),
    });
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE,
      name,
      input: JSON.stringify({ tenantId: 'acme', sessionId: acmeGoal.id, mode: 'start' }),
    });
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    const session = items[0]?.Put?.Item as SessionItem;
    const goal = items[1]?.Put?.Item as MessageItem;
    expect(items.every((i) => i.Put?.TableName === TABLE)).toBe(true);
    expect(session).toMatchObject({
      pk: `T#acme#S#${acmeGoal.id}`,
      status: 'pending',
      agent: 'billing-auditor',
      eventId: acmeGoal.id,
      limits: {
        maxTurns: 6,
        tokenBudget: 120000,
        usdBudget: 0.5,
        latencyToleranceMs: 30000,
        dataClassification: 'internal',
      },
      context: { requestedBy: 'finops@acme.example' },
    });
    expect(goal).toMatchObject({ sk: 'M#0000', role: 'user', turn: 0 });
    expect(goal.content[0]?.text).toContain(`Goal: ${acmeGoal.detail.goal}`);
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('rejects an event without tenantId with an issue naming tenantId, and writes nothing to DynamoDB', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();
    const { tenantId: _dropped, ...detail } = acmeGoal.detail;

    // Act
    const outcome = await acceptEvent(deps, { ...acmeGoal, detail });

    // Assess
    expect(outcome).toMatchObject({ outcome: 'rejected', issues: [expect.stringMatching(/^tenantId: /)] });
    expect(ddb).not.toHaveReceivedAnyCommand();
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(rejectionDetail(eventBridge)).toEqual({
      reason: 'Invalid "Agent Goal Submitted" detail',
      issues: [expect.stringMatching(/^tenantId: /)],
      eventId: acmeGoal.id,
      detailType: 'Agent Goal Submitted',
      tenantId: null,
      sessionId: null,
    });
  });

  it('rejects a goal for an unknown agent, naming the known agents, and stores nothing', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();

    // Act
    const outcome = await acceptEvent(deps, {
      ...globexGoal,
      detail: { ...globexGoal.detail, agent: 'payroll-clerk' },
    });

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      tenantId: 'globex',
      sessionId: 'globex-audit-2026-11',
      issues: [
        'agent: unknown agent "payroll-clerk"; known agents: billing-auditor, billing-auditor-approval',
      ],
    });
    expect(ddb).not.toHaveReceivedAnyCommand();
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(rejectionDetail(eventBridge)).toMatchObject({
      tenantId: 'globex',
      sessionId: 'globex-audit-2026-11',
    });
  });

  it('rejects something that is not an event at all, publishing what it could see', async () => {
    // Prepare
    const { ddb, eventBridge, deps } = setup();

    // Act
    const outcome = await acceptEvent(deps, 'not an event');

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'The event is not an EventBridge event envelope',
    });
    expect(ddb).not.toHaveReceivedAnyCommand();
    expect(rejectionDetail(eventBridge)).toMatchObject({ eventId: null, detailType: null });
  });

  it('uses the agent profile defaults when the goal sets no constraints', () => {
    // Act
    const limits = resolveLimits({ tenantId: 'acme', agent: 'billing-auditor', goal: 'Audit.' });

    // Assess
    expect(limits).toEqual({
      maxTurns: 8,
      tokenBudget: 200000,
      usdBudget: 1,
      latencyToleranceMs: 30000,
      dataClassification: 'internal',
    });
  });
});

describe('acceptEvent: duplicate deliveries', () => {
  it('treats a second delivery of a goal that is already running as a duplicate and starts nothing', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();
    // The session and its goal message exist: the transaction hands back the session as it is (ALL_OLD).
    ddb
      .on(TransactWriteCommand)
      .rejects(
        transactionConditionFailed(
          sessionItem({ tenantId: 'globex', sessionId: 'globex-audit-2026-11', status: 'running' }),
          'failed',
        ),
      );

    // Act
    const outcome = await acceptEvent(deps, globexGoal);

    // Assess
    expect(outcome).toEqual({
      outcome: 'duplicate',
      sessionId: 'globex-audit-2026-11',
      tenantId: 'globex',
      reason: 'session already running',
    });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('starts the execution of a stored but never started (pending) session', async () => {
    // Prepare: an earlier delivery stored the session, then its Lambda died before StartExecution
    const { ddb, sfn, deps } = setup();
    // The session and its goal message exist: the transaction hands back the session as it is (ALL_OLD).
    ddb
      .on(TransactWriteCommand)
      .rejects(
        transactionConditionFailed(
          sessionItem({ tenantId: 'globex', sessionId: 'globex-audit-2026-11', status: 'pending' }),
          'failed',
        ),
      );

    // Act
    const outcome = await acceptEvent(deps, globexGoal);

    // Assess
    expect(outcome).toMatchObject({ outcome: 'started', sessionId: 'globex-audit-2026-11' });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: executionNameFor('globex', 'globex-audit-2026-11'),
    });
  });

  it('reports a duplicate when Step Functions says the execution already exists', async () => {
    // Prepare
    const { sfn, eventBridge, deps } = setup();
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution already exists', $metadata: {} }));

    // Act
    const outcome = await acceptEvent(deps, globexGoal);

    // Assess
    expect(outcome).toEqual({
      outcome: 'duplicate',
      sessionId: 'globex-audit-2026-11',
      tenantId: 'globex',
      reason: 'execution already exists',
    });
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });
});

describe('acceptEvent: transient failures are thrown, not rejected', () => {
  it('lets a Step Functions throttle fail the invocation so EventBridge retries it', async () => {
    // Prepare
    const { sfn, eventBridge, deps } = setup();
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const act = acceptEvent(deps, globexGoal);

    // Assess
    await expect(act).rejects.toThrow('Rate exceeded');
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('surfaces a throttled table as StoreUnavailableError', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(TransactWriteCommand).rejects(tableThrottled());

    // Act
    const act = acceptEvent(deps, globexGoal);

    // Assess
    await expect(act).rejects.toThrow(StoreUnavailableError);
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('acceptEvent: resume requests', () => {
  const resumedSession = (overrides: Partial<SessionItem>) =>
    sessionItem({ tenantId: 'acme', sessionId: 'acme-audit-throttled', ...overrides });

  it('starts a resume execution of a failed session, named after its run count', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: resumedSession({ status: 'failed', runs: 1, turn: 3 }) });
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: resumedSession({ status: 'failed', runs: 1, resumeRequestedForRun: 1 }) });

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'started',
      tenantId: 'acme',
      sessionId: 'acme-audit-throttled',
    });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: executionNameFor('acme', 'acme-audit-throttled', 1),
      input: JSON.stringify({ tenantId: 'acme', sessionId: 'acme-audit-throttled', mode: 'resume' }),
    });
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('collapses a duplicate resume request into the execution already started', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: resumedSession({ status: 'failed', runs: 2 }) });
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: resumedSession({ status: 'failed', runs: 2, resumeRequestedForRun: 2 }) });
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({ outcome: 'duplicate', reason: 'resume execution already exists' });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: executionNameFor('acme', 'acme-audit-throttled', 2),
    });
  });

  it('claims the resume of this run for this event, so a second request at once is refused', async () => {
    // Prepare
    const { ddb, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: resumedSession({ status: 'failed', runs: 1 }) });
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: resumedSession({ status: 'failed', runs: 1, resumeRequestedForRun: 1 }) });

    // Act
    await acceptEvent(deps, resumeRequest);

    // Assess
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET resumeRequestedForRun = :runs, resumeEventId = :event',
      ExpressionAttributeValues: expect.objectContaining({ ':runs': 1, ':event': resumeRequest.id }),
    });
  });

  it('rejects a resume whose run another resume request already claimed', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: resumedSession({ status: 'failed', runs: 1 }) });
    ddb
      .on(UpdateCommand)
      .rejects(
        conditionFailed(
          resumedSession({ status: 'failed', runs: 1, resumeRequestedForRun: 1, resumeEventId: 'other' }),
        ),
      );

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'session acme-audit-throttled is already being resumed (run 1)',
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(rejectionDetail(eventBridge)).toMatchObject({
      reason: 'session acme-audit-throttled is already being resumed (run 1)',
    });
  });

  it('resumes a session stopped by open circuit breakers, but not one stopped by its own limits', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: resumedSession({ status: 'stopped', stopReason: 'circuit_open', runs: 1 }) })
      .resolvesOnce({ Item: resumedSession({ status: 'stopped', stopReason: 'max_turns', runs: 1 }) });
    ddb.on(UpdateCommand).resolves({ Attributes: resumedSession({ status: 'stopped', runs: 1 }) });

    // Act
    const open = await acceptEvent(deps, resumeRequest);
    const limited = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(open).toMatchObject({ outcome: 'started' });
    expect(limited).toMatchObject({ outcome: 'rejected' });
    expect(limited.outcome === 'rejected' && limited.reason).toMatch(
      /stopped \(max_turns\), not failed, paused or stopped by circuit_open/,
    );
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  });

  it('rejects resuming a session that does not exist for this tenant', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup();
    ddb.on(GetCommand).resolves({});

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      issues: ['sessionId: no such session for this tenant'],
    });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, {
      Key: { pk: 'T#acme#S#acme-audit-throttled', sk: 'META' },
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(rejectionDetail(eventBridge)).toMatchObject({
      tenantId: 'acme',
      sessionId: 'acme-audit-throttled',
    });
  });

  it('rejects resuming a session that has not failed', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: resumedSession({ status: 'running' }) });

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({ outcome: 'rejected', issues: ['status: running'] });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});
