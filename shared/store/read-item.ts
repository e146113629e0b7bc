/** One strongly consistent GetItem, parsed by its item's schema: the read the stores share. */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type * as z from 'zod';
import { wrapStoreError } from './dynamodb-errors';
import { parseItem, type TableKey } from './table';

/** The item at `key`, parsed (undefined when there is none); `what` names the read in a store error. */
export const readItem = async <S extends z.ZodType>(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: TableKey,
  schema: S,
  what: string,
): Promise<z.infer<S> | undefined> => {
  try {
    const out = await client.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
    return out.Item === undefined ? undefined : parseItem(schema, out.Item, key);
  } catch (error) {
    return wrapStoreError(error, what);
  }
};
