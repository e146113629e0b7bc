/** Billing tools computed from the sample data of acme, globex and initech, checked against the raw data. */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import {
  auditBillingLogs,
  SPIKE_MIN_INCREASE_USD,
  SPIKE_THRESHOLD_PERCENT,
} from '../../functions/action-groups/billing/audit';
import { getContractTerms } from '../../functions/action-groups/billing/contract-terms';
import {
  knownTenants,
  loadTenantDataset,
  type TenantDataset,
} from '../../functions/action-groups/billing/dataset';
import { UnknownTenantError } from '../../functions/action-groups/billing/errors';
import { listUnderutilizedResources } from '../../functions/action-groups/billing/utilization';
import openapi from '../../shared/contracts/tool-schemas/billing.openapi.json';

const acme = loadTenantDataset('acme');
const globex = loadTenantDataset('globex');
const initech = loadTenantDataset('initech');

// Independent arithmetic over the raw line items, to check the tools against.
const billedSum = (
  dataset: TenantDataset,
  predicate: (line: TenantDataset['lineItems'][number]) => boolean,
) =>
  dataset.lineItems
    .filter((line) => line.kind !== 'covered_usage' && predicate(line))
    .reduce((sum, line) => sum + line.cost, 0);
const cents = (value: number) => Math.round(value * 100) / 100;

// The 200-response schemas of openapi.json are part of the contract the model reads: results must fit them.
const ajv = new Ajv({ allErrors: true, strict: false });
const responseSchema = (path: string) => {
  const paths = openapi.paths as Record<string, { post: { responses: Record<string, unknown> } }>;
  const ok = paths[path]?.post.responses['200'] as { content: { 'application/json': { schema: object } } };
  return ajv.compile(ok.content['application/json'].schema);
};
const fitsSchema = (path: string, result: unknown) => {
  const validate = responseSchema(path);
  return validate(result) ? 'valid' : ajv.errorsText(validate.errors);
};

describe('sample data', () => {
  it('covers three tenants with two months of daily line items and utilization', () => {
    // Assess
    expect(knownTenants()).toEqual(['acme', 'globex', 'initech']);
    for (const dataset of [acme, globex, initech]) {
      const days = new Set(dataset.lineItems.map((line) => line.date));
      expect(days.size).toBe(61);
      expect(new Set(dataset.utilization.map((sample) => sample.date)).size).toBe(61);
      expect(dataset.asOf).toBe('2026-11-01');
    }
  });

  it('refuses an unknown tenant with a domain error', () => {
    // Act & Assess
    expect(() => loadTenantDataset('umbrella')).toThrow(UnknownTenantError);
    expect(() => loadTenantDataset('umbrella')).toThrow('No billing data for tenant "umbrella"');
    expect(() => loadTenantDataset('__proto__')).toThrow(UnknownTenantError);
  });
});

describe('audit_billing_logs', () => {
  it.each([
    ['acme', acme],
    ['globex', globex],
    ['initech', initech],
  ])('totals %s October from its billed line items and fits the response schema', (_name, dataset) => {
    // Act
    const audit = auditBillingLogs(dataset);

    // Assess
    const october = billedSum(dataset, (line) => line.date.startsWith('2026-10'));
    const september = billedSum(dataset, (line) => line.date.startsWith('2026-09'));
    expect(audit.month).toBe('2026-10');
    expect(audit.monthTotalUsd).toBe(cents(october));
    expect(audit.previousMonthTotalUsd).toBe(cents(september));
    expect(audit.monthOverMonthChangePercent).toBeCloseTo(((october - september) / september) * 100, 1);
    const byService = audit.totalsByService.reduce((sum, service) => sum + service.costUsd, 0);
    expect(byService).toBeCloseTo(october, 1);
    expect(audit.totalsByService.map((s) => s.costUsd)).toEqual(
      [...audit.totalsByService.map((s) => s.costUsd)].sort((a, b) => b - a),
    );
    expect(audit.topCostDrivers.length).toBeLessThanOrEqual(5);
    expect(audit.summary).toContain(`spent $${audit.monthTotalUsd.toLocaleString('en-US')}`);
    expect(fitsSchema('/audit-billing-logs', audit)).toBe('valid');
  });

  it("finds acme's S3 transfer spike and names RDS as its top cost driver", () => {
    // Act
    const audit = auditBillingLogs(acme);

    // Assess
    expect(audit.anomalies).toHaveLength(1);
    const [spike] = audit.anomalies;
    expect(spike).toMatchObject({ date: '2026-10-17', service: 'Amazon S3' });
    expect(spike?.increasePercent).toBeGreaterThan(SPIKE_THRESHOLD_PERCENT);
    expect((spike?.costUsd ?? 0) - (spike?.previousDayUsd ?? 0)).toBeGreaterThanOrEqual(
      SPIKE_MIN_INCREASE_USD,
    );
    const s3On = (date: string) =>
      billedSum(acme, (line) => line.service === 'Amazon S3' && line.date === date);
    expect(spike?.costUsd).toBe(cents(s3On('2026-10-17')));
    expect(spike?.previousDayUsd).toBe(cents(s3On('2026-10-16')));
    expect(audit.topCostDrivers[0]).toMatchObject({
      resourceId: 'acme-prod-postgres',
      service: 'Amazon RDS',
    });
    expect(audit.summary).toMatch(/1 cost spike: Amazon S3 on 2026-10-17/);
  });

  it("finds globex's DynamoDB backfill spike; initech has none", () => {
    // Act
    const globexAudit = auditBillingLogs(globex);
    const initechAudit = auditBillingLogs(initech);

    // Assess
    expect(globexAudit.anomalies.map((a) => `${a.service}@${a.date}`)).toEqual([
      'Amazon DynamoDB@2026-10-09',
    ]);
    expect(initechAudit.anomalies).toEqual([]);
    expect(initechAudit.summary).toContain('No day-over-day cost spikes.');
  });

  it('leaves commitment-covered usage out of billed totals but bills the commitment fee', () => {
    // Act
    const audit = auditBillingLogs(globex);

    // Assess
    const fee = audit.totalsByService.find((s) => s.service === 'Savings Plans');
    expect(fee?.costUsd).toBe(cents(0.8 * 24 * 31));
    expect(audit.topCostDrivers.some((driver) => driver.name.startsWith('app-'))).toBe(false);
  });
});

describe('list_underutilized_resources', () => {
  it("lists acme's idle EC2 instances and oversized RDS with savings from their on-demand cost", () => {
    // Act
    const result = listUnderutilizedResources(acme, 30);

    // Assess
    const byId = new Map(result.resources.map((r) => [r.resourceId, r]));
    const batch = byId.get('i-0b58e2d7c4a19f310');
    expect(batch).toMatchObject({ name: 'batch-legacy', recommendation: 'terminate' });
    const batchOctober = billedSum(
      acme,
      (line) => line.resourceId === 'i-0b58e2d7c4a19f310' && line.date >= '2026-10-02',
    );
    expect(batch?.estimatedMonthlySavingsUsd).toBe(cents(batchOctober));
    expect(byId.get('i-0c9d4a6b8e2f13577')).toMatchObject({
      name: 'staging-api',
      recommendation: 'terminate',
    });
    const rds = byId.get('acme-prod-postgres');
    expect(rds?.recommendation).toBe('rightsize');
    expect(rds?.estimatedMonthlySavingsUsd).toBeGreaterThan(0);
    expect(rds?.estimatedMonthlySavingsUsd).toBeLessThan(rds?.monthlyCostUsd ?? 0);
    // The busy web servers are not candidates.
    expect(byId.has('i-0a17c3e9b5d24f801')).toBe(false);
    expect(result.totalEstimatedMonthlySavingsUsd).toBeGreaterThan(1000);
    expect(result.resources.map((r) => r.estimatedMonthlySavingsUsd)).toEqual(
      [...result.resources.map((r) => r.estimatedMonthlySavingsUsd)].sort((a, b) => b - a),
    );
    expect(fitsSchema('/list-underutilized-resources', result)).toBe('valid');
  });

  it("lists globex's three unattached EBS volumes for deletion and none of its covered instances", () => {
    // Act
    const result = listUnderutilizedResources(globex, 30);

    // Assess
    expect(result.resources.map((r) => [r.resourceId, r.recommendation, r.attachedTo])).toEqual([
      ['vol-0e1a2b3c4d5e6f702', 'delete', null],
      ['vol-0e1a2b3c4d5e6f701', 'delete', null],
      ['vol-0e1a2b3c4d5e6f703', 'delete', null],
    ]);
    const volumes = billedSum(
      globex,
      (line) => line.resourceId.startsWith('vol-0e1a2b3c4d5e6f70') && line.date >= '2026-10-02',
    );
    expect(result.totalEstimatedMonthlySavingsUsd).toBeCloseTo(volumes, 1);
  });

  it('finds initech mostly efficient: at most one small rightsizing', () => {
    // Act
    const result = listUnderutilizedResources(initech, 30);

    // Assess
    expect(result.resources.length).toBeLessThanOrEqual(1);
    expect(result.totalEstimatedMonthlySavingsUsd).toBeLessThan(20);
    expect(result.resources.every((r) => r.recommendation === 'rightsize')).toBe(true);
  });

  it('analyzes only the lookback window, ending at the last day of data', () => {
    // Act
    const week = listUnderutilizedResources(acme, 7);
    const year = listUnderutilizedResources(acme, 365);

    // Assess
    expect(week.window).toEqual({ start: '2026-10-25', end: '2026-10-31' });
    expect(week.daysAnalyzed).toBe(7);
    expect(year.daysAnalyzed).toBe(61);
    expect(year.summary).toContain('61 with data');
  });

  it('skips resources that are gone and gives no cash savings for commitment-covered ones', () => {
    // Prepare: globex app-5 stopped reporting on 2026-09-20; make it and app-1 idle.
    const edited = structuredClone(globex);
    for (const sample of edited.utilization) {
      if (sample.resourceId === 'i-0e4c1f9a27b6d3055' || sample.resourceId === 'i-0e4c1f9a27b6d3015') {
        sample.avg = 0.5;
        sample.p95 = 1;
      }
    }

    // Act
    const result = listUnderutilizedResources(edited, 60);

    // Assess
    const ids = result.resources.map((r) => r.resourceId);
    expect(ids).not.toContain('i-0e4c1f9a27b6d3055');
    const app1 = result.resources.find((r) => r.resourceId === 'i-0e4c1f9a27b6d3015');
    expect(app1).toMatchObject({
      recommendation: 'terminate',
      monthlyCostUsd: 0,
      estimatedMonthlySavingsUsd: 0,
    });
    expect(app1?.reason).toMatch(/Savings Plan/);
  });
});

describe('get_contract_terms', () => {
  it("derives acme's renewal in 30 days and a notice deadline that has passed", () => {
    // Act
    const terms = getContractTerms(acme);

    // Assess
    expect(terms).toMatchObject({
      asOf: '2026-11-01',
      renewalDate: '2026-12-01',
      daysToRenewal: 30,
      noticeDeadline: '2026-10-02',
      daysToNoticeDeadline: -30,
      noticeWindowOpen: false,
    });
    expect(terms.spend.annualizedUsd).toBeCloseTo(auditBillingLogs(acme).monthTotalUsd * 12, 2);
    expect(terms.spend.projectedShortfallUsd).toBe(0);
    expect(terms.summary).toContain('notice deadline passed on 2026-10-02');
    expect(fitsSchema('/get-contract-terms', terms)).toBe('valid');
  });

  it("computes globex's under-used Savings Plan from fee and covered usage", () => {
    // Act
    const terms = getContractTerms(globex);

    // Assess
    const [plan] = terms.commitments;
    const covered = globex.lineItems
      .filter((line) => line.kind === 'covered_usage' && line.date.startsWith('2026-10'))
      .reduce((sum, line) => sum + line.cost, 0);
    const fee = 0.8 * 24 * 31;
    expect(plan?.utilization.committedUsd).toBe(cents(fee));
    expect(plan?.utilization.usedUsd).toBe(cents(covered));
    expect(plan?.utilization.utilizationPercent).toBeCloseTo((covered / fee) * 100, 1);
    expect(plan?.utilization.utilizationPercent).toBeLessThan(70);
    expect(plan?.utilization.unusedUsd).toBeGreaterThan(150);
    expect(terms).toMatchObject({
      daysToRenewal: 134,
      noticeDeadline: '2026-12-15',
      daysToNoticeDeadline: 44,
    });
    expect(terms.summary).toMatch(/66\.\d% used in 2026-10/);
  });

  it('keeps initech with a well-used plan, no minimum spend and no auto-renewal', () => {
    // Act
    const terms = getContractTerms(initech);

    // Assess
    expect(terms.commitments[0]?.utilization.utilizationPercent).toBeGreaterThan(95);
    expect(terms.minimumAnnualSpendUsd).toBeNull();
    expect(terms.spend.projectedShortfallUsd).toBe(0);
    expect(terms.summary).toContain('does not auto-renew');
    expect(terms.summary).toContain('$0.175/hour');
  });

  it('projects a shortfall when annualized spend is under the minimum', () => {
    // Prepare
    const edited = structuredClone(initech);
    edited.contract.minimumAnnualSpendUsd = 12000;

    // Act
    const terms = getContractTerms(edited);

    // Assess
    expect(terms.spend.projectedShortfallUsd).toBe(cents(12000 - terms.spend.annualizedUsd));
    expect(terms.summary).toMatch(/projected shortfall \$3,/);
  });
});

describe('where the sample data is read from', () => {
  it('reads the tenants of BILLING_DATA_DIR when it is set (sls invoke local), else those beside the module', () => {
    // Prepare: a data dir holding one tenant
    const dir = mkdtempSync(join(tmpdir(), 'billing-data-'));
    copyFileSync(
      join(__dirname, '../../functions/action-groups/billing/data/initech.json'),
      join(dir, 'initech.json'),
    );
    const previous = process.env.BILLING_DATA_DIR;
    process.env.BILLING_DATA_DIR = dir;
    let tenants: string[] = [];
    try {
      // Act: the module reads the variable when it loads
      jest.isolateModules(() => {
        const dataset =
          require('../../functions/action-groups/billing/dataset') as typeof import('../../functions/action-groups/billing/dataset');
        tenants = dataset.knownTenants();
        expect(dataset.loadTenantDataset('initech').tenantId).toBe('initech');
        expect(() => dataset.loadTenantDataset('acme')).toThrow('No billing data for tenant "acme"');
      });
    } finally {
      if (previous === undefined) delete process.env.BILLING_DATA_DIR;
      else process.env.BILLING_DATA_DIR = previous;
      rmSync(dir, { recursive: true, force: true });
    }

    // Assess
    expect(tenants).toEqual(['initech']);
    expect(knownTenants()).toEqual(['acme', 'globex', 'initech']);
  });
});
