/** The event contract of the bus: goal and resume events in, and how session ids and execution names derive from them. */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { InvalidGoalError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';

export const GOAL_SUBMITTED = 'Agent Goal Submitted';
export const RESUME_REQUESTED = 'Agent Goal Resume Requested';

const id = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be a string`),
    })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
      `${what} must be 1-64 characters of letters, digits, "-" or "_"`,
    );

export const dataClassificationSchema = z.enum(['public', 'internal', 'restricted']);
export type DataClassification = z.infer<typeof dataClassificationSchema>;

export const constraintsSchema = z
  .object({
    maxTurns: z.number().int().min(1).max(50).optional(),
    tokenBudget: z.number().int().min(1000).max(10_000_000).optional(),
    usdBudget: z.number().positive().max(1000).optional(),
    latencyToleranceMs: z.number().int().min(100).max(900_000).optional(),
    dataClassification: dataClassificationSchema.optional(),
    /** Approvals of this goal expire sooner than the profile says (never later). */
    approvalTimeoutSeconds: z.number().int().min(1).max(604_800).optional(),
  })
  .strict();
export type Constraints = z.infer<typeof constraintsSchema>;

export const goalDetailSchema = z
  .object({
    goalId: id('goalId').optional(),
    tenantId: id('tenantId'),
    agent: id('agent'),
    goal: z
      .string()
      .trim()
      .min(1, 'goal must not be empty')
      .max(8000, 'goal must be at most 8000 characters'),
    constraints: constraintsSchema.optional(),
    context: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type GoalDetail = z.infer<typeof goalDetailSchema>;

export const resumeDetailSchema = z
  .object({
    tenantId: id('tenantId'),
    sessionId: id('sessionId'),
    /** Raised limits for the resumed run: a session stopped by its USD or token budget resumes only with a raise. */
    usdBudget: z.number().positive('usdBudget must be positive').optional(),
    tokenBudget: z.number().int().positive('tokenBudget must be a positive integer').optional(),
  })
  .strict();
export type ResumeDetail = z.infer<typeof resumeDetailSchema>;

/** The envelope EventBridge delivers to a Lambda target (fields we rely on). */
export const busEnvelopeSchema = z.object({
  version: z.string().optional(),
  id: z.string().min(1, 'event id is required'),
  source: z.string().min(1, 'source is required'),
  'detail-type': z.string().min(1, 'detail-type is required'),
  time: z.string().optional(),
  account: z.string().optional(),
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  detail: z.unknown(),
});
export type BusEnvelope = z.infer<typeof busEnvelopeSchema>;

export type ParsedEvent =
  | { kind: 'goal'; eventId: string; sessionId: string; detail: GoalDetail }
  | { kind: 'resume'; eventId: string; sessionId: string; detail: ResumeDetail };

/** Event ids are UUIDs on AWS; anything else is hashed into a valid session id. */
export const sessionIdFromEventId = (eventId: string): string =>
  /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(eventId)
    ? eventId
    : `evt-${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;

/** Validates an envelope and its detail; throws InvalidGoalError listing every problem. */
export const parseBusEvent = (input: unknown): ParsedEvent => {
  const envelope = busEnvelopeSchema.safeParse(input);
  if (!envelope.success) {
    throw new InvalidGoalError('The event is not an EventBridge event envelope', zodIssues(envelope.error));
  }
  const event = envelope.data;
  const type = event['detail-type'];
  if (type === GOAL_SUBMITTED) {
    const detail = goalDetailSchema.safeParse(event.detail);
    if (!detail.success) {
      throw new InvalidGoalError(`Invalid "${GOAL_SUBMITTED}" detail`, zodIssues(detail.error));
    }
    const sessionId = detail.data.goalId ?? sessionIdFromEventId(event.id);
    return { kind: 'goal', eventId: event.id, sessionId, detail: detail.data };
  }
  if (type === RESUME_REQUESTED) {
    const detail = resumeDetailSchema.safeParse(event.detail);
    if (!detail.success) {
      throw new InvalidGoalError(`Invalid "${RESUME_REQUESTED}" detail`, zodIssues(detail.error));
    }
    return { kind: 'resume', eventId: event.id, sessionId: detail.data.sessionId, detail: detail.data };
  }
  throw new InvalidGoalError(`Unsupported detail-type "${type}"`, [
    `detail-type: expected "${GOAL_SUBMITTED}" or "${RESUME_REQUESTED}"`,
  ]);
};

/** The session an event addresses: its goalId (goal), its sessionId (resume), else one derived from the event id. */
export const sessionIdForEvent = (eventId: string, goalId?: string, sessionId?: string): string =>
  goalId ?? sessionId ?? sessionIdFromEventId(eventId);

/**
 * Step Functions execution names are 1-80 characters of [0-9A-Za-z_-]. The same goal always maps to the same
 * name, so a duplicate delivery cannot start a second execution; attempt > 0 names a resume. Ids may contain "-",
 * so a hash of the exact (tenant, session, attempt) keeps distinct goals apart ("acme-eu"/"x" vs "acme"/"eu-x").
 */
export const executionNameFor = (tenantId: string, sessionId: string, attempt = 0): string => {
  const readable = `${tenantId}-${sessionId}${attempt > 0 ? `-r${attempt}` : ''}`;
  const digest = createHash('sha256')
    .update(JSON.stringify([tenantId, sessionId, attempt]))
    .digest('hex')
    .slice(0, 12);
  return `${readable.slice(0, 80 - digest.length - 1)}-${digest}`;
};
