/**
 * Last known good answers: a tool whose `x-fallback` is `lastKnownGood` has its latest successful result kept per
 * tenant (written inside the call's record transaction, so once per call), and read back when the tool is down.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { TransactUpdate } from './breaker-store';
import { wrapStoreError as wrap } from './dynamodb-errors';
import { keys, type LastKnownGoodItem, lastKnownGoodItemSchema, parseItem } from './table';

export class LastKnownGoodStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The write that keeps a good answer, for completeToolCall's transaction; it expires `maxAgeSeconds` later. */
  recordUpdate(
    call: { tenantId: string; sessionId: string; tool: string; result: string },
    maxAgeSeconds: number,
  ): TransactUpdate {
    const at = this.now();
    return {
      TableName: this.tableName,
      Key: { ...keys.lastKnownGood(call.tenantId, call.tool) },
      UpdateExpression:
        'SET entity = :entity, tenantId = :tenant, tool = :tool, #result = :result, sessionId = :session, ' +
        '#at = :at, expiresAt = :expires',
      ExpressionAttributeNames: { '#result': 'result', '#at': 'at' },
      ExpressionAttributeValues: {
        ':entity': 'lastKnownGood',
        ':tenant': call.tenantId,
        ':tool': call.tool,
        ':result': call.result,
        ':session': call.sessionId,
        ':at': at,
        ':expires': Math.floor(at / 1000) + maxAgeSeconds,
      },
    };
  }

  /** The tenant's last good answer of the tool, if one is recorded and younger than `maxAgeSeconds`. */
  async get(tenantId: string, tool: string, maxAgeSeconds: number): Promise<LastKnownGoodItem | undefined> {
    const key = keys.lastKnownGood(tenantId, tool);
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.client.send(new GetCommand({ TableName: this.tableName, Key: key }));
      item = out.Item;
    } catch (error) {
      return wrap(error, 'reading the last known good answer');
    }
    if (item === undefined) return undefined;
    const found = parseItem(lastKnownGoodItemSchema, item, key);
    // TTL deletes expired items within days, not at once: the age is checked here too.
    return this.now() - found.at <= maxAgeSeconds * 1000 ? found : undefined;
  }
}
