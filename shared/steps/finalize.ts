/** The Finalize step: persists how a session ended (completed or stopped) and announces it on the bus once. */
import * as z from 'zod';
import { textOf } from '../agent/conversation';
import { BUDGET_STOPS, STOP_EXPLANATIONS, type StopReason, stopReasonSchema } from '../agent/stop-reasons';
import { BUDGET_EXCEEDED, GOAL_COMPLETED, GOAL_STOPPED, summary } from '../contracts/lifecycle-events';
import type { EndedSession, SessionItem } from '../store/session-store';
import { type AnnounceDeps, announceOnce } from './announce';

export const finalizeInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  /** The session's last committed turn: its assistant message is the output (none at turn 0). */
  turn: z.number().int().min(0),
  reason: stopReasonSchema,
});
export type FinalizeInput = z.infer<typeof finalizeInputSchema>;

/** The output a session ends with: the last answer, or for a stop the reason's sentence before it. */
export const outputFor = (reason: StopReason, lastAnswer: string): string =>
  reason === 'completed'
    ? lastAnswer
    : `Stopped because ${STOP_EXPLANATIONS[reason]}.${lastAnswer ? ` Last answer: ${lastAnswer}` : ''}`;

/**
 * Ends the session. A model that answered after every tool call of the session failed has not completed the
 * goal: the completing update's condition refuses it on the session's own counters, and the session stops with
 * tools_unavailable instead (a replayed Finalize takes the same path and finds that stop already recorded).
 */
const endSession = async (
  deps: AnnounceDeps,
  input: FinalizeInput,
  lastAnswer: string,
): Promise<EndedSession> => {
  const ids = { tenantId: input.tenantId, sessionId: input.sessionId };
  // A paused tenant's session is paused, not stopped: it resumes once the tenant does.
  const stop = (reason: Exclude<StopReason, 'completed'>) =>
    deps.store.finishSession({
      ...ids,
      status: reason === 'tenant_paused' ? 'paused' : 'stopped',
      output: outputFor(reason, lastAnswer),
      stopReason: reason,
    });
  if (input.reason !== 'completed') return stop(input.reason);
  const completed = await deps.store.completeSession({ ...ids, output: outputFor('completed', lastAnswer) });
  return 'ended' in completed ? completed.ended : stop('tools_unavailable');
};

export const finalizeSession = async (deps: AnnounceDeps, input: FinalizeInput) => {
  // Only the last answer is read (one GetItem), not the whole conversation.
  const last =
    input.turn > 0 ? await deps.store.getMessage(input.tenantId, input.sessionId, input.turn) : undefined;
  const lastAnswer = textOf(last?.role === 'assistant' ? last : undefined);
  const session = await endSession(deps, input, lastAnswer);
  // A retried Finalize finds the session already ended the same way: it publishes only if the event's id is not
  // recorded yet (a PutEvents that failed after the session committed must not lose the event).
  const { eventId, published } = await publishEnded(deps, session);
  await announceBudgetExceeded(deps, session);
  return { ...summary(session), reason: session.stopReason, eventId, published };
};

/**
 * Agent Budget Exceeded, once per run, for a session stopped by its budget or its tenant's daily cap: the summary,
 * the reason, and the budget with what is left of it.
 */
export const announceBudgetExceeded = async (deps: AnnounceDeps, session: EndedSession) => {
  if (!BUDGET_STOPS.includes(session.stopReason as StopReason)) return undefined;
  return announceOnce(deps, session, BUDGET_EXCEEDED, {
    ...summary(session),
    reason: session.stopReason,
    budget: {
      usdBudget: session.limits.usdBudget,
      tokenBudget: session.limits.tokenBudget,
      ...(session.limits.tenantDailyCapUsd !== undefined
        ? { tenantDailyCapUsd: session.limits.tenantDailyCapUsd }
        : {}),
      remainingMicros: session.remainingMicros ?? null,
      remainingTokens: session.remainingTokens ?? null,
    },
  });
};

/**
 * Announces how an ended session ended: Agent Goal Completed or Agent Goal Stopped with its summary, reason and
 * output as stored, once. Finalize sends it; RecordFailure sends it for a session Finalize ended but did not
 * announce.
 */
export const publishEnded = async (deps: AnnounceDeps, session: EndedSession) => {
  const detailType = session.status === 'completed' ? GOAL_COMPLETED : GOAL_STOPPED;
  const announced = await announceOnce(deps, session, detailType, {
    ...summary(session),
    reason: session.stopReason,
    output: session.output,
  });
  return { ...announced, detailType };
};

export const hasEnded = (session: SessionItem | undefined): session is EndedSession =>
  session?.status === 'completed' || session?.status === 'stopped' || session?.status === 'paused';
