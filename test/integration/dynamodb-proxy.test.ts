/**
 * The DynamoDB counting proxy of the local stack (startLocalStack({ countDynamoDbRequests: true })): it forwards
 * requests and answers unchanged and counts the functions' requests by operation, not the caller's own reads.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { ModelScript } from '../../local/bedrock/script';
import { runGoal } from '../../local/cli/run-goal';
import { localDynamoDbClient } from '../../local/dynamodb/local';
import { startDynamoDbCountingProxy } from '../../local/dynamodb/proxy';
import { type LocalStack, startLocalStack } from '../../local/stack/start';
import { executionNameFor } from '../../shared/contracts/goal-events';
import { goalEvent, loadJson } from './helpers';

jest.setTimeout(60_000);

const dynamodbEndpoint = (): string => {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint)
    throw new Error('global-setup did not start DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB unset)');
  return endpoint;
};

describe('the DynamoDB counting proxy', () => {
  it('forwards requests and error answers unchanged and counts them by X-Amz-Target', async () => {
    // Prepare
    const proxy = await startDynamoDbCountingProxy({ target: dynamodbEndpoint() });
    const client = localDynamoDbClient(proxy.url, 1);
    const tableName = process.env.TABLE_NAME as string;
    const item = { pk: { S: `proxy-test#${Date.now()}` }, sk: { S: 'META' } };
    try {
      // Act
      const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      const second = client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );

      // Assess
      expect(described.Table?.TableName).toBe(tableName);
      await expect(second).rejects.toBeInstanceOf(ConditionalCheckFailedException);
      expect(proxy.counts()).toEqual({ DescribeTable: 1, PutItem: 2 });
      // The client did not ask for ReturnConsumedCapacity: nothing is reported, nothing is added.
      expect(proxy.capacity()).toEqual({ readUnits: 0, writeUnits: 0 });
      proxy.reset();
      expect(proxy.counts()).toEqual({});
    } finally {
      client.destroy();
      await proxy.close();
    }
  });

  describe('on a local stack', () => {
    let stack: LocalStack;

    beforeAll(async () => {
      stack = await startLocalStack({
        dynamodbEndpoint: dynamodbEndpoint(),
        inMemory: true,
        dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-it-')),
        countDynamoDbRequests: true,
        // Its own table, like startTestStack's: breakers are shared by everything on a table.
        tableName: `sovereign-agent-it-proxy-${Date.now().toString(36)}`,
      });
    });

    afterAll(async () => {
      await stack?.stop();
    });

    /** Runs one goal with `modelScript` from a counter reset to its execution's end. */
    const runCounted = async (modelScript: ModelScript) => {
      const event = goalEvent();
      const goalId = (event.detail as { goalId: string }).goalId;
      stack.resetDynamoDbRequests();
      const summary = await runGoal({ stack, event, modelScript, pollMs: 20 });
      const execution = stack.stepFunctions
        .executions()
        .find((r) => r.name === executionNameFor('acme', goalId));
      await stack.stepFunctions.waitForExecution(execution?.executionArn ?? 'missing');
      return summary;
    };

    it("counts a one-turn goal's requests per operation, and none of the caller's own polling", async () => {
      // Prepare + Act: the model answers at once, so the goal runs intake, startSession, plan and finalize once
      const summary = await runCounted({ turns: [{ text: 'Nothing needs doing for this tenant.' }] });

      // Assess
      expect(summary).toMatchObject({ status: 'completed', turns: 1, toolCalls: 0 });
      // intake: the tenant's policy (GetItem), the session and goal in one transaction and the start's count (an
      // update); startSession: one update; plan: one Query, the model's breaker (GetItem), the turn's reservation
      // and its commit (two transactions) and the tenant day's ledger for its cost alerts (GetItem: acme has a
      // daily cap); finalize: one GetItem (the answer), the ending update and the published event's record. runGoal
      // polled the session many times through stack.env (the direct endpoint): none of that is counted.
      expect(stack.dynamodbRequests()).toEqual({
        GetItem: 1 + 2 + 1,
        Query: 1,
        TransactWriteItems: 1 + 2,
        UpdateItem: 4,
      });
    });

    it('makes 5 requests per turn and 4 per tool call, each reporting the capacity it consumed', async () => {
      // Prepare + Act: 4 turns (3 with tools, then the answer) and 4 tool calls
      const summary = await runCounted(loadJson<ModelScript>('events/model-scripts/billing-four-tools.json'));

      // Assess
      expect(summary).toMatchObject({ status: 'completed', turns: 4, toolCalls: 4 });
      // Per turn, Plan: its model's breaker (GetItem), one Query, the turn's reservation and its commit (two
      // transactions) and the tenant day's ledger for its cost alerts (GetItem). Per tool call, RunTool: the message
      // and the tool's breaker (one BatchGetItem), the claim (PutItem), the call's reservation and the outcome with
      // the session's count and the breaker window's (two transactions). Fixed: intake's policy read, transaction and
      // start count, startSession's update, finalize's GetItem, update and published-event record. The billing
      // action group stores the report (PutItem).
      expect(stack.dynamodbRequests()).toEqual({
        BatchGetItem: 4,
        GetItem: 4 * 2 + 2,
        PutItem: 4 + 1,
        Query: 4,
        TransactWriteItems: 1 + 4 * 2 + 4 * 2,
        UpdateItem: 4,
      });
      const capacity = stack.dynamodbCapacity();
      // Every read is a strongly consistent read of at least one unit; a transaction's writes cost two units each.
      expect(capacity.readUnits).toBeGreaterThanOrEqual(4 + 4 + 4 + 1 + 4);
      expect(capacity.writeUnits).toBeGreaterThanOrEqual(5 + 4 + 2 * (2 + 2 * 4 + 3 * 4));
    });
  });
});
