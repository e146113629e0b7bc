/** The budget rule, written once: a session stops when its tokens or its cost reach the goal's limits. */
import type { SessionItem, SessionLimits } from '../store/session-store';
import type { StopReason } from './stop-reasons';

export type BudgetReason = Extract<StopReason, 'token_budget' | 'usd_budget'>;

type Spend = Pick<
  SessionItem,
  'tokensInput' | 'tokensOutput' | 'tokensCacheRead' | 'tokensCacheWrite' | 'costUsd'
>;

/** Every token billed so far, cache reads and writes included. */
export const tokensUsed = (session: Spend): number =>
  session.tokensInput + session.tokensOutput + session.tokensCacheRead + session.tokensCacheWrite;

/** The budget a session has used up, if any: tokens are checked before USD. Plan checks it before every model call. */
export const budgetExceeded = (
  session: Spend,
  limits: Pick<SessionLimits, 'tokenBudget' | 'usdBudget'>,
): BudgetReason | undefined => {
  if (tokensUsed(session) >= limits.tokenBudget) return 'token_budget';
  if (session.costUsd >= limits.usdBudget) return 'usd_budget';
  return undefined;
};

/**
 * How much of its budget a session has used, 0-1 or more: the larger of tokens used / token budget and cost /
 * USD budget (the micro-dollar `costMicros` where the session keeps it, else `costUsd`). Routing degrades near 1.
 */
export const budgetUsedFraction = (
  session: Spend & Pick<SessionItem, 'costMicros'>,
  limits: Pick<SessionLimits, 'tokenBudget' | 'usdBudget'>,
): number => {
  const usd = session.costMicros !== undefined ? session.costMicros / 1_000_000 : session.costUsd;
  return Math.max(tokensUsed(session) / limits.tokenBudget, usd / limits.usdBudget);
};
