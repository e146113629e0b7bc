/** Integration helpers: one local stack per test file on the DynamoDB Local of global-setup, and event builders. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { localClients } from '../../local/cli/run-goal';
import { type LocalStack, type StartLocalStackOptions, startLocalStack } from '../../local/stack/start';
import { createDocumentClient } from '../../shared/runtime/clients/dynamodb';
import type { NewSession } from '../../shared/store/session-store';
import { tenantPk } from '../../shared/store/table';
import { defaultLimits } from '../helpers/fixtures';

export const root = join(__dirname, '..', '..');

export const loadEvent = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(root, 'events', name), 'utf8')) as Record<string, unknown>;

export const loadJson = <T>(path: string): T => JSON.parse(readFileSync(join(root, path), 'utf8')) as T;

/** A goal event like the sample, with a unique goalId (the session id) and optional detail overrides. */
export const goalEvent = (detail: Record<string, unknown> = {}, base = 'goal-billing-audit.json') => {
  const event = loadEvent(base);
  const goalId = `it-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return { ...event, detail: { ...(event.detail as Record<string, unknown>), goalId, ...detail } };
};

/**
 * A client of global-setup's DynamoDB Local and its table (store-level tests that need no stack): the raw client
 * (destroy it after the file), a document client over it, and the table's name.
 */
export const localTable = () => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  const tableName = process.env.TABLE_NAME;
  if (!endpoint || !tableName) throw new Error('global-setup did not start DynamoDB Local with the table');
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return { client, doc: createDocumentClient(client), tableName };
};

/** The createSession input of a goal event for `sessionId` of `tenantId` (store-level tests). */
export const newSessionInput = (tenantId: string, sessionId: string): NewSession => ({
  tenantId,
  sessionId,
  agent: 'billing-auditor',
  goal: 'Audit the bill.',
  limits: defaultLimits(),
  eventId: `evt-${sessionId}`,
  goalMessage: [{ text: 'Goal: Audit the bill.' }],
});

export const startTestStack = (
  options: {
    functionEnvironment?: Record<string, Record<string, string>>;
    guardrails?: StartLocalStackOptions['guardrails'];
  } = {},
): Promise<LocalStack> => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint)
    throw new Error('global-setup did not start DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB unset)');
  return startLocalStack({
    dynamodbEndpoint: endpoint,
    inMemory: true,
    ...(options.guardrails ? { guardrails: options.guardrails } : {}),
    dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-it-')),
    // Each test file its own table: breakers are shared by everything on a table.
    tableName: `sovereign-agent-it-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    // Skip Step Functions' real Retry waits; the tool runner's own backoff is shortened through its env.
    retryIntervalOverrides: {
      Plan: 0,
      RunTool: 0,
      RunApprovedTool: 0,
      RequestApproval: 0,
      StartSession: 0,
      Finalize: 0,
      RecordFailure: 0,
    },
    functionEnvironment: {
      ...options.functionEnvironment,
      runTool: {
        TOOL_RETRY_BASE_MS: '20',
        TOOL_RETRY_MAX_MS: '100',
        ...options.functionEnvironment?.runTool,
      },
    },
  });
};

export const reportsOf = async (stack: LocalStack, tenantId: string) => {
  const { doc, tableName } = localClients(stack.env);
  const out = await doc.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :r)',
      ExpressionAttributeValues: { ':pk': tenantPk(tenantId), ':r': 'REPORT#' },
    }),
  );
  return out.Items ?? [];
};
