/** Finalize and RecordFailure: persist how a session ended and announce it on the bus. */
import { textOf } from './conversation';
import type { StopReason } from './decide';
import { type EventPublisher, GOAL_COMPLETED, GOAL_FAILED, GOAL_STOPPED } from './events';
import type { SessionItem, SessionStore } from './session-store';

const STOP_EXPLANATIONS: Record<Exclude<StopReason, 'completed'>, string> = {
  max_turns: 'the turn limit was reached',
  token_budget: 'the token budget was used up',
  usd_budget: 'the USD budget was used up',
  loop_detected: 'the agent kept calling the same tool without progress',
  schema_violations: 'the model kept sending tool parameters that break the schema',
};

export const summary = (session: SessionItem) => ({
  tenantId: session.tenantId,
  sessionId: session.sessionId,
  agent: session.agent,
  status: session.status,
  turns: session.turn,
  toolCalls: session.toolCalls,
  tokens: {
    input: session.tokensInput,
    output: session.tokensOutput,
    cacheRead: session.tokensCacheRead,
    cacheWrite: session.tokensCacheWrite,
  },
  costUsd: session.costUsd,
  models: session.models,
});

export const finalizeSession = async (
  deps: { store: SessionStore; events: EventPublisher },
  input: { tenantId: string; sessionId: string; reason: StopReason | null },
) => {
  const conversation = await deps.store.loadConversation(input.tenantId, input.sessionId);
  const lastAnswer = textOf(conversation.messages.filter((m) => m.role === 'assistant').at(-1));
  const reason: StopReason = input.reason ?? 'completed';
  const completed = reason === 'completed';
  const output = completed
    ? lastAnswer
    : `Stopped because ${STOP_EXPLANATIONS[reason]}.${lastAnswer ? ` Last answer: ${lastAnswer}` : ''}`;
  const session = await deps.store.finishSession({
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    status: completed ? 'completed' : 'stopped',
    output,
    stopReason: reason,
  });
  await deps.events.publish(completed ? GOAL_COMPLETED : GOAL_STOPPED, {
    ...summary(session),
    reason,
    output,
  });
  return { ...summary(session), reason };
};

/** Step Functions puts the task's error JSON in Cause; dig out a readable message. */
export const describeCause = (cause: string | undefined): string => {
  if (!cause) return 'no cause recorded';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
};

export const recordFailure = async (
  deps: { store: SessionStore; events: EventPublisher },
  input: { tenantId: string; sessionId: string; error: { Error?: string; Cause?: string } },
) => {
  const errorType = input.error.Error ?? 'Unknown';
  const message = describeCause(input.error.Cause);
  const session = await deps.store.failSession({
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    errorType,
    message,
  });
  const detail = {
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    error: { type: errorType, message },
    resumable: session !== undefined,
    checkpointTurn: session?.turn ?? null,
    ...(session ? { summary: summary(session) } : {}),
  };
  if (!session) {
    // The session already ended (completed or stopped) or does not exist: announcing a failure would contradict it.
    const current = await deps.store.getSession(input.tenantId, input.sessionId);
    return { ...detail, published: false, status: current?.status ?? null };
  }
  await deps.events.publish(GOAL_FAILED, detail);
  return { ...detail, published: true, status: session.status };
};
