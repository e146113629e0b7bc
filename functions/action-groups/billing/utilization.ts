/** list_underutilized_resources: idle and oversized resources over a lookback window, with estimated savings. */
import {
  addDays,
  formatUsd,
  labelOf,
  lastDataDay,
  plural,
  type Resource,
  roundPercent,
  roundUsd,
  type TenantDataset,
  type UtilizationSample,
} from './dataset';

/**
 * Thresholds on the mean of the daily averages and on the highest daily p95 in the window. Using the
 * highest p95 keeps a resource that is quiet most days but busy on some off the list.
 */
export const UTILIZATION_THRESHOLDS = {
  cpu_percent: { idle: { avg: 2, p95: 5 }, underutilized: { avg: 10, p95: 40 } },
  // Volumes are only ever idle or not: shrinking a volume's IOPS is not a savings lever worth a finding.
  io_percent: { idle: { avg: 1, p95: 2 } },
} as const;

/** Rightsizing aims to bring the highest p95 up to this; each size step down halves the price. */
export const RIGHTSIZE_TARGET_P95_PERCENT = 60;
export const MAX_RIGHTSIZE_STEPS = 2;
/** Savings are stated per 30-day month. */
export const DAYS_PER_MONTH = 30;

export type Recommendation = 'terminate' | 'delete' | 'rightsize' | 'review';

export interface UnderutilizedResource {
  resourceId: string;
  name: string;
  service: string;
  resourceType: string;
  metric: UtilizationSample['metric'];
  avgPercent: number;
  peakP95Percent: number;
  attachedTo: string | null;
  monthlyCostUsd: number;
  recommendation: Recommendation;
  reason: string;
  estimatedMonthlySavingsUsd: number;
}

export interface UnderutilizedResources {
  tenantId: string;
  lookbackDays: number;
  window: { start: string; end: string };
  daysAnalyzed: number;
  thresholds: typeof UTILIZATION_THRESHOLDS;
  resources: UnderutilizedResource[];
  totalEstimatedMonthlySavingsUsd: number;
  summary: string;
}

interface Verdict {
  recommendation: Recommendation;
  savingsShare: number;
  reason: string;
}

const describe = (avg: number, p95: number, metric: string): string =>
  `${metric === 'cpu_percent' ? 'CPU' : 'I/O'} averaged ${avg}% with a peak daily p95 of ${p95}%`;

function judge(
  resource: Resource,
  metric: UtilizationSample['metric'],
  avg: number,
  p95: number,
): Verdict | null {
  const usage = describe(avg, p95, metric);
  if (metric === 'io_percent') {
    const idle = UTILIZATION_THRESHOLDS.io_percent.idle;
    if (!(avg < idle.avg && p95 < idle.p95)) return null;
    return resource.attachedTo === null
      ? {
          recommendation: 'delete',
          savingsShare: 1,
          reason: `Unattached volume; ${usage}. Snapshot, then delete.`,
        }
      : {
          recommendation: 'review',
          savingsShare: 0,
          reason: `Attached to ${resource.attachedTo} but ${usage}; check whether the instance still needs it.`,
        };
  }
  const { idle, underutilized } = UTILIZATION_THRESHOLDS.cpu_percent;
  if (avg < idle.avg && p95 < idle.p95) {
    return { recommendation: 'terminate', savingsShare: 1, reason: `Idle: ${usage}. Stop or terminate it.` };
  }
  if (avg < underutilized.avg && p95 < underutilized.p95) {
    const steps = Math.min(
      MAX_RIGHTSIZE_STEPS,
      Math.max(1, Math.floor(Math.log2(RIGHTSIZE_TARGET_P95_PERCENT / Math.max(p95, 0.1)))),
    );
    return {
      recommendation: 'rightsize',
      savingsShare: 1 - 0.5 ** steps,
      reason: `Oversized: ${usage}. Move ${plural(steps, 'size')} down from ${resource.resourceType}.`,
    };
  }
  return null;
}

const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

export function listUnderutilizedResources(
  dataset: TenantDataset,
  lookbackDays: number,
): UnderutilizedResources {
  const end = lastDataDay(dataset);
  const start = addDays(end, -(lookbackDays - 1));
  const inWindow = (date: string) => date >= start && date <= end;

  const samples = dataset.utilization.filter((sample) => inWindow(sample.date));
  const sampleDays = new Set(samples.map((sample) => sample.date));
  // A resource with no sample on the latest sampled day is gone; recommending its removal would mislead.
  const latestDay = [...sampleDays].sort().at(-1);

  const found: UnderutilizedResource[] = [];
  for (const resource of dataset.resources) {
    const own = samples.filter((sample) => sample.resourceId === resource.resourceId);
    const first = own[0];
    if (!first || !own.some((sample) => sample.date === latestDay)) continue;
    const avg = roundPercent(mean(own.map((sample) => sample.avg)));
    const p95 = roundPercent(Math.max(...own.map((sample) => sample.p95)));
    const verdict = judge(resource, first.metric, avg, p95);
    if (!verdict) continue;

    // Only on-demand usage is cash: what a commitment covers stays billed through the commitment fee.
    const costs = dataset.lineItems.filter(
      (line) => line.resourceId === resource.resourceId && line.kind === 'usage' && inWindow(line.date),
    );
    const costDays = new Set(costs.map((line) => line.date)).size;
    const monthlyCost =
      costDays === 0 ? 0 : (costs.reduce((sum, line) => sum + line.cost, 0) / costDays) * DAYS_PER_MONTH;
    const covered =
      costDays === 0 && dataset.lineItems.some((line) => line.resourceId === resource.resourceId);

    found.push({
      resourceId: resource.resourceId,
      name: resource.name,
      service: resource.service,
      resourceType: resource.resourceType,
      metric: first.metric,
      avgPercent: avg,
      peakP95Percent: p95,
      attachedTo: resource.attachedTo,
      monthlyCostUsd: roundUsd(monthlyCost),
      recommendation: verdict.recommendation,
      reason: covered
        ? `${verdict.reason} Billed through a Savings Plan: this frees commitment, not cash.`
        : verdict.reason,
      estimatedMonthlySavingsUsd: roundUsd(monthlyCost * verdict.savingsShare),
    });
  }
  found.sort(
    (a, b) =>
      b.estimatedMonthlySavingsUsd - a.estimatedMonthlySavingsUsd || a.resourceId.localeCompare(b.resourceId),
  );

  const totalSavings = roundUsd(found.reduce((sum, r) => sum + r.estimatedMonthlySavingsUsd, 0));
  const monitored = new Set(samples.filter((s) => s.date === latestDay).map((s) => s.resourceId)).size;
  const windowText = `the last ${plural(lookbackDays, 'day')} (${start} to ${end}, ${sampleDays.size} with data)`;
  const largest = found[0];
  const summary =
    found.length === 0
      ? `No underutilized resources for ${dataset.tenantId} over ${windowText}: all ${plural(monitored, 'monitored resource')} are above the thresholds.`
      : `${found.length} of ${plural(monitored, 'monitored resource')} of ${dataset.tenantId} ${found.length === 1 ? 'is' : 'are'} underutilized over ${windowText}; ` +
        `estimated savings ${formatUsd(totalSavings)}/month.` +
        (largest
          ? ` Largest: ${labelOf(largest)}, ${largest.recommendation}, ${formatUsd(largest.estimatedMonthlySavingsUsd)}/month.`
          : '');

  return {
    tenantId: dataset.tenantId,
    lookbackDays,
    window: { start, end },
    daysAnalyzed: sampleDays.size,
    thresholds: UTILIZATION_THRESHOLDS,
    resources: found,
    totalEstimatedMonthlySavingsUsd: totalSavings,
    summary,
  };
}
