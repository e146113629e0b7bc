/** audit_billing_logs: month totals, spend by service, top cost drivers and day-over-day spikes, from line items. */
import {
  addDays,
  formatPercentChange,
  formatUsd,
  isBilled,
  type LineItem,
  latestCompleteMonth,
  monthOf,
  plural,
  previousMonthOf,
  resourceName,
  roundPercent,
  roundUsd,
  type TenantDataset,
} from './dataset';

/** A service's daily cost is a spike when it exceeds the previous day's by more than this share... */
export const SPIKE_THRESHOLD_PERCENT = 50;
/** ...and by at least this many dollars, so that cents-level services do not raise noise. */
export const SPIKE_MIN_INCREASE_USD = 5;
export const TOP_COST_DRIVERS = 5;

export interface ServiceTotal {
  service: string;
  costUsd: number;
  sharePercent: number;
}

export interface CostDriver {
  resourceId: string;
  name: string;
  service: string;
  costUsd: number;
  sharePercent: number;
}

export interface CostAnomaly {
  date: string;
  service: string;
  previousDayUsd: number;
  costUsd: number;
  increasePercent: number;
}

export interface BillingAudit {
  tenantId: string;
  month: string;
  monthTotalUsd: number;
  previousMonth: string | null;
  previousMonthTotalUsd: number | null;
  monthOverMonthChangePercent: number | null;
  totalsByService: ServiceTotal[];
  topCostDrivers: CostDriver[];
  anomalies: CostAnomaly[];
  anomalyRule: string;
  summary: string;
}

const sumBy = <K>(lines: readonly LineItem[], key: (line: LineItem) => K): Map<K, number> => {
  const sums = new Map<K, number>();
  for (const line of lines) sums.set(key(line), (sums.get(key(line)) ?? 0) + line.cost);
  return sums;
};

const total = (lines: readonly LineItem[]): number => lines.reduce((sum, line) => sum + line.cost, 0);

const share = (part: number, whole: number): number => (whole > 0 ? roundPercent((part / whole) * 100) : 0);

/** Billed line items of one month (yyyy-mm). */
export const billedLinesOf = (dataset: TenantDataset, month: string): LineItem[] =>
  dataset.lineItems.filter((line) => isBilled(line) && monthOf(line.date) === month);

/** Billed total of one month, rounded to cents. */
export const monthTotalUsd = (dataset: TenantDataset, month: string): number =>
  roundUsd(total(billedLinesOf(dataset, month)));

/** Day-over-day spikes of each service's billed cost on the days of `month`. */
export function findCostAnomalies(dataset: TenantDataset, month: string): CostAnomaly[] {
  const daily = sumBy(dataset.lineItems.filter(isBilled), (line) => `${line.service}|${line.date}`);
  const services = [...new Set(dataset.lineItems.map((line) => line.service))];
  const days = [...new Set(dataset.lineItems.map((line) => line.date))].filter(
    (day) => monthOf(day) === month,
  );
  const anomalies: CostAnomaly[] = [];
  for (const service of services) {
    for (const day of days) {
      const cost = daily.get(`${service}|${day}`) ?? 0;
      const previous = daily.get(`${service}|${addDays(day, -1)}`);
      if (previous === undefined || previous <= 0) continue;
      const increase = cost - previous;
      if (increase / previous > SPIKE_THRESHOLD_PERCENT / 100 && increase >= SPIKE_MIN_INCREASE_USD) {
        anomalies.push({
          date: day,
          service,
          previousDayUsd: roundUsd(previous),
          costUsd: roundUsd(cost),
          increasePercent: roundPercent((increase / previous) * 100),
        });
      }
    }
  }
  return anomalies.sort((a, b) => a.date.localeCompare(b.date) || a.service.localeCompare(b.service));
}

export function auditBillingLogs(dataset: TenantDataset): BillingAudit {
  const month = latestCompleteMonth(dataset);
  const lines = billedLinesOf(dataset, month);
  const monthTotal = total(lines);

  const previous = previousMonthOf(month);
  const previousLines = billedLinesOf(dataset, previous);
  const previousTotal = previousLines.length > 0 ? total(previousLines) : null;
  const change =
    previousTotal !== null && previousTotal > 0
      ? roundPercent(((monthTotal - previousTotal) / previousTotal) * 100)
      : null;

  const totalsByService = [...sumBy(lines, (line) => line.service)]
    .map(([service, cost]) => ({ service, costUsd: roundUsd(cost), sharePercent: share(cost, monthTotal) }))
    .sort((a, b) => b.costUsd - a.costUsd || a.service.localeCompare(b.service));

  const serviceOf = new Map(lines.map((line) => [line.resourceId, line.service]));
  const topCostDrivers = [...sumBy(lines, (line) => line.resourceId)]
    .map(([resourceId, cost]) => ({
      resourceId,
      name: resourceName(dataset, resourceId),
      service: serviceOf.get(resourceId) ?? 'unknown',
      costUsd: roundUsd(cost),
      sharePercent: share(cost, monthTotal),
    }))
    .sort((a, b) => b.costUsd - a.costUsd || a.resourceId.localeCompare(b.resourceId))
    .slice(0, TOP_COST_DRIVERS);

  const anomalies = findCostAnomalies(dataset, month);

  const parts = [
    `${dataset.tenantId} spent ${formatUsd(monthTotal)} in ${month}` +
      (previousTotal !== null && change !== null
        ? ` (${formatPercentChange(change)} vs ${formatUsd(previousTotal)} in ${previous}).`
        : '.'),
  ];
  const topService = totalsByService[0];
  if (topService) {
    parts.push(
      `Largest service: ${topService.service} ${formatUsd(topService.costUsd)} (${topService.sharePercent}%).`,
    );
  }
  const topDriver = topCostDrivers[0];
  if (topDriver) parts.push(`Top cost driver: ${topDriver.name} ${formatUsd(topDriver.costUsd)}.`);
  parts.push(
    anomalies.length === 0
      ? 'No day-over-day cost spikes.'
      : `${plural(anomalies.length, 'cost spike')}: ${anomalies
          .map((a) => `${a.service} on ${a.date} (+${a.increasePercent}%)`)
          .join(', ')}.`,
  );

  return {
    tenantId: dataset.tenantId,
    month,
    monthTotalUsd: roundUsd(monthTotal),
    previousMonth: previousTotal === null ? null : previous,
    previousMonthTotalUsd: previousTotal === null ? null : roundUsd(previousTotal),
    monthOverMonthChangePercent: change,
    totalsByService,
    topCostDrivers,
    anomalies,
    anomalyRule: `A service's billed cost rises more than ${SPIKE_THRESHOLD_PERCENT}% and at least ${formatUsd(SPIKE_MIN_INCREASE_USD)} over the previous day.`,
    summary: parts.join(' '),
  };
}
