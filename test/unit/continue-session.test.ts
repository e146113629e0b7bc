/** ContinueAsNew: starts the session's next execution once, named from its runs, taking over from this one. */
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { executionNameFor } from '../../shared/contracts/goal-events';
import { continueSession } from '../../shared/steps/continue-session';
import { credentials, mockedStore, REGION } from '../helpers/aws';
import { SESSION, sessionItem, TENANT } from '../helpers/fixtures';

const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:sovereign-agent-dev-agent-goal';
const CURRENT = 'arn:aws:states:us-east-1:123456789012:execution:sovereign-agent-dev-agent-goal:current';

const setup = () => {
  const { ddb, store } = mockedStore();
  const client = new SFNClient({ region: REGION, credentials });
  const sfn = mockClient(client);
  sfn.on(StartExecutionCommand).resolves({ executionArn: `${CURRENT}-next`, startDate: new Date() });
  return { ddb, sfn, deps: { store, sfn: client, stateMachineArn: MACHINE } };
};

describe('continueSession', () => {
  it('starts the next execution in mode continue, named from the session and its runs', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: sessionItem({ status: 'running', executionArn: CURRENT, runs: 3 }) });

    // Act
    const result = await continueSession(deps, {
      tenantId: TENANT,
      sessionId: SESSION,
      executionArn: CURRENT,
    });

    // Assess
    expect(result).toMatchObject({ continued: true, executionArn: `${CURRENT}-next` });
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: MACHINE,
      name: executionNameFor(TENANT, SESSION, 3),
      input: JSON.stringify({
        tenantId: TENANT,
        sessionId: SESSION,
        mode: 'continue',
        previousExecutionArn: CURRENT,
      }),
    });
  });

  it('starts nothing when a retried step finds the next execution already took the session over', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb
      .on(GetCommand)
      .resolves({ Item: sessionItem({ status: 'running', executionArn: `${CURRENT}-next`, runs: 4 }) });

    // Act
    const result = await continueSession(deps, {
      tenantId: TENANT,
      sessionId: SESSION,
      executionArn: CURRENT,
    });

    // Assess
    expect(result).toMatchObject({ continued: true, executionArn: `${CURRENT}-next` });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('takes an existing execution of that name as the one already started', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(GetCommand).resolves({ Item: sessionItem({ status: 'running', executionArn: CURRENT, runs: 3 }) });
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));

    // Act
    const result = await continueSession(deps, {
      tenantId: TENANT,
      sessionId: SESSION,
      executionArn: CURRENT,
    });

    // Assess
    expect(result).toMatchObject({ continued: true, executionArn: null });
  });
});
