/**
 * Alerts that reach a person and act: each cost event and each approval request goes to the alert topic; a daily cap
 * reached, or a request, pauses or resumes a tenant.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Alert, AlertSink } from '../contracts/alerts';
import {
  APPROVAL_REQUESTED,
  BUDGET_EXCEEDED,
  COST_THRESHOLD_CROSSED,
  type EventPublisher,
  TENANT_PAUSE_REQUESTED,
  TENANT_PAUSED,
  TENANT_RESUME_REQUESTED,
  TENANT_RESUMED,
} from '../contracts/lifecycle-events';
import { StepInputError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';
import { type PauseResult, TenantNotFoundError } from '../store/tenant-store';

/** What the cost alert changes on a tenant (TenantStore). */
export interface TenantSwitch {
  pause(tenantId: string, reason: string, at?: string): Promise<PauseResult>;
  resume(tenantId: string): Promise<PauseResult>;
}

export interface CostAlertDeps {
  tenants: TenantSwitch;
  alerts: AlertSink;
  events: EventPublisher;
}

const tenantId = z.string().min(1);

const thresholdSchema = z.looseObject({
  scope: z.enum(['session', 'tenant_day']),
  tenantId,
  sessionId: z.string().optional(),
  day: z.string().optional(),
  percent: z.union([z.literal(50), z.literal(80), z.literal(100)]),
  spentUsd: z.number(),
  budgetUsd: z.number(),
  eventId: z.string().optional(),
});
export type ThresholdDetail = z.infer<typeof thresholdSchema>;

const budgetExceededSchema = z.looseObject({ tenantId, sessionId: z.string().optional() });
const pauseRequestSchema = z.looseObject({ tenantId, reason: z.string().min(1).optional() });
const resumeRequestSchema = z.looseObject({ tenantId });
// Agent Action Approval Requested (contracts/approval-events.ts ApprovalRequestedDetail): what a person decides on.
const approvalRequestSchema = z.looseObject({
  tenantId,
  sessionId: z.string().min(1),
  callId: z.string().min(1),
  tool: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  expiresAt: z.string(),
  eventId: z.string().optional(),
});

const envelopeSchema = z.looseObject({
  id: z.string().min(1),
  'detail-type': z.enum([
    COST_THRESHOLD_CROSSED,
    BUDGET_EXCEEDED,
    TENANT_PAUSE_REQUESTED,
    TENANT_RESUME_REQUESTED,
    APPROVAL_REQUESTED,
  ]),
  time: z.string().optional(),
  detail: z.unknown(),
});

/** One delivered event, validated: what it is, and its detail. */
export type CostEvent =
  | { type: typeof COST_THRESHOLD_CROSSED; id: string; time: string; detail: ThresholdDetail }
  | { type: typeof BUDGET_EXCEEDED; id: string; time: string; detail: z.infer<typeof budgetExceededSchema> }
  | {
      type: typeof TENANT_PAUSE_REQUESTED;
      id: string;
      time: string;
      detail: z.infer<typeof pauseRequestSchema>;
    }
  | {
      type: typeof TENANT_RESUME_REQUESTED;
      id: string;
      time: string;
      detail: z.infer<typeof resumeRequestSchema>;
    }
  | {
      type: typeof APPROVAL_REQUESTED;
      id: string;
      time: string;
      detail: z.infer<typeof approvalRequestSchema>;
    };

const parse = <S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> => {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error);
  throw new StepInputError(`Invalid ${what}: ${issues.join('; ')}`, issues);
};

const DETAIL_SCHEMAS = {
  [COST_THRESHOLD_CROSSED]: thresholdSchema,
  [BUDGET_EXCEEDED]: budgetExceededSchema,
  [TENANT_PAUSE_REQUESTED]: pauseRequestSchema,
  [TENANT_RESUME_REQUESTED]: resumeRequestSchema,
  [APPROVAL_REQUESTED]: approvalRequestSchema,
} as const;

export const parseCostEvent = (raw: unknown): CostEvent => {
  const envelope = parse(envelopeSchema, raw, 'cost event envelope');
  const type = envelope['detail-type'];
  const detail = parse(DETAIL_SCHEMAS[type], envelope.detail, `"${type}" detail`);
  // The envelope's time keys a pause, so a redelivery finds the pause it made; EventBridge always sets it.
  return { type, id: envelope.id, time: envelope.time ?? new Date().toISOString(), detail } as CostEvent;
};

const usd = (value: number): string => `$${value.toFixed(value < 1 ? 4 : 2)}`;

/** The pause a cost event asks for, or undefined: a tenant_day ledger at 100 %, or an operator's request. */
export const pauseReasonOf = (event: CostEvent): string | undefined => {
  if (event.type === TENANT_PAUSE_REQUESTED) return event.detail.reason ?? 'paused by an operator';
  if (event.type !== COST_THRESHOLD_CROSSED) return undefined;
  const d = event.detail;
  return d.scope === 'tenant_day' && d.percent === 100
    ? `daily cap of ${usd(d.budgetUsd)} reached on ${d.day ?? event.time.slice(0, 10)}`
    : undefined;
};

/** The alert asking a person to approve or deny one tool call, with the call and how to answer. */
const approvalAlertOf = (event: Extract<CostEvent, { type: typeof APPROVAL_REQUESTED }>): Alert => {
  const d = event.detail;
  const decision = { tenantId: d.tenantId, sessionId: d.sessionId, callId: d.callId, decidedBy: '<you>' };
  return {
    alertId: d.eventId ?? event.id,
    eventType: event.type,
    tenantId: d.tenantId,
    subject: `[sovereign-agent] ${d.tenantId}: approve ${d.tool}?`,
    message: [
      `Session ${d.sessionId} of tenant ${d.tenantId} waits for a decision on tool call ${d.callId}:`,
      `${d.tool} ${JSON.stringify(d.input)}`,
      `Answer before ${d.expiresAt} (then it expires and is not run) with an "Agent Action Approved" or "Agent Action Denied" event on the agent's bus, detail ${JSON.stringify(decision)} (add "reason" on a denial),`,
      `or locally: sovereign-agent approve|deny ${d.sessionId} ${d.callId}`,
    ].join('\n'),
  };
};

/** The alert an event sends (pause and resume requests send theirs once they took effect). */
export const alertOf = (event: CostEvent): Alert | undefined => {
  if (event.type === APPROVAL_REQUESTED) return approvalAlertOf(event);
  const base = { alertId: event.id, eventType: event.type, tenantId: event.detail.tenantId };
  if (event.type === COST_THRESHOLD_CROSSED) {
    const d = event.detail;
    const what =
      d.scope === 'tenant_day' ? `daily cap (${d.day ?? 'today'})` : `session ${d.sessionId ?? '?'} budget`;
    return {
      ...base,
      subject: `[sovereign-agent] ${d.tenantId}: ${d.percent}% of its ${what}`,
      message: [
        `Tenant ${d.tenantId} has spent ${usd(d.spentUsd)} of its ${what} of ${usd(d.budgetUsd)} (${d.percent}%).`,
        ...(d.scope === 'tenant_day' && d.percent === 100
          ? ['The tenant is paused: new goals are refused and running sessions stop at their next turn.']
          : []),
        `Event ${event.id} at ${event.time}.`,
      ].join('\n'),
    };
  }
  if (event.type === BUDGET_EXCEEDED) {
    const session = event.detail.sessionId ?? '?';
    return {
      ...base,
      subject: `[sovereign-agent] ${event.detail.tenantId}: session ${session} stopped at its budget`,
      message: `Session ${session} of tenant ${event.detail.tenantId} stopped at its budget.\n${JSON.stringify(event.detail, null, 2)}\nEvent ${event.id} at ${event.time}.`,
    };
  }
  return undefined;
};

/** A stable id for one pause or resume (tenant, what, when): the same on every redelivery. */
const changeId = (tenant: string, what: string, at: string): string =>
  createHash('sha256')
    .update(JSON.stringify([tenant, what, at]))
    .digest('hex');

export type CostAlertOutcome = {
  type: CostEvent['type'];
  tenantId: string;
  alerted: boolean;
  /** paused/resumed: this delivery changed (or, redelivered, had changed) the tenant; unchanged: it already was. */
  tenant?: 'paused' | 'resumed' | 'unchanged' | 'no_policy';
};

const pauseTenant = async (deps: CostAlertDeps, event: CostEvent, reason: string) => {
  const tenant = event.detail.tenantId;
  const result = await deps.tenants.pause(tenant, reason, event.time);
  // A redelivery of the request that paused it finds its own pause (same time and reason): announce it again.
  const ours =
    result.changed || (result.policy.pausedAt === event.time && result.policy.pausedReason === reason);
  if (!ours) return 'unchanged' as const;
  const eventId = changeId(tenant, 'paused', event.time);
  await deps.events.publish(TENANT_PAUSED, {
    tenantId: tenant,
    reason,
    pausedAt: event.time,
    cause: event.type,
    eventId,
  });
  await deps.alerts.publish({
    alertId: eventId,
    eventType: TENANT_PAUSED,
    tenantId: tenant,
    subject: `[sovereign-agent] ${tenant} paused`,
    message: `Tenant ${tenant} is paused: ${reason}.\nNew goals are refused and running sessions stop at their next turn.\nResume it with \`sovereign-agent tenant resume ${tenant}\` (or an "${TENANT_RESUME_REQUESTED}" event).`,
  });
  return 'paused' as const;
};

const resumeTenant = async (deps: CostAlertDeps, event: CostEvent) => {
  const tenant = event.detail.tenantId;
  const result = await deps.tenants.resume(tenant);
  if (!result.changed) return 'unchanged' as const;
  const eventId = changeId(tenant, 'resumed', event.time);
  await deps.events.publish(TENANT_RESUMED, { tenantId: tenant, resumedAt: event.time, eventId });
  await deps.alerts.publish({
    alertId: eventId,
    eventType: TENANT_RESUMED,
    tenantId: tenant,
    subject: `[sovereign-agent] ${tenant} resumed`,
    message: `Tenant ${tenant} is resumed: its goals are accepted again; paused sessions go on with \`sovereign-agent resume <sessionId>\`.`,
  });
  return 'resumed' as const;
};

/**
 * Handles one delivered cost event: the alert first (a redelivery may send it again: SNS is at-least-once and the
 * alert id lets a reader dedupe), then the pause or resume it asks for, which a condition makes happen once.
 */
export const handleCostEvent = async (deps: CostAlertDeps, raw: unknown): Promise<CostAlertOutcome> => {
  const event = parseCostEvent(raw);
  const alert = alertOf(event);
  if (alert) await deps.alerts.publish(alert);
  const reason = pauseReasonOf(event);
  const act = () =>
    reason !== undefined
      ? pauseTenant(deps, event, reason)
      : event.type === TENANT_RESUME_REQUESTED
        ? resumeTenant(deps, event)
        : Promise.resolve(undefined);
  // A tenant with no policy has nothing to pause or resume; a retry would not change that.
  const tenant = await act().catch((error: unknown) => {
    if (error instanceof TenantNotFoundError) return 'no_policy' as const;
    throw error;
  });
  return {
    type: event.type,
    tenantId: event.detail.tenantId,
    alerted: alert !== undefined,
    ...(tenant ? { tenant } : {}),
  };
};
