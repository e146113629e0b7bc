/**
 * Jest globalSetup of the integration project: ONE in-memory DynamoDB Local with serverless.yml's AgentTable, a warm
 * `sls print` cache and warm function bundles, so each test file's stack starts in well under a second. The run's
 * data (bundles, cache, logs) lives in a temp dir named by SOVEREIGN_AGENT_DATA_DIR, never in the repo's .local. The endpoint, table and bus names, region and dummy credentials go into process.env, which the test
 * workers inherit; test files then call startLocalStack({ dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
 * inMemory: true, dataDir: <tmp dir> }).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDbLocal, localDynamoDbClient, startDynamoDbLocal } from '../../local/dynamodb/local';
import { ensureTable } from '../../local/dynamodb/table';
import { buildFunctions } from '../../local/lambda/bundles';
import { DATA_DIR_VARIABLE } from '../../local/stack/data-dir';
import {
  defaultRootDir,
  eventBusName,
  intrinsicContext,
  loadServerlessConfig,
  type ServerlessConfig,
  tableProperties,
} from '../../local/stack/serverless-config';
import { functionSpecs } from '../../local/stack/specs';

/** Shared with global-teardown, which runs in the same process. */
export interface IntegrationGlobals {
  __sovereignDynamoDbLocal?: DynamoDbLocal;
  /** The run's data dir (a temp dir), removed by global-teardown. */
  __sovereignDataDir?: string;
}

const warmBundles = async (config: ServerlessConfig): Promise<string> => {
  const built = await buildFunctions({
    functions: functionSpecs(config, intrinsicContext(config)),
    esbuild: config.esbuild,
    rootDir: defaultRootDir(),
  });
  const cached = built.builds.filter((b) => b.cached).length;
  return `${built.builds.length} bundles in ${(built.buildMs / 1000).toFixed(1)} s (${cached} unchanged)`;
};

export default async function globalSetup(): Promise<void> {
  const started = performance.now();
  // Before anything reads it: the sls print cache, the bundles and every test worker (they inherit process.env),
  // and the CLI processes the tests spawn, keep to this run's folder.
  const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-test-'));
  process.env[DATA_DIR_VARIABLE] = dataDir;
  (globalThis as IntegrationGlobals).__sovereignDataDir = dataDir;
  const configLoad = loadServerlessConfig({ stage: 'local' });
  const [config, dynamodb, bundles] = await Promise.allSettled([
    configLoad,
    startDynamoDbLocal({ dataDir: null }),
    configLoad.then(warmBundles),
  ]);
  const failure = [config, dynamodb, bundles].find((r) => r.status === 'rejected');
  if (config.status === 'rejected' || dynamodb.status === 'rejected' || bundles.status === 'rejected') {
    if (dynamodb.status === 'fulfilled') await dynamodb.value.stop();
    throw (failure as PromiseRejectedResult).reason;
  }
  const table = tableProperties(config.value);
  const client = localDynamoDbClient(dynamodb.value.endpoint);
  try {
    await ensureTable(client, table);
  } catch (error) {
    await dynamodb.value.stop();
    throw error;
  } finally {
    client.destroy();
  }
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: dynamodb.value.endpoint,
    TABLE_NAME: table.TableName,
    EVENT_BUS_NAME: eventBusName(config.value),
    AWS_REGION: config.value.region,
    AWS_DEFAULT_REGION: config.value.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    // A `serve` a test starts takes random ports, so it never meets a developer's own serve (or another run's) on 4710.
    SOVEREIGN_AGENT_PORT_BASE: '0',
  });
  (globalThis as IntegrationGlobals).__sovereignDynamoDbLocal = dynamodb.value;
  process.stderr.write(
    `\nintegration setup: DynamoDB Local ${dynamodb.value.endpoint} with ${table.TableName}, ${bundles.value} in ${dataDir}; ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
