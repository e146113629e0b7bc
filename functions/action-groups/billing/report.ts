/** create_optimization_report: stores a markdown report once per tool call (conditional put keyed by the call). */
import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { conditionFailureItem, isConditionFailure } from '../../../shared/store/dynamodb-errors';
import { keys, parseItem, type ReportItem, reportItemSchema } from '../../../shared/store/table';
import { auditBillingLogs } from './audit';
import { formatPercentChange, formatUsd, labelOf, plural, type TenantDataset } from './dataset';
import { ReportStoreError } from './errors';
import { listUnderutilizedResources } from './utilization';

/** Lookback of the savings section of a report. */
export const REPORT_SAVINGS_LOOKBACK_DAYS = 30;

export interface ReportStoreDeps {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  now: () => Date;
}

export interface ReportRequest {
  dataset: TenantDataset;
  sessionId: string;
  idempotencyKey: string;
  title: string;
  findings: string[];
}

export interface StoredReportResult {
  reportId: string;
  title: string;
  location: string;
  summary: string;
}

/** A stored report: the table's report item (its schema lives with the other item schemas). */
export type StoredReport = ReportItem;

/** Same tool call, same report id: the id is the first 20 hex characters of the key's SHA-256. */
export const reportIdFor = (idempotencyKey: string): string =>
  createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 20);

/** The report's markdown: the model's title and findings, then totals and savings computed from the data. */
export function renderReportBody(
  request: Pick<ReportRequest, 'dataset' | 'sessionId' | 'title' | 'findings'>,
  createdAt: string,
): string {
  const { dataset } = request;
  const audit = auditBillingLogs(dataset);
  const savings = listUnderutilizedResources(dataset, REPORT_SAVINGS_LOOKBACK_DAYS);
  const lines = [
    `# ${request.title}`,
    '',
    `Tenant: ${dataset.tenantName} (${dataset.tenantId}) | Session: ${request.sessionId} | Created: ${createdAt} | Data as of: ${dataset.asOf}`,
    '',
    '## Findings',
    '',
    ...request.findings.map((finding, index) => `${index + 1}. ${finding}`),
    '',
    `## Billing totals (${audit.month})`,
    '',
    `- Month total: ${formatUsd(audit.monthTotalUsd)}` +
      (audit.previousMonthTotalUsd !== null && audit.monthOverMonthChangePercent !== null
        ? ` (${formatPercentChange(audit.monthOverMonthChangePercent)} vs ${formatUsd(audit.previousMonthTotalUsd)} in ${audit.previousMonth})`
        : ''),
    ...audit.totalsByService
      .slice(0, 5)
      .map((s) => `- ${s.service}: ${formatUsd(s.costUsd)} (${s.sharePercent}%)`),
    `- Cost spikes: ${audit.anomalies.length === 0 ? 'none' : audit.anomalies.map((a) => `${a.service} on ${a.date} (+${a.increasePercent}%)`).join('; ')}`,
    '',
    `## Savings opportunities (last ${savings.lookbackDays} days)`,
    '',
    `- Estimated total: ${formatUsd(savings.totalEstimatedMonthlySavingsUsd)}/month across ${plural(savings.resources.length, 'resource')}`,
    ...savings.resources.map(
      (r) =>
        `- ${labelOf(r)}, ${r.resourceType}: ${r.recommendation}, ${formatUsd(r.estimatedMonthlySavingsUsd)}/month. ${r.reason}`,
    ),
    '',
  ];
  return lines.join('\n');
}

const resultOf = (report: StoredReport): StoredReportResult => {
  const location = `${report.pk}/${report.sk}`;
  return {
    reportId: report.reportId,
    title: report.title,
    location,
    // Built from the stored item only, so a repeated call answers exactly as the first one did.
    summary: `Stored optimization report "${report.title}" with ${plural(report.findings.length, 'finding')} for ${report.tenantId} at ${location}.`,
  };
};

export async function createOptimizationReport(
  deps: ReportStoreDeps,
  request: ReportRequest,
): Promise<StoredReportResult> {
  const tenantId = request.dataset.tenantId;
  const reportId = reportIdFor(request.idempotencyKey);
  const key = keys.report(tenantId, reportId);
  const createdAt = deps.now().toISOString();
  const item: StoredReport = {
    ...key,
    entity: 'report',
    tenantId,
    reportId,
    sessionId: request.sessionId,
    title: request.title,
    findings: request.findings,
    body: renderReportBody(request, createdAt),
    createdAt,
    idempotencyKey: request.idempotencyKey,
  };
  try {
    await deps.documentClient.send(
      new PutCommand({
        TableName: deps.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return resultOf(item);
  } catch (error) {
    if (!isConditionFailure(error)) {
      throw new ReportStoreError(`Could not store report ${key.pk}/${key.sk}`, { cause: error });
    }
    // The same tool call already stored its report (a retry or a resumed goal): answer with that one.
    try {
      return resultOf(parseItem(reportItemSchema, conditionFailureItem(error), key));
    } catch (parseError) {
      throw new ReportStoreError(
        `Report ${key.pk}/${key.sk} exists but could not be read back: ${(parseError as Error).message}`,
        { cause: parseError },
      );
    }
  }
}
