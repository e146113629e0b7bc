/**
 * DynamoDB consumed capacity, counted once for every request a function makes: a client middleware asks each
 * request for ReturnConsumedCapacity TOTAL and adds up what DynamoDB answers, so no store method has to.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoDbUsage {
  requests: number;
  readUnits: number;
  writeUnits: number;
}

interface Capacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

const empty = (): DynamoDbUsage => ({ requests: 0, readUnits: 0, writeUnits: 0 });
let usage = empty();

/**
 * Read and write units of one answer. On-demand tables report only CapacityUnits: a request is a read or a write
 * by its operation (a Get/Query/Scan/BatchGet/TransactGet reads, everything else writes).
 */
export const unitsOf = (operation: string, consumed: Capacity | Capacity[] | undefined) => {
  const list = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
  const reads = /^(Get|Query|Scan|BatchGet|TransactGet)/.test(operation);
  let readUnits = 0;
  let writeUnits = 0;
  for (const c of list) {
    const split = c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined;
    readUnits += split ? (c.ReadCapacityUnits ?? 0) : reads ? (c.CapacityUnits ?? 0) : 0;
    writeUnits += split ? (c.WriteCapacityUnits ?? 0) : reads ? 0 : (c.CapacityUnits ?? 0);
  }
  return { readUnits, writeUnits };
};

/** Adds the counting middleware to a DynamoDB client (the document client shares its middleware stack). */
export const countConsumedCapacity = (client: DynamoDBClient): DynamoDBClient => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity ??= 'TOTAL';
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: Capacity | Capacity[] };
      const units = unitsOf(String(context.commandName ?? ''), output.ConsumedCapacity);
      usage.requests += 1;
      usage.readUnits += units.readUnits;
      usage.writeUnits += units.writeUnits;
      return result;
    },
    { step: 'initialize', name: 'countConsumedCapacity' },
  );
  return client;
};

/** What this environment's requests consumed since the last call (one invocation's worth, taken at its end). */
export const takeDynamoDbUsage = (): DynamoDbUsage => {
  const taken = usage;
  usage = empty();
  return taken;
};
