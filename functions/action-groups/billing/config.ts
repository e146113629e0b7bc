/** Billing action group configuration, read once per cold start. */
import { requiredEnv } from '../../../shared/runtime/env';

export { createDocumentClient } from '../../../shared/runtime/clients/dynamodb';

export interface BillingConfig {
  /** The single table that holds sessions and, here, stored reports. */
  tableName: string;
}

export const readBillingConfig = (env: NodeJS.ProcessEnv = process.env): BillingConfig => ({
  tableName: requiredEnv('TABLE_NAME', env),
});
