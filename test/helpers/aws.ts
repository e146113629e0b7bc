/** Shared unit-test wiring for SDK clients: mocked clients, a SessionStore over a mocked table, SDK errors. */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { SessionStore } from '../../shared/store/session-store';
import { NOW } from './fixtures';

export const TABLE = 'sovereign-agent-test';
export const BUS = 'sovereign-agent-test-bus';
export const SOURCE = 'sovereign-agent';
export const REGION = 'us-east-1';
/** Static fake credentials: mocked clients never sign a real request, but the SDK wants some. */
export const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

/** A SessionStore over a document client whose `send` is mocked, with the fixtures' fixed clock. */
export const mockedStore = () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION, credentials }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const ddb = mockClient(client);
  const store = new SessionStore(client, TABLE, 90, () => NOW);
  return { ddb, store, client };
};

/** An EventPublisher over a mocked EventBridge client that accepts every entry. */
export const mockedPublisher = () => {
  const client = new EventBridgeClient({ region: REGION, credentials });
  const eventBridge = mockClient(client);
  const publisher = new EventPublisher(client, BUS, SOURCE);
  return { eventBridge, publisher, client };
};

const asAttributes = (item: object) => marshall(item, { removeUndefinedValues: true });

/**
 * What DynamoDB raises when a Put/Update condition fails outside a transaction; with `ReturnValuesOnConditionCheckFailure:
 * 'ALL_OLD'` it carries the item as it was (`old`), in AttributeValue form.
 */
export const conditionFailed = (old?: object): ConditionalCheckFailedException =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(old ? { Item: asAttributes(old) } : {}),
  });

/**
 * What DynamoDB raises when a condition inside a TransactWrite fails: by default the first item's condition,
 * carrying `old` (ALL_OLD). `reasons` sets every item's reason: an object is that item's ALL_OLD (its condition
 * failed), 'failed' a failed condition without an item, 'none' an item that was fine.
 */
export const transactionConditionFailed = (
  ...reasons: (object | 'failed' | 'none')[]
): TransactionCanceledException => {
  const given = reasons.length > 0 ? reasons : ['failed' as const, 'none' as const];
  const cancellation = given.map((reason) =>
    reason === 'none'
      ? { Code: 'None' }
      : reason === 'failed'
        ? { Code: 'ConditionalCheckFailed' }
        : { Code: 'ConditionalCheckFailed', Item: asAttributes(reason) },
  );
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${cancellation.map((r) => r.Code).join(', ')}]`,
    $metadata: {},
    CancellationReasons: cancellation,
  });
};

/** What the SDK surfaces once its own retries of a throttled table are exhausted. */
export const tableThrottled = (): ProvisionedThroughputExceededException =>
  new ProvisionedThroughputExceededException({
    message: 'Rate of requests exceeds the allowed throughput',
    $metadata: {},
  });
