/** create_optimization_report: stores a markdown report once per tool call (conditional put keyed by the call). */
import { createHash } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { keys } from '../../../shared/store/keys';
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

const storedReportSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  entity: z.literal('report'),
  tenantId: z.string(),
  reportId: z.string(),
  sessionId: z.string(),
  title: z.string(),
  findings: z.array(z.string()),
  body: z.string(),
  createdAt: z.string(),
  idempotencyKey: z.string(),
});
export type StoredReport = z.infer<typeof storedReportSchema>;

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
      }),
    );
    return resultOf(item);
  } catch (error) {
    // Matched by name: the class identity differs when two SDK copies are bundled.
    if (!(error instanceof Error && error.name === 'ConditionalCheckFailedException')) {
      throw new ReportStoreError(`Could not store report ${key.pk}/${key.sk}`, { cause: error });
    }
  }
  // The same tool call already stored its report (a retry or a resumed goal): answer with that one.
  let stored: unknown;
  try {
    const found = await deps.documentClient.send(
      new GetCommand({ TableName: deps.tableName, Key: key, ConsistentRead: true }),
    );
    stored = found.Item;
  } catch (error) {
    throw new ReportStoreError(`Could not read report ${key.pk}/${key.sk}`, { cause: error });
  }
  const parsed = storedReportSchema.safeParse(stored);
  if (!parsed.success) {
    throw new ReportStoreError(
      `Report ${key.pk}/${key.sk} exists but could not be read back: ${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  return resultOf(parsed.data);
}
