/** Jest globalTeardown of the integration project: stops the DynamoDB Local (java) that global-setup started. */
import type { IntegrationGlobals } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as IntegrationGlobals;
  await globals.__sovereignDynamoDbLocal?.stop();
  globals.__sovereignDynamoDbLocal = undefined;
}
