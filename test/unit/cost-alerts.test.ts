/** Cost alerts: which thresholds a spend sends, once each (the ledger's claim decides), and a failed send given back. */
import type { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { alertSessionCost, costAlertId } from '../../shared/steps/cost-alerts';
import type { BudgetLedger } from '../../shared/store/budget-ledger';
import { sessionItem } from '../helpers/fixtures';

const fakes = (claims: boolean[] = []) => {
  const claimed: number[] = [];
  const unclaimed: number[] = [];
  const published: Record<string, unknown>[] = [];
  const ledger = {
    claimAlert: async (_l: unknown, percent: number) => {
      claimed.push(percent);
      return claims.shift() ?? true;
    },
    unclaimAlert: async (_l: unknown, percent: number) => {
      unclaimed.push(percent);
    },
  } as unknown as BudgetLedger;
  let fail = false;
  const events = {
    publish: async (_type: string, detail: Record<string, unknown>) => {
      if (fail) throw new Error('PutEvents failed');
      published.push(detail);
      return 'id';
    },
  } as unknown as EventPublisher;
  return { ledger, events, claimed, unclaimed, published, failNext: () => (fail = true) };
};

// $1 budget: 1,000,000 micro-dollars
const session = (costAlerts: string[] = []) => sessionItem({ costAlerts });

describe('alertSessionCost', () => {
  it('sends each threshold the spend reached, with its figures and a deterministic id', async () => {
    const f = fakes();
    const sent = await alertSessionCost(f, session(), 820_000);
    expect(sent).toEqual([50, 80]);
    expect(f.published).toEqual([
      expect.objectContaining({
        scope: 'session',
        percent: 50,
        spentMicros: 820_000,
        budgetMicros: 1_000_000,
      }),
      expect.objectContaining({ percent: 80, spentUsd: 0.82, budgetUsd: 1 }),
    ]);
    const ledger = {
      scope: 'session' as const,
      tenantId: 'acme',
      sessionId: session().sessionId,
      budgetMicros: 1_000_000,
    };
    expect(f.published[0]?.eventId).toBe(costAlertId(ledger, 50));
  });

  it('asks nothing when every due threshold is already recorded for this budget', async () => {
    const f = fakes();
    expect(await alertSessionCost(f, session(['50@1000000', '80@1000000']), 900_000)).toEqual([]);
    expect(f.claimed).toEqual([]);
    // A raised budget alerts afresh: the record is per budget.
    expect(await alertSessionCost(f, sessionItem({ costAlerts: ['50@500000'] }), 600_000)).toEqual([50]);
  });

  it('sends nothing for a threshold another step claimed first', async () => {
    const f = fakes([false]);
    expect(await alertSessionCost(f, session(), 600_000)).toEqual([]);
    expect(f.published).toEqual([]);
  });

  it('gives the claim back when PutEvents fails, so the retry sends it', async () => {
    const f = fakes();
    f.failNext();
    await expect(alertSessionCost(f, session(), 600_000)).rejects.toThrow('PutEvents failed');
    expect(f.unclaimed).toEqual([50]);
  });

  it('sends 100 % when the budget cannot fund the next call', async () => {
    const f = fakes();
    expect(await alertSessionCost(f, session(['50@1000000', '80@1000000']), 850_000, true)).toEqual([100]);
    expect(f.published[0]).toMatchObject({ percent: 100, spentMicros: 850_000 });
  });
});
