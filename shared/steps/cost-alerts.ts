/** Cost alerts: Agent Cost Threshold Crossed at 50, 80 and 100 % of a session's budget and of a tenant's daily cap, once each. */
import { createHash } from 'node:crypto';
import { microsToUsd, usdToMicros } from '../agent/pricing/micros';
import { type CostThreshold, thresholdMicros, thresholdsToAlert } from '../agent/reservation';
import {
  COST_THRESHOLD_CROSSED,
  type CostThresholdDetail,
  type EventPublisher,
} from '../contracts/lifecycle-events';
import { type AlertLedger, type BudgetLedger, utcDay } from '../store/budget-ledger';
import type { SessionItem } from '../store/session-store';

export interface CostAlertDeps {
  ledger: BudgetLedger;
  events: EventPublisher;
  now?: () => Date;
}

/** The id an alert carries: the same for every attempt to send one threshold of one ledger (and budget). */
export const costAlertId = (ledger: AlertLedger, percent: CostThreshold): string =>
  createHash('sha256')
    .update(
      JSON.stringify(
        ledger.scope === 'session'
          ? [ledger.scope, ledger.tenantId, ledger.sessionId, ledger.budgetMicros, percent]
          : [ledger.scope, ledger.tenantId, ledger.day, percent],
      ),
    )
    .digest('hex');

/**
 * Sends each due threshold's alert once: the ledger's conditional claim picks the one sender among steps that
 * cross together; a claim whose PutEvents fails is given back, so the step's retry sends it.
 */
const sendDue = async (
  deps: CostAlertDeps,
  ledger: AlertLedger,
  figures: { spentMicros: number; budgetMicros: number; sessionId?: string; day?: string },
  due: CostThreshold[],
  exhausted: boolean,
): Promise<CostThreshold[]> => {
  const sent: CostThreshold[] = [];
  for (const percent of due) {
    const reached = figures.spentMicros >= thresholdMicros(percent, figures.budgetMicros);
    const byExhaustion = exhausted && percent === 100 && !reached;
    const threshold = thresholdMicros(percent, figures.budgetMicros);
    if (!(await deps.ledger.claimAlert(ledger, percent, threshold, byExhaustion))) continue;
    const detail: CostThresholdDetail = {
      scope: ledger.scope,
      tenantId: ledger.tenantId,
      ...(figures.sessionId ? { sessionId: figures.sessionId } : {}),
      ...(figures.day ? { day: figures.day } : {}),
      percent,
      spentMicros: figures.spentMicros,
      budgetMicros: figures.budgetMicros,
      spentUsd: microsToUsd(figures.spentMicros),
      budgetUsd: microsToUsd(figures.budgetMicros),
      eventId: costAlertId(ledger, percent),
    };
    try {
      await deps.events.publish(COST_THRESHOLD_CROSSED, { ...detail });
    } catch (error) {
      await deps.ledger.unclaimAlert(ledger, percent);
      throw error;
    }
    sent.push(percent);
  }
  return sent;
};

const sessionAlerted = (session: SessionItem, budgetMicros: number): CostThreshold[] =>
  (session.costAlerts ?? [])
    .filter((tag) => tag.endsWith(`@${budgetMicros}`))
    .map((tag) => Number(tag.split('@')[0]) as CostThreshold);

/**
 * The session's due alerts after a spend of `spentMicros` (`exhausted`: its budget could not fund the next call,
 * which counts as 100 %). No request unless a threshold is due and not yet recorded on the session as loaded.
 */
export const alertSessionCost = async (
  deps: CostAlertDeps,
  session: SessionItem,
  spentMicros: number,
  exhausted = false,
): Promise<CostThreshold[]> => {
  const budgetMicros = usdToMicros(session.limits.usdBudget);
  const due = thresholdsToAlert(spentMicros, budgetMicros, sessionAlerted(session, budgetMicros), exhausted);
  if (due.length === 0) return [];
  const ledger: AlertLedger = {
    scope: 'session',
    tenantId: session.tenantId,
    sessionId: session.sessionId,
    budgetMicros,
  };
  return sendDue(deps, ledger, { spentMicros, budgetMicros, sessionId: session.sessionId }, due, exhausted);
};

/**
 * The tenant day's due alerts, for a session under a daily cap: one read of today's ledger (consistent), then the
 * claims of thresholds its spend reached (or 100 % when a reservation found it `exhausted`).
 */
export const alertTenantDay = async (
  deps: CostAlertDeps,
  session: SessionItem,
  exhausted = false,
): Promise<CostThreshold[]> => {
  if (session.limits.tenantDailyCapUsd === undefined) return [];
  const day = utcDay((deps.now ?? (() => new Date()))());
  const item = await deps.ledger.getTenantDay(session.tenantId, day);
  if (!item) return [];
  const budgetMicros = item.capMicros ?? usdToMicros(session.limits.tenantDailyCapUsd);
  const alerted = (item.alertedPercents ?? []) as CostThreshold[];
  const due = thresholdsToAlert(item.spentMicros, budgetMicros, alerted, exhausted);
  if (due.length === 0) return [];
  const ledger: AlertLedger = { scope: 'tenant_day', tenantId: session.tenantId, day };
  return sendDue(deps, ledger, { spentMicros: item.spentMicros, budgetMicros, day }, due, exhausted);
};
