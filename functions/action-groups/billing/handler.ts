/** Lambda entry of the billing action group: configuration, logger and DynamoDB client, created once. */
import { documentClient } from '../../../shared/runtime/clients/dynamodb';
import { logger } from '../../../shared/runtime/powertools';
import { createBillingHandler } from './action-group';
import { readBillingConfig } from './config';

const config = readBillingConfig();

export const handler = createBillingHandler({
  documentClient: documentClient(),
  tableName: config.tableName,
  logger,
});
