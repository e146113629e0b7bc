/** get_contract_terms: the tenant's contract plus renewal dates, commitment utilization and minimum-spend outlook. */
import { monthTotalUsd } from './audit';
import {
  addDays,
  daysBetween,
  formatRate,
  formatUsd,
  latestCompleteMonth,
  monthOf,
  roundPercent,
  roundUsd,
  type TenantDataset,
} from './dataset';

type Contract = TenantDataset['contract'];
type Commitment = Contract['commitments'][number];

export interface CommitmentUtilization {
  month: string;
  committedUsd: number;
  usedUsd: number;
  unusedUsd: number;
  utilizationPercent: number;
}

export interface ContractTerms {
  tenantId: string;
  asOf: string;
  agreement: string;
  provider: string;
  startDate: string;
  renewalDate: string;
  autoRenew: boolean;
  noticePeriodDays: number;
  daysToRenewal: number;
  noticeDeadline: string;
  daysToNoticeDeadline: number;
  noticeWindowOpen: boolean;
  minimumAnnualSpendUsd: number | null;
  discounts: Contract['discounts'];
  supportPlan: string;
  commitments: (Commitment & { daysToEnd: number; utilization: CommitmentUtilization })[];
  spend: {
    month: string;
    monthTotalUsd: number;
    annualizedUsd: number;
    minimumAnnualSpendUsd: number | null;
    projectedShortfallUsd: number;
  };
  terminationTerms: string;
  summary: string;
}

/** A commitment's fee against what covered usage drew from it, in one month. */
export function commitmentUtilization(dataset: TenantDataset, commitmentId: string, month: string) {
  let committed = 0;
  let used = 0;
  for (const line of dataset.lineItems) {
    if (line.commitmentId !== commitmentId || monthOf(line.date) !== month) continue;
    if (line.kind === 'commitment_fee') committed += line.cost;
    if (line.kind === 'covered_usage') used += line.cost;
  }
  // Usage beyond the commitment is billed on demand, so at most the whole fee is used.
  const usedOfCommitment = Math.min(used, committed);
  return {
    month,
    committedUsd: roundUsd(committed),
    usedUsd: roundUsd(usedOfCommitment),
    unusedUsd: roundUsd(committed - usedOfCommitment),
    utilizationPercent: committed > 0 ? roundPercent((usedOfCommitment / committed) * 100) : 0,
  } satisfies CommitmentUtilization;
}

export function getContractTerms(dataset: TenantDataset): ContractTerms {
  const { contract, asOf } = dataset;
  const month = latestCompleteMonth(dataset);
  const noticeDeadline = addDays(contract.renewalDate, -contract.noticePeriodDays);
  const daysToRenewal = daysBetween(asOf, contract.renewalDate);
  const daysToNoticeDeadline = daysBetween(asOf, noticeDeadline);
  const commitments = contract.commitments.map((commitment) => ({
    ...commitment,
    daysToEnd: daysBetween(asOf, commitment.endDate),
    utilization: commitmentUtilization(dataset, commitment.id, month),
  }));
  const monthTotal = monthTotalUsd(dataset, month);
  const annualized = roundUsd(monthTotal * 12);
  const minimum = contract.minimumAnnualSpendUsd;
  const shortfall = minimum === null ? 0 : roundUsd(Math.max(0, minimum - annualized));

  const parts = [
    contract.autoRenew
      ? `${contract.agreement} renews automatically on ${contract.renewalDate} (in ${daysToRenewal} days).`
      : `${contract.agreement} ends on ${contract.renewalDate} (in ${daysToRenewal} days) and does not auto-renew.`,
    daysToNoticeDeadline >= 0
      ? `The ${contract.noticePeriodDays}-day notice deadline is ${noticeDeadline} (in ${daysToNoticeDeadline} days).`
      : `The ${contract.noticePeriodDays}-day notice deadline passed on ${noticeDeadline} (${-daysToNoticeDeadline} days ago).`,
  ];
  for (const commitment of commitments) {
    const u = commitment.utilization;
    parts.push(
      `${commitment.type} ${commitment.id} (${formatRate(commitment.hourlyCommitmentUsd)}/hour) was ${u.utilizationPercent}% used in ${month}, ${formatUsd(u.unusedUsd)} unused.`,
    );
  }
  parts.push(
    minimum === null
      ? `No minimum spend; ${month} spend annualizes to ${formatUsd(annualized)}.`
      : shortfall > 0
        ? `Minimum annual spend ${formatUsd(minimum)} vs ${formatUsd(annualized)} annualized from ${month}: projected shortfall ${formatUsd(shortfall)}.`
        : `Minimum annual spend ${formatUsd(minimum)} is covered: ${month} spend annualizes to ${formatUsd(annualized)}.`,
  );

  return {
    tenantId: dataset.tenantId,
    asOf,
    agreement: contract.agreement,
    provider: contract.provider,
    startDate: contract.startDate,
    renewalDate: contract.renewalDate,
    autoRenew: contract.autoRenew,
    noticePeriodDays: contract.noticePeriodDays,
    daysToRenewal,
    noticeDeadline,
    daysToNoticeDeadline,
    noticeWindowOpen: daysToNoticeDeadline >= 0,
    minimumAnnualSpendUsd: minimum,
    discounts: contract.discounts,
    supportPlan: contract.supportPlan,
    commitments,
    spend: {
      month,
      monthTotalUsd: monthTotal,
      annualizedUsd: annualized,
      minimumAnnualSpendUsd: minimum,
      projectedShortfallUsd: shortfall,
    },
    terminationTerms: contract.terminationTerms,
    summary: parts.join(' '),
  };
}
