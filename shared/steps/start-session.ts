/** The StartSession step: marks the session running for this execution (start or resume) and returns its checkpoint. */
import * as z from 'zod';
import { getProfile } from '../agent/profiles';
import type { SessionStore } from '../store/session-store';

export const startSessionInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  mode: z.enum(['start', 'resume']),
  executionArn: z.string().min(1),
});
export type StartSessionInput = z.infer<typeof startSessionInputSchema>;

export const startSession = async (store: SessionStore, input: StartSessionInput) => {
  const session = await store.beginRun(input.tenantId, input.sessionId, input.mode, input.executionArn);
  getProfile(session.agent); // the profile must still exist before any model call is made
  return { tenantId: session.tenantId, sessionId: session.sessionId, turn: session.turn, mode: input.mode };
};
