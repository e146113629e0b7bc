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
};

/** Stops a `resume` may continue: the cause was outside the session (an outage), not the goal's own limits. */
export const RESUMABLE_STOPS: readonly StopReason[] = ['circuit_open'];
