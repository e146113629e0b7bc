/** Lifecycle events the agent publishes on its bus (detail-types are the contract consumers match on). */
import { createHash } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { RESUMABLE_STOPS, type StopReason, stopReasonSchema } from '../agent/stop-reasons';
import { EventPublishError } from '../runtime/errors';
import type { SessionItem } from '../store/session-store';

export const GOAL_REJECTED = 'Agent Goal Rejected';
export const GOAL_COMPLETED = 'Agent Goal Completed';
export const GOAL_STOPPED = 'Agent Goal Stopped';
export const GOAL_FAILED = 'Agent Goal Failed';
export const CIRCUIT_OPENED = 'Agent Circuit Opened';
export const CIRCUIT_HALF_OPENED = 'Agent Circuit Half-Opened';
export const CIRCUIT_CLOSED = 'Agent Circuit Closed';
/** 50, 80 or 100 % of a session's budget or a tenant's daily cap was reached: each sent once per scope. */
export const COST_THRESHOLD_CROSSED = 'Agent Cost Threshold Crossed';
/** A session stopped at its token or USD budget (besides its Agent Goal Stopped). */
export const BUDGET_EXCEEDED = 'Agent Budget Exceeded';
/** An operator (or the cost alert at a daily cap) asks to pause or resume a tenant. */
export const TENANT_PAUSE_REQUESTED = 'Agent Tenant Pause Requested';
export const TENANT_RESUME_REQUESTED = 'Agent Tenant Resume Requested';
/** A tenant was paused or resumed (its policy item changed). */
export const TENANT_PAUSED = 'Agent Tenant Paused';
export const TENANT_RESUMED = 'Agent Tenant Resumed';
/** A tool call waits for a person (its profile's tools.requiresApproval): the call's details and its expiry. */
export const APPROVAL_REQUESTED = 'Agent Action Approval Requested';
/** A person's decision on a waiting call (`sovereign-agent approve|deny`, or any tool of theirs on the bus). */
export const ACTION_APPROVED = 'Agent Action Approved';
export const ACTION_DENIED = 'Agent Action Denied';

export type AgentEventType =
  | typeof GOAL_REJECTED
  | typeof GOAL_COMPLETED
  | typeof GOAL_STOPPED
  | typeof GOAL_FAILED
  | typeof CIRCUIT_OPENED
  | typeof CIRCUIT_HALF_OPENED
  | typeof CIRCUIT_CLOSED
  | typeof COST_THRESHOLD_CROSSED
  | typeof BUDGET_EXCEEDED
  | typeof TENANT_PAUSE_REQUESTED
  | typeof TENANT_RESUME_REQUESTED
  | typeof TENANT_PAUSED
  | typeof TENANT_RESUMED
  | typeof APPROVAL_REQUESTED
  | typeof ACTION_APPROVED
  | typeof ACTION_DENIED;

/** Every detail-type the agent itself puts on its bus (what `sovereign-agent events` lists by default). */
export const AGENT_EVENT_TYPES: readonly AgentEventType[] = [
  GOAL_REJECTED,
  GOAL_COMPLETED,
  GOAL_STOPPED,
  GOAL_FAILED,
  CIRCUIT_OPENED,
  CIRCUIT_HALF_OPENED,
  CIRCUIT_CLOSED,
  COST_THRESHOLD_CROSSED,
  BUDGET_EXCEEDED,
  TENANT_PAUSE_REQUESTED,
  TENANT_RESUME_REQUESTED,
  TENANT_PAUSED,
  TENANT_RESUMED,
  APPROVAL_REQUESTED,
  ACTION_APPROVED,
  ACTION_DENIED,
];

/** The detail of Agent Cost Threshold Crossed: which ledger, which threshold, and its figures. */
export interface CostThresholdDetail {
  scope: 'session' | 'tenant_day';
  tenantId: string;
  sessionId?: string;
  /** UTC day of a tenant_day ledger (YYYY-MM-DD). */
  day?: string;
  percent: 50 | 80 | 100;
  spentMicros: number;
  budgetMicros: number;
  spentUsd: number;
  budgetUsd: number;
  eventId: string;
}

/** Why a session failed, as its summary shows it: the error type, its message and the step it happened in. */
export interface FailureSummary {
  type: string;
  message: string;
  /** The workflow state that failed (StartSession, Plan, RunTools, Finalize); null when it was not recorded. */
  step: string | null;
}

const stopReasonOf = (session: SessionItem): StopReason | null => {
  if (session.status !== 'completed' && session.status !== 'stopped' && session.status !== 'paused')
    return null;
  const parsed = stopReasonSchema.safeParse(session.stopReason);
  return parsed.success ? parsed.data : null;
};

/**
 * The session summary: `run --json`, `status --json`, `trace --json` and every end-of-goal event (Completed,
 * Stopped, and Failed under `summary`) show this one shape. `stopReason` is set for completed and stopped sessions,
 * `failure` for failed ones; `resumable` says whether a resume may continue it (failed, or a resumable stop).
 */
export const summary = (session: SessionItem) => {
  const stopReason = stopReasonOf(session);
  const failure: FailureSummary | null =
    session.status === 'failed' && session.error
      ? { type: session.error.type, message: session.error.message, step: session.error.step ?? null }
      : null;
  return {
    tenantId: session.tenantId,
    sessionId: session.sessionId,
    agent: session.agent,
    status: session.status,
    stopReason,
    turns: session.turn,
    toolCalls: session.toolCalls,
    failedToolCalls: session.failedToolCalls ?? 0,
    tokens: {
      input: session.tokensInput,
      output: session.tokensOutput,
      cacheRead: session.tokensCacheRead,
      cacheWrite: session.tokensCacheWrite,
    },
    costUsd: session.costUsd,
    /** CPTO in integer micro-dollars: model tokens plus the turns' and tool calls' infrastructure. */
    costMicros: session.costMicros ?? 0,
    models: session.models,
    /** Per model: calls, tokens of each kind and micro-dollars. */
    modelUsage: session.modelUsage ?? {},
    /** Model calls per provider. */
    providers: { bedrock: 0, sagemaker: 0, ...(session.providers ?? {}) },
    failure,
    resumable:
      session.status === 'failed' ||
      session.status === 'paused' ||
      (session.status === 'stopped' && stopReason !== null && RESUMABLE_STOPS.includes(stopReason)),
  };
};
export type SessionSummary = ReturnType<typeof summary>;

/**
 * The id a lifecycle event's detail carries as `eventId`: the same for every attempt to announce one run's end
 * (tenant, session, run, detail-type), so a consumer dedupes on it and the session records it once published.
 */
export const lifecycleEventId = (
  tenantId: string,
  sessionId: string,
  run: number,
  detailType: AgentEventType,
): string =>
  createHash('sha256')
    .update(JSON.stringify([tenantId, sessionId, run, detailType]))
    .digest('hex');

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
