/** `sovereign-agent resume`: the "Agent Goal Resume Requested" event for a session, put and watched as `run` does. */
import { RESUME_REQUESTED } from '../../shared/contracts/goal-events';
import { findSession } from './inspect';
import { type LocalClients, type RunGoalOptions, type RunSummary, runGoal } from './run-goal';

/** The source the CLI's resume events carry (a caller's own source, as the sample events have). */
export const CLI_SOURCE = 'sovereign-agent.cli';

/** Raised limits a resume carries (resume --usd-budget / --token-budget). */
export interface ResumeRaise {
  usdBudget?: number;
  tokenBudget?: number;
}

export const resumeEvent = (tenantId: string, sessionId: string, raise: ResumeRaise = {}) => ({
  source: CLI_SOURCE,
  'detail-type': RESUME_REQUESTED,
  detail: { tenantId, sessionId, ...raise },
});

/**
 * Puts the resume request for the session (its tenant found when not given) and waits for the resumed run to end;
 * undefined when there is no such session. Intake decides whether it may resume: a refusal comes back as
 * `rejected` with intake's reason.
 */
export const resumeSession = async (
  clients: LocalClients,
  options: Omit<RunGoalOptions, 'event'> & { sessionId: string; tenantId?: string; raise?: ResumeRaise },
): Promise<RunSummary | undefined> => {
  const { sessionId, tenantId, raise, ...run } = options;
  const session = await findSession(clients, sessionId, tenantId);
  if (!session) return undefined;
  return runGoal({ ...run, event: resumeEvent(session.tenantId, session.sessionId, raise) });
};
