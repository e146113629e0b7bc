/** Sample billing data per tenant: schema, loading, and the date and money arithmetic the tools share. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { UnknownTenantError } from './errors';

const isoDate = z.iso.date();

const resourceSchema = z.object({
  resourceId: z.string().min(1),
  name: z.string().min(1),
  service: z.string().min(1),
  resourceType: z.string().min(1),
  region: z.string().min(1),
  /** For a volume: the instance it is attached to; null when unattached. */
  attachedTo: z.string().nullable(),
});

/**
 * `usage` is billed on demand; `commitment_fee` is a commitment's (Savings Plan's) recurring fee;
 * `covered_usage` is usage paid for by a commitment: its cost is what it drew from the commitment and
 * is not billed again, so billed totals leave it out.
 */
export const lineItemKinds = ['usage', 'commitment_fee', 'covered_usage'] as const;

const lineItemSchema = z.object({
  date: isoDate,
  service: z.string().min(1),
  resourceId: z.string().min(1),
  usageType: z.string().min(1),
  kind: z.enum(lineItemKinds),
  commitmentId: z.string().optional(),
  cost: z.number().nonnegative(),
});

const percent = z.number().min(0).max(100);
export const utilizationMetrics = ['cpu_percent', 'io_percent'] as const;

const utilizationSampleSchema = z.object({
  date: isoDate,
  resourceId: z.string().min(1),
  /** cpu_percent: CPU of an instance or database; io_percent: share of a volume's provisioned IOPS used. */
  metric: z.enum(utilizationMetrics),
  avg: percent,
  p95: percent,
});

const commitmentSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  term: z.string().min(1),
  paymentOption: z.string().min(1),
  hourlyCommitmentUsd: z.number().positive(),
  startDate: isoDate,
  endDate: isoDate,
});

const contractSchema = z.object({
  agreement: z.string().min(1),
  provider: z.string().min(1),
  startDate: isoDate,
  renewalDate: isoDate,
  autoRenew: z.boolean(),
  noticePeriodDays: z.number().int().nonnegative(),
  minimumAnnualSpendUsd: z.number().nonnegative().nullable(),
  discounts: z.array(z.object({ scope: z.string(), percent: z.number(), note: z.string().optional() })),
  commitments: z.array(commitmentSchema),
  supportPlan: z.string().min(1),
  terminationTerms: z.string().min(1),
});

export const tenantDatasetSchema = z.object({
  tenantId: z.string().min(1),
  tenantName: z.string().min(1),
  currency: z.literal('USD'),
  /** The day the data is "as of": the day after the last day of data; every date-derived fact counts from it. */
  asOf: isoDate,
  resources: z.array(resourceSchema),
  lineItems: z.array(lineItemSchema).min(1),
  utilization: z.array(utilizationSampleSchema),
  contract: contractSchema,
});

export type TenantDataset = z.infer<typeof tenantDatasetSchema>;
export type LineItem = TenantDataset['lineItems'][number];
export type UtilizationSample = TenantDataset['utilization'][number];
export type Resource = TenantDataset['resources'][number];

/**
 * The sample data: one file per tenant, read when a tenant is first asked for. Next to this module in the source
 * and next to the bundle in the function's package (serverless.yml packs `data/*.json` at their paths), so the
 * bundle carries code only. BILLING_DATA_DIR points elsewhere: `sls invoke local` needs it, because
 * serverless-esbuild puts a function's package files in another folder than its bundle there
 * (https://github.com/floydspace/serverless-esbuild/issues/461).
 */
const DATA_DIR = resolve(process.env.BILLING_DATA_DIR ?? join(__dirname, 'data'));
const loaded = new Map<string, TenantDataset>();

/** Tenants that have billing data. */
export const knownTenants = (): string[] =>
  readdirSync(DATA_DIR)
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort();

/** The tenant's dataset, validated on first use; an unknown tenant is a domain error, not a crash. */
export function loadTenantDataset(tenantId: string): TenantDataset {
  const cached = loaded.get(tenantId);
  if (cached) return cached;
  if (!knownTenants().includes(tenantId)) {
    throw new UnknownTenantError(`No billing data for tenant "${tenantId}"`);
  }
  // A malformed data file is a packaging bug: let the parse error throw with its path.
  const source: unknown = JSON.parse(readFileSync(join(DATA_DIR, `${tenantId}.json`), 'utf8'));
  const dataset = tenantDatasetSchema.parse(source);
  if (dataset.tenantId !== tenantId) {
    throw new Error(`Billing data file for "${tenantId}" holds tenant "${dataset.tenantId}"`);
  }
  loaded.set(tenantId, dataset);
  return dataset;
}

// --- dates (ISO yyyy-mm-dd, UTC) ---

const DAY_MS = 86_400_000;
const toTime = (date: string): number => Date.parse(`${date}T00:00:00Z`);

export const addDays = (date: string, days: number): string =>
  new Date(toTime(date) + days * DAY_MS).toISOString().slice(0, 10);

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export const daysBetween = (from: string, to: string): number =>
  Math.round((toTime(to) - toTime(from)) / DAY_MS);

export const monthOf = (date: string): string => date.slice(0, 7);

/** The month before `month` (yyyy-mm). */
export const previousMonthOf = (month: string): string => monthOf(addDays(`${month}-01`, -1));

/** The last day of data: the day before the dataset's as-of date. */
export const lastDataDay = (dataset: TenantDataset): string => addDays(dataset.asOf, -1);

/** The latest month that ends on or before the last day of data. */
export function latestCompleteMonth(dataset: TenantDataset): string {
  const last = lastDataDay(dataset);
  return monthOf(addDays(last, 1)) !== monthOf(last) ? monthOf(last) : previousMonthOf(monthOf(last));
}

// --- money and percentages ---

export const roundUsd = (value: number): number => Math.round(value * 100) / 100;
export const roundPercent = (value: number): number => Math.round(value * 10) / 10;

const usdFormat = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
export const formatUsd = (value: number): string => usdFormat.format(value);

const rateFormat = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  maximumFractionDigits: 4,
});
/** Hourly rates keep sub-cent digits ($0.175/hour must not read as $0.18). */
export const formatRate = (value: number): string => rateFormat.format(value);

/** "name (id)", or the id alone when the name is the id. */
export const labelOf = (resource: { name: string; resourceId: string }): string =>
  resource.name === resource.resourceId ? resource.resourceId : `${resource.name} (${resource.resourceId})`;

export const plural = (count: number, singular: string, pluralForm = `${singular}s`): string =>
  `${count} ${count === 1 ? singular : pluralForm}`;

export const formatPercentChange = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(1)}%`;

/** Billed lines: on-demand usage and commitment fees; covered usage was paid through its commitment's fee. */
export const isBilled = (line: LineItem): boolean => line.kind !== 'covered_usage';

/** Display name of a resource id (the inventory name, else the id itself). */
export function resourceName(dataset: TenantDataset, resourceId: string): string {
  return dataset.resources.find((resource) => resource.resourceId === resourceId)?.name ?? resourceId;
}
