/** `sovereign-agent tenant show|set|pause|resume` and `costs`: tenant policies and daily spend on the local stack. */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { TENANT_PAUSE_REQUESTED, TENANT_RESUME_REQUESTED } from '../../shared/contracts/lifecycle-events';
import { InvalidGoalError } from '../../shared/runtime/errors';
import {
  TENANT_DAY_PREFIX,
  type TenantDayItem,
  type TenantPolicyItem,
  tenantDayItemSchema,
} from '../../shared/store/table';
import {
  noPolicyMessage,
  parsePolicyInput,
  type TenantPolicyInput,
  TenantStore,
  tenantPolicyInputSchema,
  utcDay,
} from '../../shared/store/tenant-store';
import { LocalError } from '../aws/errors';
import { putCliRequest } from './put-request';
import type { LocalClients } from './run-goal';

/** A tenant command that cannot be done as asked (bad flags, no such tenant, the function did not act in time). */
export class TenantCommandError extends LocalError {}

export const tenantStoreOf = (clients: LocalClients): TenantStore =>
  new TenantStore(clients.doc, clients.tableName);

type Flags = Record<string, string | boolean | undefined>;

const numberFlag = (values: Flags, name: string): number | undefined => {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value)) {
    throw new TenantCommandError(`--${name} takes a number, got "${String(raw)}"`);
  }
  return value;
};

/** `tenant set`'s flags as a policy update, validated by the same schema as the tenants file and the default policy. */
export const policyInputOf = (values: Flags): TenantPolicyInput => {
  const agents = values.agents;
  const input = {
    dailyCapUsd: numberFlag(values, 'daily-cap-usd'),
    sessionUsdBudget: numberFlag(values, 'session-usd-budget'),
    sessionTokenBudget: numberFlag(values, 'session-token-budget'),
    defaultDataClassification: typeof values['data-class'] === 'string' ? values['data-class'] : undefined,
    allowedAgents:
      typeof agents === 'string'
        ? agents
            .split(',')
            .map((a) => a.trim())
            .filter((a) => a !== '')
        : undefined,
  };
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  if (Object.keys(given).length === 0) {
    throw new TenantCommandError(
      'tenant set needs at least one of --daily-cap-usd, --session-usd-budget, --session-token-budget, --data-class, --agents',
    );
  }
  try {
    return parsePolicyInput(tenantPolicyInputSchema, given, 'tenant policy');
  } catch (error) {
    if (error instanceof InvalidGoalError) throw new TenantCommandError(error.message, { cause: error });
    throw error;
  }
};

export const setTenant = async (
  store: TenantStore,
  tenantId: string,
  values: Flags,
): Promise<TenantPolicyItem> => {
  const input = policyInputOf(values);
  try {
    return await store.setPolicy(tenantId, input);
  } catch (error) {
    if (error instanceof InvalidGoalError) throw new TenantCommandError(error.message, { cause: error });
    throw error;
  }
};

export const requirePolicy = async (store: TenantStore, tenantId: string): Promise<TenantPolicyItem> => {
  const policy = await store.getPolicy(tenantId);
  if (!policy) throw new TenantCommandError(noPolicyMessage(tenantId));
  return policy;
};

/** One line per policy field, and today's ledger when there is one. */
export const formatPolicy = (policy: TenantPolicyItem, today?: TenantDayItem): string =>
  [
    `tenant ${policy.tenantId}${policy.paused ? `  PAUSED since ${policy.pausedAt ?? '?'}: ${policy.pausedReason ?? ''}` : ''}`,
    `  daily cap        $${policy.dailyCapUsd}`,
    `  session budget   ${policy.sessionUsdBudget === undefined ? '(agent profile)' : `$${policy.sessionUsdBudget}`}, ${policy.sessionTokenBudget === undefined ? '(agent profile)' : `${policy.sessionTokenBudget} tokens`}`,
    `  data class       ${policy.defaultDataClassification ?? '(agent profile)'}`,
    `  agents           ${policy.allowedAgents?.join(', ') ?? '(all)'}`,
    today ? `  today            ${formatDay(today)}` : '  today            no spend yet',
  ].join('\n');

/**
 * Puts the pause or resume request on the bus (the costAlert function acts on it, as it would on one from any
 * other tool) and waits until the policy shows it; the function's own refusal or absence surfaces as a timeout.
 */
export const requestPause = async (
  env: Record<string, string>,
  store: TenantStore,
  request: { tenantId: string; pause: boolean; reason?: string; timeoutMs: number },
): Promise<TenantPolicyItem> => {
  const { tenantId, pause } = request;
  const before = await requirePolicy(store, tenantId);
  if ((before.paused ?? false) === pause) return before;
  await putCliRequest(
    env,
    pause ? TENANT_PAUSE_REQUESTED : TENANT_RESUME_REQUESTED,
    {
      tenantId,
      ...(pause ? { reason: request.reason ?? 'paused by an operator (sovereign-agent tenant pause)' } : {}),
    },
    (entries) => new TenantCommandError(`The bus refused the request: ${entries}`),
  );
  const deadline = Date.now() + request.timeoutMs;
  while (Date.now() < deadline) {
    const now = await requirePolicy(store, tenantId);
    if ((now.paused ?? false) === pause) return now;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new TenantCommandError(
    `tenant ${tenantId} is still ${pause ? 'not paused' : 'paused'} after ${request.timeoutMs / 1000} s: ` +
      'see `sovereign-agent events --type all` and the costAlert log in .local/logs',
  );
};

// --- costs ---

export interface CostRow {
  tenantId: string;
  day: string;
  spentUsd: number;
  capUsd: number | null;
  /** Spent as a percentage of the cap (0 for a zero cap). */
  percentUsed: number | null;
  remainingUsd: number | null;
}

/** One day's row; a day only uncapped sessions spent on has no cap (capUsd, percentUsed and remainingUsd null). */
export const costRowOf = (ledger: TenantDayItem): CostRow => {
  const cap = ledger.capMicros;
  return {
    tenantId: ledger.tenantId,
    day: ledger.day,
    spentUsd: ledger.spentMicros / 1_000_000,
    capUsd: cap === undefined ? null : cap / 1_000_000,
    percentUsed:
      cap === undefined ? null : cap === 0 ? 0 : Math.round((ledger.spentMicros / cap) * 1000) / 10,
    remainingUsd: ledger.remainingMicros === undefined ? null : ledger.remainingMicros / 1_000_000,
  };
};

const formatDay = (ledger: TenantDayItem): string => {
  const row = costRowOf(ledger);
  const cap = row.capUsd === null ? 'no daily cap' : `of $${row.capUsd.toFixed(2)} (${row.percentUsed}%)`;
  return `${row.day}  spent $${row.spentUsd.toFixed(6)} ${cap}`;
};

export const formatCosts = (rows: CostRow[]): string =>
  rows.length === 0
    ? 'no spend recorded'
    : rows
        .map(
          (r) =>
            `${r.day}  ${r.tenantId.padEnd(10)} spent $${r.spentUsd.toFixed(6).padStart(12)} ` +
            (r.capUsd === null
              ? 'no daily cap'
              : `of $${r.capUsd.toFixed(2).padStart(8)}  ${`${r.percentUsed}%`.padStart(6)} used`),
        )
        .join('\n');

/** Every tenant-day ledger (a Scan: the local CLI over a local table, never a function), or one tenant's. */
export const listLedgers = async (
  clients: LocalClients,
  filter: { tenantId?: string; day?: string },
): Promise<TenantDayItem[]> => {
  if (filter.tenantId !== undefined) return tenantStoreOf(clients).listDays(filter.tenantId, filter.day);
  const items: TenantDayItem[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await clients.doc.send(
      new ScanCommand({
        TableName: clients.tableName,
        FilterExpression: 'begins_with(sk, :sk)',
        ExpressionAttributeValues: { ':sk': `${TENANT_DAY_PREFIX}${filter.day ?? ''}` },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) items.push(tenantDayItemSchema.parse(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return items.sort((a, b) =>
    a.day === b.day ? a.tenantId.localeCompare(b.tenantId) : a.day.localeCompare(b.day),
  );
};

export const checkDay = (day: string | undefined): string | undefined => {
  if (day === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) {
    throw new TenantCommandError(
      `--day takes a UTC day YYYY-MM-DD (today is ${utcDay(new Date())}), got "${day}"`,
    );
  }
  return day;
};
