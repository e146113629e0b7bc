/** create_optimization_report: one stored report per tool call, repeated calls answer with the stored one. */
import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import reportEvent from '../../events/action-group-billing-report.json';
import { createBillingHandler } from '../../functions/action-groups/billing/action-group';
import { createDocumentClient } from '../../functions/action-groups/billing/config';
import { ReportStoreError } from '../../functions/action-groups/billing/errors';
import { type ActionGroupEventInput, readActionGroupResponse } from '../../shared/contracts/action-group';

const TABLE = 'sovereign-agent-test';
const ddb = mockClient(DynamoDBDocumentClient);
let clock = new Date('2026-11-01T09:00:00.000Z');
const handler = createBillingHandler({
  documentClient: createDocumentClient(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }),
  ),
  tableName: TABLE,
  logger: new Logger({ serviceName: 'billing-test', logLevel: 'SILENT' }),
  now: () => clock,
});

/** A table in a Map that honours `attribute_not_exists(pk)` the way DynamoDB does. */
function fakeTable() {
  const items = new Map<string, Record<string, unknown>>();
  const keyOf = (key: Record<string, unknown>) => `${String(key.pk)}|${String(key.sk)}`;
  ddb.on(PutCommand).callsFake((input: PutCommandInput) => {
    const item = input.Item ?? {};
    if (input.ConditionExpression === 'attribute_not_exists(pk)' && items.has(keyOf(item))) {
      // With ReturnValuesOnConditionCheckFailure ALL_OLD, DynamoDB hands back the stored item.
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
          ? { Item: marshall(items.get(keyOf(item)) ?? {}) }
          : {}),
      });
    }
    items.set(keyOf(item), structuredClone(item));
    return {};
  });
  return items;
}

const withKey = (idempotencyKey: string, title?: string): ActionGroupEventInput => {
  const event = structuredClone(reportEvent) as ActionGroupEventInput;
  event.sessionAttributes = { tenantId: 'acme', idempotencyKey };
  if (title !== undefined) {
    event.parameters = (event.parameters ?? []).map((p) => (p.name === 'title' ? { ...p, value: title } : p));
  }
  return event;
};

const expectedReportId = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 20);

beforeEach(() => {
  ddb.reset();
  clock = new Date('2026-11-01T09:00:00.000Z');
});

describe('create_optimization_report', () => {
  it('stores the report under T#<tenant>/REPORT#<id> with a body computed from the data', async () => {
    // Prepare
    const items = fakeTable();
    const reportId = expectedReportId('sess-acme-0001#0004#00');

    // Act
    const response = await handler(reportEvent);

    // Assess
    const { state, body } = readActionGroupResponse(response);
    expect(state).toBeUndefined();
    expect(body).toEqual({
      reportId,
      title: 'Acme cost optimization, October 2026',
      location: `T#acme/REPORT#${reportId}`,
      summary: `Stored optimization report "Acme cost optimization, October 2026" with 3 findings for acme at T#acme/REPORT#${reportId}.`,
    });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    const item = items.get(`T#acme|REPORT#${reportId}`);
    expect(item).toMatchObject({
      entity: 'report',
      tenantId: 'acme',
      reportId,
      sessionId: 'sess-acme-0001',
      title: 'Acme cost optimization, October 2026',
      createdAt: '2026-11-01T09:00:00.000Z',
      idempotencyKey: 'sess-acme-0001#0004#00',
    });
    expect(item?.findings).toHaveLength(3);
    const markdown = String(item?.body);
    expect(markdown).toMatch(/^# Acme cost optimization, October 2026\n/);
    expect(markdown).toContain('1. batch-legacy (c5.4xlarge) has been idle for 30 days: terminate it.');
    expect(markdown).toMatch(/## Billing totals \(2026-10\)\n\n- Month total: \$3,\d{3}\.\d{2} \(\+/);
    expect(markdown).toMatch(/- Cost spikes: Amazon S3 on 2026-10-17/);
    expect(markdown).toMatch(
      /- batch-legacy \(i-0b58e2d7c4a19f310\), c5\.4xlarge: terminate, \$4\d\d\.\d\d\/month/,
    );
  });

  it('stores nothing new when the same tool call is repeated and answers as the first time', async () => {
    // Prepare
    const items = fakeTable();
    const first = await handler(withKey('sess-acme-0001#0004#00'));
    clock = new Date('2026-11-01T09:05:00.000Z');

    // Act: a retry of the same call, even one whose input drifted, returns the stored report.
    const second = await handler(withKey('sess-acme-0001#0004#00', 'A different title'));

    // Assess
    expect(second).toEqual(first);
    expect(items.size).toBe(1);
    expect([...items.values()][0]).toMatchObject({
      createdAt: '2026-11-01T09:00:00.000Z',
      title: 'Acme cost optimization, October 2026',
    });
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 2);
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });

  it('stores a second report for a different tool call', async () => {
    // Prepare
    const items = fakeTable();

    // Act
    const first = readActionGroupResponse(await handler(withKey('sess-acme-0001#0004#00'))).body;
    const second = readActionGroupResponse(await handler(withKey('sess-acme-0001#0005#00'))).body;

    // Assess
    expect(items.size).toBe(2);
    expect(first).not.toEqual(second);
    expect(second).toMatchObject({ reportId: expectedReportId('sess-acme-0001#0005#00') });
  });

  it('refuses without an idempotency key, storing nothing', async () => {
    // Prepare
    const event = withKey('');
    event.sessionAttributes = { tenantId: 'acme' };

    // Act
    const { state, body } = readActionGroupResponse(await handler(event));

    // Assess
    expect(state).toBe('FAILURE');
    expect(body).toMatchObject({ error: 'MissingIdempotencyKeyError' });
    expect(ddb.calls()).toHaveLength(0);
  });

  it("refuses to store a report in another tenant's partition", async () => {
    // Prepare
    const event = withKey('k-1');
    event.sessionAttributes = { tenantId: 'globex', idempotencyKey: 'k-1' };

    // Act
    const { state, body } = readActionGroupResponse(await handler(event));

    // Assess
    expect(state).toBe('FAILURE');
    expect(body).toMatchObject({ error: 'TenantMismatchError' });
    expect(ddb.calls()).toHaveLength(0);
  });

  it.each([
    [
      'an empty title',
      [{ name: 'title', type: 'string', value: '' }],
      /input\/title must NOT have fewer than 1 characters/,
    ],
    [
      'no findings',
      [{ name: 'findings', type: 'array', value: '[]' }],
      /input\/findings must NOT have fewer than 1 items/,
    ],
    [
      '51 findings',
      [
        {
          name: 'findings',
          type: 'array',
          value: JSON.stringify(Array.from({ length: 51 }, (_, i) => `f${i}`)),
        },
      ],
      /input\/findings must NOT have more than 50 items/,
    ],
  ] as const)('asks the model to correct %s', async (_case, replacements, message) => {
    // Prepare
    const event = withKey('k-2');
    event.parameters = (event.parameters ?? []).map((p) => replacements.find((r) => r.name === p.name) ?? p);

    // Act
    const { state, body } = readActionGroupResponse(await handler(event));

    // Assess
    expect(state).toBe('REPROMPT');
    expect(String((body as { message: string }).message)).toMatch(message);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('throws (so the caller retries) when the table is unavailable', async () => {
    // Prepare
    ddb
      .on(PutCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }));

    // Act
    const act = handler(reportEvent);

    // Assess
    await expect(act).rejects.toThrow(ReportStoreError);
    await expect(handler(reportEvent)).rejects.toThrow(/Could not store report T#acme\/REPORT#/);
  });
});
