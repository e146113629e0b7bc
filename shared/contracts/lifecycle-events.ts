/** Lifecycle events the agent publishes on its bus (detail-types are the contract consumers match on). */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { EventPublishError } from '../runtime/errors';
import type { SessionItem } from '../store/session-store';

export const GOAL_REJECTED = 'Agent Goal Rejected';
export const GOAL_COMPLETED = 'Agent Goal Completed';
export const GOAL_STOPPED = 'Agent Goal Stopped';
export const GOAL_FAILED = 'Agent Goal Failed';
export const CIRCUIT_OPENED = 'Agent Circuit Opened';
export const CIRCUIT_HALF_OPENED = 'Agent Circuit Half-Opened';
export const CIRCUIT_CLOSED = 'Agent Circuit Closed';

export type AgentEventType =
  | typeof GOAL_REJECTED
  | typeof GOAL_COMPLETED
  | typeof GOAL_STOPPED
  | typeof GOAL_FAILED
  | typeof CIRCUIT_OPENED
  | typeof CIRCUIT_HALF_OPENED
  | typeof CIRCUIT_CLOSED;

/** Every detail-type the agent itself puts on its bus (what `sovereign-agent events` lists by default). */
export const AGENT_EVENT_TYPES: readonly AgentEventType[] = [
  GOAL_REJECTED,
  GOAL_COMPLETED,
  GOAL_STOPPED,
  GOAL_FAILED,
  CIRCUIT_OPENED,
  CIRCUIT_HALF_OPENED,
  CIRCUIT_CLOSED,
];

/** The session summary every end-of-goal event carries (Completed, Stopped, and Failed under `summary`). */
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

export class EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
    private readonly source: string,
  ) {}

  async publish(
    detailType: AgentEventType,
    detail: Record<string, unknown>,
    resources: string[] = [],
  ): Promise<string> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: this.source,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
            Resources: resources,
          },
        ],
      }),
    );
    const entry = out.Entries?.[0];
    if ((out.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
      throw new EventPublishError(
        `Publishing "${detailType}" to ${this.busName} failed: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }
    return entry.EventId;
  }
}
