/** Approval decisions: the event a decision must be, what the store's conditions say, and what reaches the Task. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { ACTION_APPROVED, ACTION_DENIED } from '../../shared/contracts/lifecycle-events';
import { StepInputError } from '../../shared/runtime/errors';
import { decideApproval, parseDecisionEvent } from '../../shared/steps/approval-decision';
import { ApprovalStore } from '../../shared/store/approval-store';
import { type ApprovalItem, keys } from '../../shared/store/table';
import { conditionFailed, credentials, REGION, TABLE } from '../helpers/aws';

const NOW = new Date('2026-12-02T07:00:00.000Z');
const TOKEN = 'AAAA'.repeat(32);

const envelope = (detailType: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: 'evt-1',
  source: 'sovereign-agent.cli',
  'detail-type': detailType,
  detail,
});
const detail = { tenantId: 'acme', sessionId: 's-1', callId: 'tu-report', decidedBy: 'cli:ana' };

const approval = (overrides: Partial<ApprovalItem> = {}): ApprovalItem => ({
  ...keys.approval('acme', 's-1', 'tu-report'),
  entity: 'approval',
  tenantId: 'acme',
  sessionId: 's-1',
  turn: 1,
  index: 1,
  callId: 'tu-report',
  tool: 'create_optimization_report',
  actionGroup: 'billing',
  input: { tenant_id: 'acme' },
  taskToken: TOKEN,
  status: 'pending',
  requestedAt: '2026-12-02T06:30:00.000Z',
  deadline: NOW.getTime() + 60_000,
  expiresAt: 1_800_000_000,
  ...overrides,
});

const setup = () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION, credentials }));
  const ddb = mockClient(client);
  const sfnClient = new SFNClient({ region: REGION, credentials });
  const sfn = mockClient(sfnClient);
  sfn.on(SendTaskSuccessCommand).resolves({});
  const approvals = new ApprovalStore(client, TABLE, 90, () => NOW);
  return { ddb, sfn, deps: { approvals, sfn: sfnClient } };
};

describe('parseDecisionEvent', () => {
  it('reads Approved and Denied with who decided and why', () => {
    expect(parseDecisionEvent(envelope(ACTION_APPROVED, detail))).toEqual({
      decision: 'approved',
      ...detail,
    });
    expect(parseDecisionEvent(envelope(ACTION_DENIED, { ...detail, reason: 'no' }))).toMatchObject({
      decision: 'denied',
      reason: 'no',
    });
  });

  it('refuses another detail-type, a decision without decidedBy, and unknown fields', () => {
    expect(() => parseDecisionEvent(envelope('Agent Goal Submitted', detail))).toThrow(
      'detail-type: Agent Goal Submitted is not a decision',
    );
    const { decidedBy: _by, ...anonymous } = detail;
    expect(() => parseDecisionEvent(envelope(ACTION_APPROVED, anonymous))).toThrow(StepInputError);
    expect(() => parseDecisionEvent(envelope(ACTION_APPROVED, { ...detail, taskToken: TOKEN }))).toThrow(
      /detail\./,
    );
  });
});

describe('decideApproval', () => {
  const approve = parseDecisionEvent(envelope(ACTION_APPROVED, detail));

  it('records the decision only while pending and before the deadline, then sends the token {decision}', async () => {
    // Prepare
    const { ddb, sfn, deps } = setup();
    ddb.on(UpdateCommand).resolves({ Attributes: approval({ status: 'approved', decidedBy: 'cli:ana' }) });

    // Act
    const result = await decideApproval(deps, approve);

    // Assess
    expect(result).toEqual({ outcome: 'sent', decision: 'approved' });
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ConditionExpression).toContain('deadline > :nowMs');
    expect(update?.ConditionExpression).toContain('#status = :pending');
    expect(update?.ExpressionAttributeValues?.[':nowMs']).toBe(NOW.getTime());
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, {
      taskToken: TOKEN,
      output: JSON.stringify({ decision: 'approved', decidedBy: 'cli:ana' }),
    });
  });

  it.each([
    ['unknown', undefined, 'Session s-1 has no call tu-report waiting for approval'],
    [
      'already_decided',
      approval({ status: 'denied', decidedBy: 'cli:bo', decidedAt: '2026-12-02T06:50:00.000Z' }),
      'Call tu-report was already denied by cli:bo at 2026-12-02T06:50:00.000Z',
    ],
    [
      'expired',
      approval({ deadline: NOW.getTime() - 1 }),
      'The approval of call tu-report expired at 2026-12-02T06:59:59.999Z',
    ],
  ])('refuses a %s call and sends nothing', async (reason, old, message) => {
    const { ddb, sfn, deps } = setup();
    ddb.on(UpdateCommand).rejects(conditionFailed(old));
    const result = await decideApproval(deps, approve);
    expect(result).toEqual({ outcome: 'refused', reason, message });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('marks the approval expired when the Task timed out before the token was sent', async () => {
    const { ddb, sfn, deps } = setup();
    ddb
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: approval({ status: 'approved' }) })
      .resolves({});
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'closed', $metadata: {} }));
    const result = await decideApproval(deps, approve);
    expect(result).toMatchObject({ outcome: 'refused', reason: 'expired' });
    expect(ddb.commandCalls(UpdateCommand)[1]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET #status = :expired',
      ExpressionAttributeValues: { ':expired': 'expired' },
    });
  });

  it('lets a redelivered decision of the same person resend the token (the store condition allows it)', async () => {
    const { ddb, deps } = setup();
    ddb.on(UpdateCommand).resolves({ Attributes: approval({ status: 'approved', decidedBy: 'cli:ana' }) });
    await decideApproval(deps, approve);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ConditionExpression).toContain(
      '(#status = :decision AND decidedBy = :by AND attribute_not_exists(closedAt))',
    );
  });
});
