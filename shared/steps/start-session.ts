/** The StartSession step: marks the session running for this execution (start, resume, continue) and returns its checkpoint. */
import * as z from 'zod';
import { getProfile } from '../agent/profiles';
import { RESUMABLE_STOPS, type StopReason } from '../agent/stop-reasons';
import type { SessionItem, SessionStore, ToolCallItem } from '../store/session-store';

export const startSessionInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  mode: z.enum(['start', 'resume', 'continue']),
  executionArn: z.string().min(1),
  /** The execution's whole input: a continue names the execution it takes over from. */
  executionInput: z.looseObject({ previousExecutionArn: z.string().min(1).optional() }).optional(),
});
export type StartSessionInput = z.infer<typeof startSessionInputSchema>;

/** Error kinds of calls that were refused before their tool ran: a resume runs them again. */
const NEVER_INVOKED: readonly string[] = ['circuit_open', 'limit', 'budget'];

/** The last turn's calls a resumable stop refused without invoking them (none for a failed session). */
export const callsToRerun = (
  session: SessionItem,
  toolCalls: ToolCallItem[],
): { turn: number; index: number }[] => {
  const resumableStop =
    session.status === 'paused' ||
    (session.status === 'stopped' && RESUMABLE_STOPS.includes(session.stopReason as StopReason));
  if (!resumableStop) return [];
  return toolCalls
    .filter(
      (c) => c.turn === session.turn && c.errorKind !== undefined && NEVER_INVOKED.includes(c.errorKind),
    )
    .map((c) => ({ turn: c.turn, index: c.index }));
};

export const startSession = async (store: SessionStore, input: StartSessionInput) => {
  const { tenantId, sessionId, mode, executionArn } = input;
  let clearCalls: { turn: number; index: number }[] = [];
  if (mode === 'resume') {
    const conversation = await store.loadConversation(tenantId, sessionId);
    clearCalls = callsToRerun(conversation.session, conversation.toolCalls);
  }
  const previousExecutionArn = input.executionInput?.previousExecutionArn;
  const session = await store.beginRun(tenantId, sessionId, mode, executionArn, {
    ...(clearCalls.length > 0 ? { clearCalls } : {}),
    ...(previousExecutionArn ? { previousExecutionArn } : {}),
  });
  getProfile(session.agent); // the profile must still exist before any model call is made
  return { tenantId: session.tenantId, sessionId: session.sessionId, turn: session.turn, mode };
};
