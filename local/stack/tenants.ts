/** The sample tenants' policies: one data file (events/tenants.json) applied at every start through TenantStore. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { createDocumentClient } from '../../shared/runtime/clients/dynamodb';
import { zodIssues } from '../../shared/runtime/zod-issues';
import {
  defaultTenantPolicySchema,
  type TenantPolicyItem,
  TenantStore,
} from '../../shared/store/tenant-store';
import { localDynamoDbClient } from '../dynamodb/local';
import { LocalStackError } from './teardown';

export const TENANTS_FILE = join('events', 'tenants.json');

/** Tenant id -> a complete policy (dailyCapUsd required), strict like `tenant set`. */
export const tenantsFileSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'a tenant id is 1-64 letters, digits, "-" or "_"'),
  defaultTenantPolicySchema,
);

export const readTenantsFile = (rootDir: string): z.infer<typeof tenantsFileSchema> => {
  const file = join(rootDir, TENANTS_FILE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new LocalStackError(`Cannot read the sample tenants ${file}: ${(error as Error).message}`);
  }
  const parsed = tenantsFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new LocalStackError(`Invalid sample tenants ${file}: ${zodIssues(parsed.error).join('; ')}`);
  }
  return parsed.data;
};

/**
 * Sets each sample tenant's policy as `tenant set` would (a partial update): the file's fields win at every start,
 * a pause (not in the file) survives a restart.
 */
export const applyTenantsFile = async (
  rootDir: string,
  dynamodbEndpoint: string,
  tableName: string,
): Promise<TenantPolicyItem[]> => {
  const tenants = readTenantsFile(rootDir);
  const raw = localDynamoDbClient(dynamodbEndpoint);
  try {
    const store = new TenantStore(createDocumentClient(raw), tableName);
    const applied: TenantPolicyItem[] = [];
    for (const [tenantId, policy] of Object.entries(tenants))
      applied.push(await store.setPolicy(tenantId, policy));
    return applied;
  } finally {
    raw.destroy();
  }
};
