/** Why a goal ends without failing: the one StopReason enum and the sentence each reason puts in the output. */
import * as z from 'zod';

export const stopReasonSchema = z.enum([
  'completed',
  'max_turns',
  'token_budget',
  'usd_budget',
  'loop_detected',
  'schema_violations',
]);
export type StopReason = z.infer<typeof stopReasonSchema>;

/** How a stopped (not completed) goal explains itself in its output: "Stopped because ...". */
export const STOP_EXPLANATIONS: Readonly<Record<Exclude<StopReason, 'completed'>, string>> = {
  max_turns: 'the turn limit was reached',
  token_budget: 'the token budget was used up',
  usd_budget: 'the USD budget was used up',
  loop_detected: 'the agent kept calling the same tool without progress',
  schema_violations: 'the model kept sending tool parameters that break the schema',
};
