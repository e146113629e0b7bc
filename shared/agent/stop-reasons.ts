/** Why a goal ends without failing: the one StopReason enum and the sentence each reason puts in the output. */
import * as z from 'zod';

export const stopReasonSchema = z.enum([
  'completed',
  'max_turns',
  'token_budget',
  'usd_budget',
  'loop_detected',
  'schema_violations',
  /** Every tool call of the last turn was refused by an open circuit breaker with no fallback: resumable. */
  'circuit_open',
  /** The model answered, but every tool call the session made failed: not a plain success. */
  'tools_unavailable',
  /** The session's tenant was paused (by an operator or at its daily cap): status `paused`, resumable. */
  'tenant_paused',
  /** The tenant's daily spend ledger could not fund the next call: resumable (the next day, or a raised cap). */
  'tenant_daily_cap',
  /** The stage's Bedrock guardrail blocked the input or the answer: the turn holds the guardrail's message. */
  'guardrail_intervened',
]);
export type StopReason = z.infer<typeof stopReasonSchema>;

/** How a stopped (not completed) goal explains itself in its output: "Stopped because ...". */
export const STOP_EXPLANATIONS: Readonly<Record<Exclude<StopReason, 'completed'>, string>> = {
  max_turns: 'the turn limit was reached',
  token_budget: 'the token budget was used up',
  usd_budget: 'the USD budget was used up',
  loop_detected: 'the agent kept calling the same tool without progress',
  schema_violations: 'the model kept sending tool parameters that break the schema',
  circuit_open: 'the tools it needed are unavailable (their circuit breakers are open)',
  tools_unavailable: 'every tool call failed, so the answer rests on no tool results',
  tenant_paused: 'its tenant was paused',
  tenant_daily_cap: "its tenant's daily spend cap was reached",
  guardrail_intervened: "the stage's guardrail blocked the request or the answer",
};

/**
 * Stops a `resume` may continue: an outage, the tenant's pause or daily cap, or the session's own budget (which
 * only a resume that raises it may continue: RAISE_TO_RESUME).
 */
export const RESUMABLE_STOPS: readonly StopReason[] = [
  'circuit_open',
  'usd_budget',
  'token_budget',
  'tenant_daily_cap',
  'tenant_paused',
];

/** Budget stops and the limit a resume must raise to continue them. */
export const RAISE_TO_RESUME: Readonly<Partial<Record<StopReason, 'usdBudget' | 'tokenBudget'>>> = {
  usd_budget: 'usdBudget',
  token_budget: 'tokenBudget',
};

/** Stops for a budget (the session's or its tenant's day): Finalize announces Agent Budget Exceeded for them. */
export const BUDGET_STOPS: readonly StopReason[] = ['usd_budget', 'token_budget', 'tenant_daily_cap'];
