/** DynamoDB consumed capacity: every request asks for it, and each invocation's units are added up once. */
import { Readable } from 'node:stream';
import { DynamoDBClient, GetItemCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import {
  countConsumedCapacity,
  takeDynamoDbUsage,
  unitsOf,
} from '../../shared/runtime/clients/consumed-capacity';
import { credentials, REGION } from '../helpers/aws';

describe('unitsOf', () => {
  it('splits an on-demand answer (CapacityUnits only) into reads or writes by operation', () => {
    expect(unitsOf('GetItemCommand', { CapacityUnits: 1 })).toEqual({ readUnits: 1, writeUnits: 0 });
    expect(unitsOf('Query', { CapacityUnits: 2.5 })).toEqual({ readUnits: 2.5, writeUnits: 0 });
    expect(unitsOf('PutItem', { CapacityUnits: 1 })).toEqual({ readUnits: 0, writeUnits: 1 });
  });

  it('adds up the per-table list of a transaction and keeps split read/write figures as they are', () => {
    expect(
      unitsOf('TransactWriteItems', [
        { CapacityUnits: 4, WriteCapacityUnits: 4 },
        { CapacityUnits: 2, ReadCapacityUnits: 2 },
      ]),
    ).toEqual({ readUnits: 2, writeUnits: 4 });
    expect(unitsOf('UpdateItem', undefined)).toEqual({ readUnits: 0, writeUnits: 0 });
  });
});

describe('countConsumedCapacity', () => {
  /** A DynamoDB client whose HTTP layer answers each request with the next canned body and keeps what was sent. */
  const clientAnswering = (bodies: object[]) => {
    const sent: Record<string, unknown>[] = [];
    const requestHandler = {
      handle: async (request: { body?: unknown }) => {
        const text =
          typeof request.body === 'string'
            ? request.body
            : new TextDecoder().decode(request.body as Uint8Array);
        sent.push(JSON.parse(text) as Record<string, unknown>);
        const body = JSON.stringify(bodies[sent.length - 1] ?? {});
        return {
          response: {
            statusCode: 200,
            headers: { 'content-type': 'application/x-amz-json-1.0' },
            body: Readable.from([Buffer.from(body)]),
          },
        };
      },
    };
    const client = new DynamoDBClient({
      region: REGION,
      credentials,
      endpoint: 'http://dynamodb.test',
      requestHandler: requestHandler as never,
    });
    return { client: countConsumedCapacity(client), sent };
  };

  it('asks every request for TOTAL and counts what the answers report until taken', async () => {
    // Prepare
    const { client, sent } = clientAnswering([
      { Item: { pk: { S: 'a' } }, ConsumedCapacity: { TableName: 't', CapacityUnits: 1 } },
      { ConsumedCapacity: [{ TableName: 't', CapacityUnits: 4 }] },
    ]);
    takeDynamoDbUsage();

    // Act
    await client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } }));
    await client.send(new TransactWriteItemsCommand({ TransactItems: [] }));
    const first = takeDynamoDbUsage();
    const second = takeDynamoDbUsage();

    // Assess
    expect(sent.map((body) => body.ReturnConsumedCapacity)).toEqual(['TOTAL', 'TOTAL']);
    expect(first).toEqual({ requests: 2, readUnits: 1, writeUnits: 4 });
    expect(second).toEqual({ requests: 0, readUnits: 0, writeUnits: 0 });
    client.destroy();
  });
});
