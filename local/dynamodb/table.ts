/** The agent table in DynamoDB Local, created (or brought up to date) from AgentTable's CloudFormation properties. */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type Projection,
  type ProjectionType,
  ResourceInUseException,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { TableProperties } from '../stack/serverless-config';
import { DynamoDbLocalError } from './local';

/** The table in a persistent data directory has another key schema than serverless.yml declares. */
export class TableSchemaMismatchError extends DynamoDbLocalError {}

const keyText = (keys: readonly { AttributeName?: string; KeyType?: string }[] | undefined): string =>
  (keys ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');

/** An index's CloudFormation Projection as CreateTable takes it (absent members left out). */
const projectionOf = (projection: { ProjectionType?: string; NonKeyAttributes?: string[] }): Projection => ({
  ...(projection.ProjectionType === undefined
    ? {}
    : { ProjectionType: projection.ProjectionType as ProjectionType }),
  ...(projection.NonKeyAttributes === undefined ? {} : { NonKeyAttributes: projection.NonKeyAttributes }),
});

/** CloudFormation table properties -> the CreateTable request (SSE and PITR have no local meaning). */
export const createTableInput = (props: TableProperties): CreateTableCommandInput => {
  const provisioned = props.BillingMode === 'PROVISIONED';
  const gsi = (props.GlobalSecondaryIndexes ?? []).map(
    (index): GlobalSecondaryIndex => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: projectionOf(index.Projection),
      ...(provisioned && index.ProvisionedThroughput !== undefined
        ? {
            ProvisionedThroughput: {
              ReadCapacityUnits: index.ProvisionedThroughput.ReadCapacityUnits,
              WriteCapacityUnits: index.ProvisionedThroughput.WriteCapacityUnits,
            },
          }
        : {}),
    }),
  );
  const lsi = (props.LocalSecondaryIndexes ?? []).map((index) => ({
    IndexName: index.IndexName,
    KeySchema: index.KeySchema,
    Projection: projectionOf(index.Projection),
  }));
  const attributeDefinitions: AttributeDefinition[] = props.AttributeDefinitions;
  return {
    TableName: props.TableName,
    AttributeDefinitions: attributeDefinitions,
    KeySchema: props.KeySchema,
    BillingMode: provisioned ? 'PROVISIONED' : 'PAY_PER_REQUEST',
    ...(provisioned
      ? {
          ProvisionedThroughput: {
            ReadCapacityUnits: props.ProvisionedThroughput?.ReadCapacityUnits ?? 5,
            WriteCapacityUnits: props.ProvisionedThroughput?.WriteCapacityUnits ?? 5,
          },
        }
      : {}),
    ...(gsi.length > 0 ? { GlobalSecondaryIndexes: gsi } : {}),
    ...(lsi.length > 0 ? { LocalSecondaryIndexes: lsi } : {}),
    ...(props.StreamSpecification === undefined
      ? {}
      : {
          StreamSpecification: {
            StreamEnabled: true,
            StreamViewType: props.StreamSpecification.StreamViewType,
          },
        }),
  };
};

const describeTable = async (client: DynamoDBClient, name: string): Promise<TableDescription | undefined> => {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
};

export interface EnsureTableResult {
  created: boolean;
  /** GSIs added to an existing table because serverless.yml declares them and the table lacked them. */
  addedIndexes: string[];
  ttlEnabled: boolean;
}

/**
 * Creates the table from AgentTable's CloudFormation properties and enables its TTL. Idempotent: an existing
 * table (persistent data dir, or another test worker that won the race) is kept; GSIs it lacks are added; a
 * different primary key is an error that says how to start fresh.
 */
export const ensureTable = async (
  client: DynamoDBClient,
  props: TableProperties,
): Promise<EnsureTableResult> => {
  const input = createTableInput(props);
  let created = false;
  const addedIndexes: string[] = [];
  let existing = await describeTable(client, props.TableName);
  if (existing === undefined) {
    try {
      await client.send(new CreateTableCommand(input));
      created = true;
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    existing = await describeTable(client, props.TableName);
  }
  if (!created && existing !== undefined) {
    if (keyText(existing.KeySchema) !== keyText(input.KeySchema)) {
      throw new TableSchemaMismatchError(
        `Table ${props.TableName} exists with key ${keyText(existing.KeySchema)}, but serverless.yml declares ${keyText(input.KeySchema)}. Delete the local data directory (.local/dynamodb) to recreate it.`,
      );
    }
    const have = new Set((existing.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    for (const index of input.GlobalSecondaryIndexes ?? []) {
      if (index.IndexName === undefined || have.has(index.IndexName)) continue;
      await client.send(
        new UpdateTableCommand({
          TableName: props.TableName,
          AttributeDefinitions: input.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      );
      addedIndexes.push(index.IndexName);
    }
  }

  const ttl = props.TimeToLiveSpecification;
  let ttlEnabled = false;
  if (ttl?.Enabled === true) {
    const status = await client.send(new DescribeTimeToLiveCommand({ TableName: props.TableName }));
    const current = status.TimeToLiveDescription;
    ttlEnabled = current?.TimeToLiveStatus === 'ENABLED' && current.AttributeName === ttl.AttributeName;
    if (!ttlEnabled) {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: props.TableName,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
      ttlEnabled = true;
    }
  }
  return { created, addedIndexes, ttlEnabled };
};
