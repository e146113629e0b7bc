/** The StartSession step: marks the session running for this execution (start or resume) and returns its checkpoint. */
import { getProfile } from './agents';
import type { SessionStore } from './session-store';

export interface StartSessionInput {
  tenantId: string;
  sessionId: string;
  mode: 'start' | 'resume';
  executionArn: string;
}

export const startSession = async (store: SessionStore, input: StartSessionInput) => {
  const session = await store.beginRun(input.tenantId, input.sessionId, input.mode, input.executionArn);
  getProfile(session.agent); // the profile must still exist before any model call is made
  return { tenantId: session.tenantId, sessionId: session.sessionId, turn: session.turn, mode: input.mode };
};
