/** Billing action-group handler: dispatch, tenant isolation, input validation and error mapping. */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import auditEvent from '../../events/action-group-billing-audit.json';
import { createBillingHandler } from '../../functions/action-groups/billing/action-group';
import { createDocumentClient, readBillingConfig } from '../../functions/action-groups/billing/config';
import {
  type ActionGroupEventInput,
  type ActionGroupResponse,
  InvalidActionGroupEventError,
  readActionGroupResponse,
} from '../../shared/contracts/action-group';
import { ConfigError } from '../../shared/runtime/errors';

const context = {
  functionName: 'sovereign-agent-test-billingActionGroup',
  functionVersion: '$LATEST',
  invokedFunctionArn:
    'arn:aws:lambda:us-east-1:123456789012:function:sovereign-agent-test-billingActionGroup',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sovereign-agent-test-billingActionGroup',
  logStreamName: '2026/11/01/[$LATEST]abcdef',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} satisfies Context;

const ddb = mockClient(DynamoDBDocumentClient);
const logger = new Logger({ serviceName: 'billing-test', logLevel: 'SILENT' });
const handler = createBillingHandler({
  documentClient: createDocumentClient(
    new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }),
  ),
  tableName: 'sovereign-agent-test',
  logger,
});

const event = (overrides: Partial<ActionGroupEventInput> = {}): ActionGroupEventInput => ({
  ...(structuredClone(auditEvent) as ActionGroupEventInput),
  ...overrides,
});
const read = (response: ActionGroupResponse) =>
  readActionGroupResponse(response) as {
    state: string | undefined;
    body: Record<string, unknown>;
  };

type Entry = typeof import('../../functions/action-groups/billing/handler');

/** Loads handler.ts afresh with TABLE_NAME set (or unset), as a cold start would. */
function loadEntry(tableName: string | undefined): Entry | undefined {
  const saved = {
    TABLE_NAME: process.env.TABLE_NAME,
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL,
  };
  if (tableName === undefined) delete process.env.TABLE_NAME;
  else process.env.TABLE_NAME = tableName;
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  try {
    let entry: Entry | undefined;
    jest.isolateModules(() => {
      entry = jest.requireActual<Entry>('../../functions/action-groups/billing/handler');
    });
    return entry;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

beforeEach(() => {
  ddb.reset();
  jest.restoreAllMocks();
});

describe('billing handler', () => {
  it('answers the sample audit event with acme totals and logs tool, tenant and latency', async () => {
    // Prepare
    const info = jest.spyOn(logger, 'info');

    // Act
    const response = await handler(auditEvent, context);

    // Assess
    const { state, body } = read(response);
    expect(state).toBeUndefined();
    expect(response.response).toMatchObject({ actionGroup: 'billing', function: 'audit_billing_logs' });
    expect(body).toMatchObject({ tenantId: 'acme', month: '2026-10' });
    expect(body.summary).toMatch(/^acme spent \$3,\d{3}\.\d{2} in 2026-10/);
    expect(info).toHaveBeenCalledWith(
      'Billing tool call succeeded',
      expect.objectContaining({
        function: 'audit_billing_logs',
        tenantId: 'acme',
        handlerMs: expect.any(Number),
      }),
    );
    expect(ddb.calls()).toHaveLength(0);
  });

  it('answers audit_billing_logs_replica with the same audit, saying it came from the replica and as of when', async () => {
    // Act
    const primary = read(await handler(auditEvent, context)).body;
    const replica = read(await handler(event({ function: 'audit_billing_logs_replica' }), context)).body;

    // Assess
    const { source, asOf, ...audit } = replica;
    expect(source).toBe('replica');
    expect(new Date(String(asOf)).toISOString()).toBe(asOf);
    expect(audit).toEqual(primary);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('applies the schema default of 30 lookback days', async () => {
    // Act
    const response = await handler(
      event({
        function: 'list_underutilized_resources',
        parameters: [{ name: 'tenant_id', type: 'string', value: 'globex' }],
        sessionAttributes: { tenantId: 'globex', idempotencyKey: 'k' },
      }),
    );

    // Assess
    const { body } = read(response);
    expect(body).toMatchObject({ tenantId: 'globex', lookbackDays: 30, daysAnalyzed: 30 });
    expect(body.summary).toMatch(/3 of 10 monitored resources of globex are underutilized/);
  });

  it('parses integer parameters from their string form', async () => {
    // Act
    const response = await handler(
      event({
        function: 'list_underutilized_resources',
        parameters: [
          { name: 'tenant_id', type: 'string', value: 'initech' },
          { name: 'lookback_days', type: 'integer', value: '7' },
        ],
        sessionAttributes: { tenantId: 'initech' },
      }),
    );

    // Assess
    expect(read(response).body).toMatchObject({
      lookbackDays: 7,
      window: { start: '2026-10-25', end: '2026-10-31' },
    });
  });

  it("refuses to act for a tenant other than the session's", async () => {
    // Act
    const response = await handler(
      event({ parameters: [{ name: 'tenant_id', type: 'string', value: 'globex' }] }),
    );

    // Assess
    const { state, body } = read(response);
    expect(state).toBe('FAILURE');
    expect(body).toEqual({
      error: 'TenantMismatchError',
      message: `audit_billing_logs may only act for the session's tenant "acme"; tenant_id "globex" was given.`,
    });
    expect(JSON.stringify(body)).not.toMatch(/globex spent/);
  });

  it('refuses when the caller did not set the session tenant', async () => {
    // Act
    const response = await handler(event({ sessionAttributes: { idempotencyKey: 'k' } }));

    // Assess
    const { state, body } = read(response);
    expect(state).toBe('FAILURE');
    expect(body.error).toBe('MissingSessionTenantError');
    expect(body.message).toMatch(/sessionAttributes\.tenantId is missing/);
  });

  it('answers FAILURE, not a crash, for a tenant without billing data', async () => {
    // Act
    const response = await handler(
      event({
        parameters: [{ name: 'tenant_id', type: 'string', value: 'umbrella' }],
        sessionAttributes: { tenantId: 'umbrella' },
      }),
    );

    // Assess
    expect(read(response)).toEqual({
      state: 'FAILURE',
      body: { error: 'UnknownTenantError', message: 'No billing data for tenant "umbrella"' },
    });
  });

  it('lists the known functions when asked for an unknown one', async () => {
    // Act
    const response = await handler(event({ function: 'delete_all_resources' }));

    // Assess
    const { state, body } = read(response);
    expect(state).toBe('FAILURE');
    expect(response.response.function).toBe('delete_all_resources');
    expect(body.message).toBe(
      'Unknown function "delete_all_resources" in action group billing; known functions: audit_billing_logs, audit_billing_logs_replica, list_underutilized_resources, get_contract_terms, create_optimization_report',
    );
  });

  it.each([
    [
      'an out-of-range lookback',
      [
        { name: 'tenant_id', type: 'string', value: 'acme' },
        { name: 'lookback_days', type: 'integer', value: '400' },
      ],
      /input\/lookback_days must be <= 365/,
    ],
    [
      'a non-integer lookback',
      [
        { name: 'tenant_id', type: 'string', value: 'acme' },
        { name: 'lookback_days', type: 'integer', value: 'thirty' },
      ],
      /"lookback_days" must be an integer/,
    ],
    ['a missing tenant_id', [], /input must have required property 'tenant_id'/],
    [
      'an undeclared parameter',
      [
        { name: 'tenant_id', type: 'string', value: 'acme' },
        { name: 'region', type: 'string', value: 'us-east-1' },
      ],
      /Unknown parameter "region"/,
    ],
  ] as const)('asks the model to correct %s (REPROMPT)', async (_case, parameters, message) => {
    // Act
    const response = await handler(
      event({ function: 'list_underutilized_resources', parameters: [...parameters] }),
    );

    // Assess
    const { state, body } = read(response);
    expect(state).toBe('REPROMPT');
    expect(body.error).toBe('InvalidToolInputError');
    expect(body.message).toMatch(message);
  });

  it('throws a clear error for an input that is not an action-group event', async () => {
    // Act
    const act = handler({ tenantId: 'acme', tool: 'audit_billing_logs' }, context);

    // Assess
    await expect(act).rejects.toThrow(InvalidActionGroupEventError);
    await expect(handler({ ...auditEvent, messageVersion: '2.0' })).rejects.toThrow(/messageVersion/);
  });
});

describe('billing configuration', () => {
  it('fails the cold start naming TABLE_NAME when it is missing', () => {
    // Act & Assess
    expect(() => readBillingConfig({})).toThrow(ConfigError);
    expect(() => readBillingConfig({ TABLE_NAME: ' ' })).toThrow(
      'Missing required environment variable TABLE_NAME',
    );
    expect(readBillingConfig({ TABLE_NAME: 't1' })).toEqual({ tableName: 't1' });
  });

  it('wires the Lambda entry from the environment', async () => {
    // Act
    const entry = loadEntry('sovereign-agent-wired');
    const response = await entry?.handler(auditEvent, context);

    // Assess
    expect(response && read(response).body).toMatchObject({ tenantId: 'acme', month: '2026-10' });
    expect(() => loadEntry(undefined)).toThrow('Missing required environment variable TABLE_NAME');
  });
});
