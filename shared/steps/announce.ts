/** Publishes a session's lifecycle event at most once per run: a deterministic id, recorded on the session after PutEvents. */
import { type AgentEventType, type EventPublisher, lifecycleEventId } from '../contracts/lifecycle-events';
import type { SessionItem, SessionStore } from '../store/session-store';

export interface AnnounceDeps {
  store: SessionStore;
  events: EventPublisher;
}

/**
 * Publishes `detailType` with `detail` plus its `eventId`, unless the session (as the step's own write returned
 * it) already records that id. The id is recorded only after PutEvents succeeded, so a step whose PutEvents failed
 * publishes on its retry, with the same id; a replayed step finds the id and publishes nothing.
 */
export const announceOnce = async (
  deps: AnnounceDeps,
  session: SessionItem,
  detailType: AgentEventType,
  detail: Record<string, unknown>,
): Promise<{ eventId: string; published: boolean }> => {
  const eventId = lifecycleEventId(session.tenantId, session.sessionId, session.runs, detailType);
  if (session.publishedEvents?.includes(eventId)) return { eventId, published: false };
  await deps.events.publish(detailType, { eventId, ...detail });
  await deps.store.recordPublishedEvent(session.tenantId, session.sessionId, eventId);
  return { eventId, published: true };
};
