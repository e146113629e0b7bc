/** Jest globalTeardown of the integration project: stops the DynamoDB Local (java) that global-setup started, removes the run's data dir. */
import { rm } from 'node:fs/promises';
import type { IntegrationGlobals } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as IntegrationGlobals;
  await globals.__sovereignDynamoDbLocal?.stop();
  globals.__sovereignDynamoDbLocal = undefined;
  if (globals.__sovereignDataDir !== undefined) {
    await rm(globals.__sovereignDataDir, { recursive: true, force: true });
    globals.__sovereignDataDir = undefined;
  }
}
