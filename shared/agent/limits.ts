/**
 * The stop rules: how many repeated tool calls or rejected turns a goal may make, and the one check Plan runs before
 * every model call (loop, schema, budget, turn limit).
 */
import type { SessionItem, ToolCallItem } from '../store/session-store';
import { budgetExceeded } from './budget';
import type { StopReason } from './stop-reasons';

/** Refusals made before any invocation: they bring no state, so they neither extend nor break a streak. */
const REFUSED_KINDS: ReadonlySet<string> = new Set([
  'limit',
  'unknown_tool',
  'schema',
  'circuit_open',
  'budget',
  'cross_tenant',
  'not_allowed',
  'denied',
  'expired',
]);

/**
 * Length of the trailing run of executed calls to the same tool that brought no new state (same result as the
 * one before). Only calls that ran count: the per-turn cap's refusals, unknown tools, schema refusals and
 * open-breaker refusals are skipped, so a turn of too many calls is answered "too many", not stopped as a loop.
 * Loop detection stops the goal when it exceeds the profile's threshold (5 by default).
 */
export const repeatStreak = (calls: ToolCallItem[]): number => {
  const ordered = calls
    .filter((c) => c.errorKind === undefined || !REFUSED_KINDS.has(c.errorKind))
    .sort((a, b) => a.turn - b.turn || a.index - b.index);
  let streak = 0;
  let previous: ToolCallItem | undefined;
  for (const call of ordered) {
    const same =
      previous !== undefined && previous.name === call.name && previous.resultHash === call.resultHash;
    streak = same ? streak + 1 : 1;
    previous = call;
  }
  return streak;
};

/** Trailing turns in which every tool call was rejected by its schema. */
export const schemaViolationTurns = (calls: ToolCallItem[], lastTurn: number): number => {
  let count = 0;
  for (let turn = lastTurn; turn >= 1; turn -= 1) {
    const ofTurn = calls.filter((c) => c.turn === turn);
    if (ofTurn.length === 0 || !ofTurn.every((c) => c.errorKind === 'schema')) break;
    count += 1;
  }
  return count;
};

/**
 * `circuit_open` when every tool call of the last turn was refused by an open breaker with no fallback: another
 * turn would only ask for tools that are down. The stop is resumable once they are back.
 */
export const circuitOpenStop = (calls: ToolCallItem[], lastTurn: number): 'circuit_open' | undefined => {
  const ofTurn = calls.filter((c) => c.turn === lastTurn);
  return ofTurn.length > 0 && ofTurn.every((c) => c.errorKind === 'circuit_open')
    ? 'circuit_open'
    : undefined;
};

/** The loop or schema limit a session has hit after `turn`, if any (loop first). */
export const limitReached = (
  calls: ToolCallItem[],
  turn: number,
  limits: { loopThreshold: number; maxSchemaRetries: number },
): 'loop_detected' | 'schema_violations' | undefined => {
  if (repeatStreak(calls) > limits.loopThreshold) return 'loop_detected';
  if (schemaViolationTurns(calls, turn) > limits.maxSchemaRetries) return 'schema_violations';
  return undefined;
};

/**
 * Why the goal must stop before its next turn, if it must: tools refused by open breakers first, then the loop and
 * schema limits over the tool calls of the turns so far, then the token and USD budgets, then the turn limit. Plan checks this before every model call, so a
 * turn needs no separate decision step.
 */
export const stopBeforeNextTurn = (
  session: SessionItem,
  calls: ToolCallItem[],
  limits: { loopThreshold: number; maxSchemaRetries: number },
): Exclude<StopReason, 'completed'> | undefined =>
  circuitOpenStop(calls, session.turn) ??
  limitReached(calls, session.turn, limits) ??
  budgetExceeded(session, session.limits) ??
  (session.turn >= session.limits.maxTurns ? 'max_turns' : undefined);
