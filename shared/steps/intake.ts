/** Intake: turns a bus event into at most one running execution per goal (or per resume), or a rejection. */
import { createHash } from 'node:crypto';
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { goalMessage } from '../agent/conversation';
import { agentNames, getProfile, hasProfile } from '../agent/profiles';
import { RAISE_TO_RESUME, RESUMABLE_STOPS, type StopReason } from '../agent/stop-reasons';
import { executionNameFor, type GoalDetail, type ParsedEvent, parseBusEvent } from '../contracts/goal-events';
import { type EventPublisher, GOAL_REJECTED } from '../contracts/lifecycle-events';
import { logSecurityEvent } from '../observability/security-events';
import { InvalidGoalError } from '../runtime/errors';
import type { SessionItem, SessionLimits, SessionStore } from '../store/session-store';
import type { TenantPolicyItem } from '../store/table';
import { type DefaultTenantPolicy, noPolicyMessage } from '../store/tenant-store';

/** The tenant policies intake reads (TenantStore; a fake in unit tests). */
export interface TenantPolicies {
  getPolicy(tenantId: string): Promise<TenantPolicyItem | undefined>;
}

/** The stage's intake rules (shared/runtime/config.ts intakeConfig). */
export interface IntakeRules {
  /** The largest goal `context`, JSON-encoded, in bytes: it is stored with the session and resent every turn. */
  maxContextBytes: number;
  /** The largest event intake accepts, JSON-encoded, in bytes (checked before it is parsed); absent: no limit. */
  maxEventBytes?: number;
  /** The longest goal text, in characters (the event schema's own ceiling is 8000); absent: that ceiling. */
  maxGoalChars?: number;
  /** The policy of a tenant that has none stored; absent: such a tenant's goals are refused. */
  defaultTenantPolicy?: DefaultTenantPolicy;
}

export interface IntakeDeps {
  store: SessionStore;
  sfn: SFNClient;
  stateMachineArn: string;
  events: EventPublisher;
  tenants: TenantPolicies;
  rules: IntakeRules;
}

/** What intake applies of a tenant's policy: its stored item, or the stage's default. */
export type EffectivePolicy = DefaultTenantPolicy & Pick<TenantPolicyItem, 'paused' | 'pausedReason'>;

/** The input of an execution; a continue-as-new also names the execution it takes the session over from. */
export type ExecutionInput = {
  tenantId: string;
  sessionId: string;
  mode: 'start' | 'resume' | 'continue';
  previousExecutionArn?: string;
};

export type IntakeOutcome =
  | { outcome: 'started'; sessionId: string; tenantId: string; executionArn: string }
  | { outcome: 'duplicate'; sessionId: string; tenantId: string; reason: string }
  | { outcome: 'rejected'; reason: string; issues: string[]; sessionId?: string; tenantId?: string };

/**
 * A session's limits: the goal's constraints, else the tenant policy's session budgets, else the agent profile's
 * defaults. Constraints may lower the policy's budgets, never raise them (intake refuses that before this).
 */
export const resolveLimits = (detail: GoalDetail, policy?: EffectivePolicy): SessionLimits => {
  const profile = getProfile(detail.agent);
  const c = detail.constraints ?? {};
  return {
    maxTurns: c.maxTurns ?? profile.limits.maxTurns,
    tokenBudget: c.tokenBudget ?? policy?.sessionTokenBudget ?? profile.limits.tokenBudget,
    usdBudget: c.usdBudget ?? policy?.sessionUsdBudget ?? profile.limits.usdBudget,
    latencyToleranceMs: c.latencyToleranceMs ?? profile.defaults.latencyToleranceMs,
    dataClassification:
      c.dataClassification ?? policy?.defaultDataClassification ?? profile.defaults.dataClassification,
    ...(policy ? { tenantDailyCapUsd: policy.dailyCapUsd } : {}),
    ...(c.approvalTimeoutSeconds ? { approvalTimeoutSeconds: c.approvalTimeoutSeconds } : {}),
  };
};

/** Why the tenant's policy refuses this goal (each line an issue), or an empty list when it may run. */
export const policyRefusals = (detail: GoalDetail, policy: EffectivePolicy): string[] => {
  const c = detail.constraints ?? {};
  const refusals: string[] = [];
  if (policy.paused)
    refusals.push(`tenant ${detail.tenantId} is paused: ${policy.pausedReason ?? 'no reason given'}`);
  if (policy.allowedAgents && !policy.allowedAgents.includes(detail.agent)) {
    refusals.push(
      `agent "${detail.agent}" is not allowed for tenant ${detail.tenantId} (allowed: ${policy.allowedAgents.join(', ')})`,
    );
  }
  if (
    c.usdBudget !== undefined &&
    policy.sessionUsdBudget !== undefined &&
    c.usdBudget > policy.sessionUsdBudget
  ) {
    refusals.push(
      `constraints.usdBudget ${c.usdBudget} is above tenant ${detail.tenantId}'s session budget of $${policy.sessionUsdBudget}`,
    );
  }
  if (
    c.tokenBudget !== undefined &&
    policy.sessionTokenBudget !== undefined &&
    c.tokenBudget > policy.sessionTokenBudget
  ) {
    refusals.push(
      `constraints.tokenBudget ${c.tokenBudget} is above tenant ${detail.tenantId}'s session budget of ${policy.sessionTokenBudget} tokens`,
    );
  }
  return refusals;
};

/** The size of a goal's context as stored and resent: its JSON in UTF-8 bytes. */
export const contextBytes = (detail: GoalDetail): number =>
  detail.context === undefined ? 0 : Buffer.byteLength(JSON.stringify(detail.context), 'utf8');

/** The tenant's stored policy, else the stage's default; a tenant with neither is refused with how to fix it. */
const effectivePolicy = async (deps: IntakeDeps, tenantId: string): Promise<EffectivePolicy> => {
  const stored = await deps.tenants.getPolicy(tenantId);
  if (stored) return stored;
  if (deps.rules.defaultTenantPolicy) return deps.rules.defaultTenantPolicy;
  throw new InvalidGoalError(noPolicyMessage(tenantId), ['tenantId: no tenant policy']);
};

/** A goal over one of the stage's input limits: an input_limit security event, and the rejection to throw. */
const limitRefusal = (
  details: { limit: string; tenantId?: string; size: number; max: number },
  reason: string,
  issue: string,
): InvalidGoalError => {
  logSecurityEvent('input_limit', details);
  return new InvalidGoalError(reason, [issue]);
};

/**
 * An event over MAX_EVENT_BYTES, refused before it is parsed. EventBridge itself refuses PutEvents entries of 256 KB
 * or more (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html, read 2026-12-02); the
 * stage's limit sits below that, at what a goal within the goal and context limits can need.
 */
const checkEventSize = (rules: IntakeRules, raw: unknown): void => {
  if (rules.maxEventBytes === undefined) return;
  const size = Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8');
  if (size <= rules.maxEventBytes) return;
  const { tenantId } = peek(raw);
  throw limitRefusal(
    { limit: 'maxEventBytes', ...(tenantId ? { tenantId } : {}), size, max: rules.maxEventBytes },
    `event is ${size} bytes, over the limit of ${rules.maxEventBytes} bytes: keep the goal short and pass ` +
      'references to large data in context',
    `event: ${size} bytes > ${rules.maxEventBytes}`,
  );
};

/** Every check a goal passes before a session is stored: its agent, its context's size, its tenant's policy. */
const checkGoal = async (deps: IntakeDeps, detail: GoalDetail): Promise<EffectivePolicy> => {
  if (!hasProfile(detail.agent)) {
    throw new InvalidGoalError(`Unknown agent "${detail.agent}"`, [
      `agent: unknown agent "${detail.agent}"; known agents: ${agentNames().join(', ')}`,
    ]);
  }
  const { maxGoalChars } = deps.rules;
  if (maxGoalChars !== undefined && detail.goal.length > maxGoalChars) {
    throw limitRefusal(
      { limit: 'maxGoalChars', tenantId: detail.tenantId, size: detail.goal.length, max: maxGoalChars },
      `goal is ${detail.goal.length} characters, over the limit of ${maxGoalChars}: state the goal briefly and ` +
        'pass references to the data in context',
      `goal: ${detail.goal.length} characters > ${maxGoalChars}`,
    );
  }
  const size = contextBytes(detail);
  if (size > deps.rules.maxContextBytes) {
    logSecurityEvent('input_limit', {
      limit: 'maxContextBytes',
      tenantId: detail.tenantId,
      size,
      max: deps.rules.maxContextBytes,
    });
    throw new InvalidGoalError(
      `context is ${size} bytes, over the limit of ${deps.rules.maxContextBytes} bytes: it is resent with every ` +
        'turn; pass a reference (an id the tools can fetch) instead of the data',
      [`context: ${size} bytes > ${deps.rules.maxContextBytes}`],
    );
  }
  const policy = await effectivePolicy(deps, detail.tenantId);
  const refusals = policyRefusals(detail, policy);
  if (refusals.length > 0) throw new InvalidGoalError(refusals.join('; '), refusals);
  return policy;
};

const start = async (
  deps: IntakeDeps,
  input: ExecutionInput,
  name: string,
): Promise<{ started: true; executionArn: string } | { started: false }> => {
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    );
    return { started: true, executionArn: out.executionArn ?? '' };
  } catch (error) {
    // Standard workflows: same name + same input while running returns the original execution; a closed
    // execution or other input raises ExecutionAlreadyExists. Either way no second execution starts.
    if (error instanceof ExecutionAlreadyExists) return { started: false };
    throw error;
  }
};

/** Object keys sorted at every level, so the same goal always serialises (and hashes) the same. */
const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v)]),
  );
};

/** sha256 of the goal detail as validated (goal trimmed, keys sorted): the same goal redelivered hashes the same. */
export const goalHashOf = (detail: GoalDetail): string =>
  createHash('sha256')
    .update(JSON.stringify(canonical(detail)))
    .digest('hex');

/** A goalId already names a session of another goal: answering with that session's outcome would be wrong. */
const refuseReusedGoalId = (detail: GoalDetail, existing: SessionItem): never => {
  throw new InvalidGoalError(
    `goalId "${existing.sessionId}" is already used by another goal of tenant ${detail.tenantId} ` +
      `(that session is ${existing.status}); submit this goal with a new goalId`,
    [`goalId: already used by a different goal (session ${existing.status})`],
  );
};

const acceptGoal = async (
  deps: IntakeDeps,
  event: Extract<ParsedEvent, { kind: 'goal' }>,
): Promise<IntakeOutcome> => {
  const { detail, sessionId } = event;
  const policy = await checkGoal(deps, detail);
  const goalHash = goalHashOf(detail);
  const created = await deps.store.createSession({
    tenantId: detail.tenantId,
    sessionId,
    agent: detail.agent,
    goal: detail.goal,
    ...(detail.context ? { context: detail.context } : {}),
    ...(detail.constraints ? { requested: detail.constraints } : {}),
    limits: resolveLimits(detail, policy),
    eventId: event.eventId,
    goalMessage: goalMessage(detail),
    goalHash,
  });
  if (!created.created) {
    const { existing } = created;
    // A session stored before goal hashes existed has none: its redelivery stays a duplicate.
    if (existing.goalHash !== undefined && existing.goalHash !== goalHash)
      refuseReusedGoalId(detail, existing);
    // A pending session means an earlier delivery stored it but may not have started it: start (idempotently).
    if (existing.status !== 'pending') {
      return {
        outcome: 'duplicate',
        sessionId,
        tenantId: detail.tenantId,
        reason: `session already ${existing.status}`,
      };
    }
  }
  const input: ExecutionInput = { tenantId: detail.tenantId, sessionId, mode: 'start' };
  const result = await start(deps, input, executionNameFor(detail.tenantId, sessionId));
  if (!result.started)
    return { outcome: 'duplicate', sessionId, tenantId: detail.tenantId, reason: 'execution already exists' };
  // StartExecution answers concurrent deliveries alike (same name and input while it runs): only the delivery
  // that claims the count says started, so GoalsStarted counts the execution once.
  const counted = await deps.store.countStart(detail.tenantId, sessionId, result.executionArn);
  return counted
    ? { outcome: 'started', sessionId, tenantId: detail.tenantId, executionArn: result.executionArn }
    : { outcome: 'duplicate', sessionId, tenantId: detail.tenantId, reason: 'execution already started' };
};

/**
 * Why a session cannot be resumed, or undefined when it can: failed, paused, or stopped by a resumable stop, and
 * for a budget stop only with that budget raised above the one it stopped at (`raise`, the resume's new limits).
 */
export const resumeRefusal = (
  session: SessionItem,
  raise: { usdBudget?: number; tokenBudget?: number } = {},
): string | undefined => {
  const raising = raiseRefusal(session, raise);
  if (raising) return raising;
  if (session.status === 'failed' || session.status === 'paused') return undefined;
  if (session.status === 'stopped' && RESUMABLE_STOPS.includes(session.stopReason as StopReason)) {
    const needs = RAISE_TO_RESUME[session.stopReason as StopReason];
    if (needs === undefined || raise[needs] !== undefined) return undefined;
    const flag = needs === 'usdBudget' ? '--usd-budget' : '--token-budget';
    return `it stopped at its ${needs} (${session.limits[needs]}): resume it with a higher ${needs} (${flag})`;
  }
  const how =
    session.status === 'stopped' ? `stopped (${session.stopReason ?? 'no reason'})` : session.status;
  return `it is ${how}, not failed, paused or stopped by ${RESUMABLE_STOPS.join(' or ')}`;
};

/** A raise must raise: a new limit at or below the current one is refused. */
const raiseRefusal = (
  session: SessionItem,
  raise: { usdBudget?: number; tokenBudget?: number },
): string | undefined => {
  for (const limit of ['usdBudget', 'tokenBudget'] as const) {
    const to = raise[limit];
    if (to !== undefined && to <= session.limits[limit])
      return `the new ${limit} (${to}) does not raise the current one (${session.limits[limit]})`;
  }
  return undefined;
};

/** A paused tenant's sessions stay paused until the tenant is resumed. */
const tenantPauseRefusal = async (deps: IntakeDeps, tenantId: string): Promise<string | undefined> => {
  const policy = await deps.tenants.getPolicy(tenantId);
  return policy?.paused
    ? `tenant ${tenantId} is paused (${policy.pausedReason ?? 'no reason given'}): resume the tenant first`
    : undefined;
};

const acceptResume = async (
  deps: IntakeDeps,
  event: Extract<ParsedEvent, { kind: 'resume' }>,
): Promise<IntakeOutcome> => {
  const { tenantId, sessionId, usdBudget, tokenBudget } = event.detail;
  const raise = {
    ...(usdBudget !== undefined ? { usdBudget } : {}),
    ...(tokenBudget !== undefined ? { tokenBudget } : {}),
  };
  const session = await deps.store.getSession(tenantId, sessionId);
  if (!session) {
    throw new InvalidGoalError(`Cannot resume: session ${sessionId} of tenant ${tenantId} does not exist`, [
      'sessionId: no such session for this tenant',
    ]);
  }
  // A redelivery of the event whose claim (and raise) is already recorded goes on to the start, which dedupes.
  const redelivered =
    session.resumeRequestedForRun === session.runs && session.resumeEventId === event.eventId;
  const refusal =
    (await tenantPauseRefusal(deps, tenantId)) ?? (redelivered ? undefined : resumeRefusal(session, raise));
  if (refusal) {
    throw new InvalidGoalError(`Cannot resume session ${sessionId}: ${refusal}`, [
      `status: ${session.status}`,
    ]);
  }
  // Of two resume requests at once, the conditional claim lets one through; the other is told who holds it.
  const claim = await deps.store.claimResume({
    tenantId,
    sessionId,
    runs: session.runs,
    eventId: event.eventId,
    ...(redelivered || Object.keys(raise).length === 0 ? {} : { raise: { from: session.limits, ...raise } }),
  });
  if (!claim.claimed) {
    const now = claim.session;
    const taken =
      now !== undefined && (now.runs > session.runs || now.resumeRequestedForRun === session.runs);
    const reason = taken
      ? `session ${sessionId} is already being resumed (run ${session.runs})`
      : `Cannot resume session ${sessionId}: ${now ? (resumeRefusal(now) ?? 'it changed meanwhile') : 'it no longer exists'}`;
    throw new InvalidGoalError(reason, [`resumeRequestedForRun: ${now?.resumeRequestedForRun ?? 'none'}`]);
  }
  // `runs` counts executions that began; the next run's name is derived from it, so duplicates collapse.
  const input: ExecutionInput = { tenantId, sessionId, mode: 'resume' };
  const result = await start(deps, input, executionNameFor(tenantId, sessionId, session.runs));
  return result.started
    ? { outcome: 'started', sessionId, tenantId, executionArn: result.executionArn }
    : { outcome: 'duplicate', sessionId, tenantId, reason: 'resume execution already exists' };
};

const peek = (
  raw: unknown,
): { tenantId?: string; sessionId?: string; eventId?: string; detailType?: string } => {
  if (typeof raw !== 'object' || raw === null) return {};
  const envelope = raw as Record<string, unknown>;
  const detail = (
    typeof envelope.detail === 'object' && envelope.detail !== null ? envelope.detail : {}
  ) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    tenantId: str(detail.tenantId),
    sessionId: str(detail.sessionId) ?? str(detail.goalId),
    eventId: str(envelope.id),
    detailType: str(envelope['detail-type']),
  };
};

/** Validates and accepts one delivered event. Rejections are published, never thrown (a retry cannot fix them). */
export const acceptEvent = async (deps: IntakeDeps, raw: unknown): Promise<IntakeOutcome> => {
  try {
    checkEventSize(deps.rules, raw);
    const event = parseBusEvent(raw);
    return event.kind === 'goal' ? await acceptGoal(deps, event) : await acceptResume(deps, event);
  } catch (error) {
    if (!(error instanceof InvalidGoalError)) throw error;
    const seen = peek(raw);
    const reason = error.message;
    await deps.events.publish(GOAL_REJECTED, {
      reason,
      issues: error.issues,
      eventId: seen.eventId ?? null,
      detailType: seen.detailType ?? null,
      tenantId: seen.tenantId ?? null,
      sessionId: seen.sessionId ?? null,
    });
    return {
      outcome: 'rejected',
      reason,
      issues: error.issues,
      ...(seen.sessionId ? { sessionId: seen.sessionId } : {}),
      ...(seen.tenantId ? { tenantId: seen.tenantId } : {}),
    };
  }
};
