/**
 * The RunTool step: one tool call of a turn. Checks it against the agent's tools and their OpenAPI schemas,
 * invokes the action-group Lambda with an idempotency key and bounded full-jitter retries, and records the
 * outcome once. Every failure becomes a toolResult the model sees, not a failed execution.
 */
import { createHash } from 'node:crypto';
import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import type { BreakerRecord } from '../agent/breaker';
import { toolUsesOf } from '../agent/conversation';
import { type AgentProfile, getProfile } from '../agent/profiles';
import { toolCallReservation } from '../agent/reservation';
import { capToolOutput, crossTenantRefusal, toolInputRefusal } from '../agent/tool-guards';
import { type Coercion, validateToolInput } from '../agent/tool-input';
import { allowedTools, isAllowed, requiresApproval } from '../agent/tool-policy';
import {
  type ActionGroupFunctions,
  getActionGroup,
  type ToolDefinition,
  toolsForAgent,
} from '../agent/tools';
import {
  type ActionGroupEvent,
  actionGroupResponseSchema,
  buildActionGroupEvent,
  toActionGroupParameters,
} from '../contracts/action-group';
import { logToolCall } from '../observability/logs';
import { logSecurityEvent } from '../observability/security-events';
import { toolCallOf } from '../observability/trace-records';
import { traceToolCall } from '../observability/xray';
import {
  ConfigError,
  SessionStateError,
  ToolCallInProgressError,
  ToolCrashedError,
  ToolInvocationError,
  ToolTimeoutError,
} from '../runtime/errors';
import { type RetryPolicy, withFullJitter } from '../runtime/retry';
import type { ApprovalStore } from '../store/approval-store';
import { breakerRecordOf } from '../store/breaker-store';
import type { BudgetLedger, LedgerStop, ReserveResult, Settlement } from '../store/budget-ledger';
import type { SessionItem, SessionStore, ToolCallStatus } from '../store/session-store';
import { keys } from '../store/table';
import {
  type GuardedOutcome,
  invokeBehindBreaker,
  lastKnownGoodUpdates,
  settleBreaker,
  type ToolBreakerDeps,
  windowUpdates,
} from './tool-breaker';

/**
 * A tool result longer than this is stored in parts of this many characters and the model is fed the first one.
 * A DynamoDB item is at most 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items); 20,000
 * UTF-16 code units are at most 60 KB of UTF-8, so a part, and a call item holding one, stays well under it.
 */
export const RESULT_PART_CHARS = 20_000;
/**
 * Parts are written in the transaction that records the outcome: TransactWriteItems takes up to 100 actions and
 * 4 MB in all (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html), so
 * at most 50 parts (3 MB) besides the two updates. A longer result is cut there, and the marker says so.
 */
export const MAX_RESULT_PARTS = 50;
/** Time a lease allows besides the attempt's own invocations and backoff (the store requests around them). */
export const LEASE_MARGIN_MS = 5_000;

export const runToolInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(1),
  call: z.object({ toolUseId: z.string().min(1), name: z.string().min(1), index: z.number().int().min(0) }),
  /** A call that needed approval: the decision RequestApproval's task token returned, or expired (its timeout). */
  approval: z.object({ decision: z.enum(['approved', 'denied', 'expired']) }).optional(),
});
export type RunToolInput = z.infer<typeof runToolInputSchema>;

export interface RunToolResult {
  toolUseId: string;
  status: Exclude<ToolCallStatus, 'started'>;
  replayed: boolean;
}

export interface ToolRunnerDeps {
  store: SessionStore;
  lambda: LambdaClient;
  retry: RetryPolicy & { timeoutMs: number };
  /** Function name of each action group, read once at cold start (agent/tools actionGroupFunctions). */
  functions: ActionGroupFunctions;
  /** Circuit breakers shared by every execution (tool-breaker.ts); without them every call is invoked. */
  breakers?: Omit<ToolBreakerDeps, 'now' | 'probeLeaseMs'>;
  /** The budget ledger: a call's cost is reserved before it is invoked and settled with its outcome. */
  ledger?: BudgetLedger;
  /** Size limits on a call's input (refused over it) and output (cut to it); config.ts toolLimitsConfig. */
  limits?: { maxToolInputBytes: number; maxToolOutputBytes: number };
  /** Approvals of calls to tools the profile marks requiresApproval; without it such calls are refused. */
  approvals?: ApprovalStore;
  now?: () => number;
}

/** The breaker dependencies of a call: a probe's lease outlasts the call with every retry and backoff. */
const breakerDeps = (deps: ToolRunnerDeps): ToolBreakerDeps | undefined =>
  deps.breakers && {
    ...deps.breakers,
    now: deps.now ?? Date.now,
    probeLeaseMs: deps.retry.attempts * (deps.retry.timeoutMs + deps.retry.maxDelayMs),
  };

const hash = (value: unknown): string =>
  createHash('sha256')
    .update(
      JSON.stringify(value, (_k, v: unknown) =>
        v && typeof v === 'object' && !Array.isArray(v) ? sortKeys(v) : v,
      ),
    )
    .digest('hex');

const sortKeys = (value: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** How long a claim owns a call: every invocation of one attempt at its timeout plus the longest backoff. */
export const leaseDurationMs = (retry: ToolRunnerDeps['retry']): number =>
  retry.attempts * (retry.timeoutMs + retry.maxDelayMs) + LEASE_MARGIN_MS;

/** Cuts `text` into parts of at most `size` code units, never between the two halves of a surrogate pair. */
const chunks = (text: string, size: number, max: number): string[] => {
  const parts: string[] = [];
  let at = 0;
  while (at < text.length && parts.length < max) {
    let end = Math.min(at + size, text.length);
    const code = text.charCodeAt(end - 1);
    if (end < text.length && code >= 0xd800 && code <= 0xdbff) end -= 1;
    parts.push(text.slice(at, end));
    at = end;
  }
  return parts;
};

/**
 * What the model is fed and what is stored: a short result as it is; a long one as its first part with a marker
 * saying how much is shown and where the rest is, and all parts to store. Never cut without saying so.
 */
export const splitResult = (text: string): { shown: string; parts?: string[] } => {
  if (text.length <= RESULT_PART_CHARS) return { shown: text };
  const parts = chunks(text, RESULT_PART_CHARS, MAX_RESULT_PARTS);
  const first = parts[0] ?? '';
  const stored = parts.reduce((sum, p) => sum + p.length, 0);
  const marker =
    stored < text.length
      ? `[result continues: ${first.length} of ${text.length} characters shown; the result is too large to store ` +
        `in full: its first ${stored} characters are stored in ${parts.length} parts]`
      : `[result continues: ${first.length} of ${text.length} characters shown; the full result is stored in ` +
        `${parts.length} parts]`;
  return { shown: `${first}\n${marker}`, parts };
};

type Outcome = GuardedOutcome;

const invokeOnce = async (
  deps: ToolRunnerDeps,
  functionName: string,
  event: ActionGroupEvent,
): Promise<Outcome> => {
  let out: InvokeCommandOutput;
  try {
    out = await deps.lambda.send(
      new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(event)) }),
      { abortSignal: AbortSignal.timeout(deps.retry.timeoutMs) },
    );
  } catch (error) {
    if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
      throw new ToolTimeoutError(`${event.function} did not answer within ${deps.retry.timeoutMs} ms`, {
        cause: error,
      });
    }
    throw new ToolInvocationError(`Invoking ${functionName} failed: ${String(error)}`, { cause: error });
  }
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  if (out.FunctionError) {
    let detail = text;
    let errorType = '';
    try {
      const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      errorType = parsed.errorType ?? '';
      detail = `${parsed.errorType ?? 'Error'}: ${parsed.errorMessage ?? ''}`;
    } catch {
      // not JSON: keep the raw payload text as the detail
    }
    const message = `${event.function} failed (${out.FunctionError}): ${detail}`;
    // The runtime died or the sandbox timed out mid-run: the handler may have done its work.
    if (/^(Runtime|Sandbox)\./.test(errorType)) throw new ToolCrashedError(message);
    throw new ToolInvocationError(message);
  }
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: fails the contract check below
  }
  const response = actionGroupResponseSchema.safeParse(parsed);
  if (!response.success) {
    // A malformed response is a bug in the action group; retrying will not fix it.
    return {
      status: 'failed',
      errorKind: 'tool',
      result: `${event.function} returned a response outside the action-group contract`,
    };
  }
  const { functionResponse } = response.data.response;
  const body = functionResponse.responseBody.TEXT.body;
  // FAILURE and REPROMPT both go back to the model as an error result it can act on.
  return functionResponse.responseState
    ? { status: 'failed', errorKind: 'tool', result: body }
    : { status: 'succeeded', result: body };
};

const isTransient = (error: unknown): boolean =>
  error instanceof ToolInvocationError || error instanceof ToolTimeoutError;

/**
 * The stored tool use this call refers to, the agent whose tools it may use, and (with a ledger) the session whose
 * budget pays for it, from one read: the message alone (GetItem), or with the session and the tool's breaker in
 * one BatchGetItem. A call the committed turn does not contain is refused. A message committed before messages
 * named their agent costs a read of the session when it was not read already.
 */
const findToolUse = async (deps: ToolRunnerDeps, input: RunToolInput) => {
  const { tenantId, sessionId, turn, call } = input;
  const breakerKey = keys.breaker('tool', call.name);
  const sessionKey = keys.session(tenantId, sessionId);
  const others = [...(deps.ledger ? [sessionKey] : []), ...(deps.breakers ? [breakerKey] : [])];
  const read =
    others.length > 0
      ? await deps.store.getMessageAnd(tenantId, sessionId, turn, others)
      : { message: await deps.store.getMessage(tenantId, sessionId, turn), others: [] };
  const { message } = read;
  const sessionItem = deps.ledger ? read.others[0] : undefined;
  if (deps.ledger && !sessionItem)
    throw new SessionStateError(`Session ${sessionId} of tenant ${tenantId} does not exist`);
  const session = sessionItem === undefined ? undefined : deps.store.parseSession(sessionItem);
  const breakerSeen = deps.breakers ? { record: breakerRecordOf(read.others.at(-1), breakerKey) } : undefined;
  const use = message ? toolUsesOf(message).find((u) => u.toolUseId === call.toolUseId) : undefined;
  if (!use)
    throw new SessionStateError(`Turn ${turn} of session ${sessionId} has no tool call ${call.toolUseId}`);
  const agent = message?.agent ?? (session ?? (await deps.store.requireSession(tenantId, sessionId))).agent;
  return { agent, use, session, ...(breakerSeen ? { breakerSeen } : {}) };
};

/** Calls the action group's Lambda with bounded full-jitter retries; giving up is an outcome the model sees. */
const invokeTool = async (
  deps: ToolRunnerDeps,
  tool: ToolDefinition,
  event: ActionGroupEvent,
): Promise<Outcome> => {
  const group = getActionGroup(tool.actionGroup);
  const functionName = deps.functions[group.name];
  if (functionName === undefined) {
    throw new ConfigError(`No function configured for action group ${group.name} (${group.functionEnv})`);
  }
  let invocations = 0;
  try {
    const answer = await withFullJitter(
      (attempt) => {
        invocations = attempt;
        return invokeOnce(deps, functionName, event);
      },
      deps.retry,
      isTransient,
    );
    return { ...answer, invocations };
  } catch (error) {
    if (!isTransient(error)) throw error;
    return gaveUp(tool, invocations, error as Error);
  }
};

/**
 * The outcome after the last retry failed. For a side-effecting tool whose last invocation timed out or crashed
 * the work may have happened: `unknown` (errorKind lost), and the model is told so, not that it failed.
 */
const gaveUp = (tool: ToolDefinition, invocations: number, error: Error): Outcome => {
  const lost = tool.sideEffect && (error instanceof ToolTimeoutError || error instanceof ToolCrashedError);
  if (!lost) {
    return {
      status: 'failed',
      errorKind: 'invocation',
      invocations,
      result: `${tool.name} failed after ${invocations} attempts: ${error.message}`,
    };
  }
  return {
    status: 'unknown',
    errorKind: 'lost',
    invocations,
    result:
      `The outcome of ${tool.name} is unknown: ${invocations} attempts ended without an answer (${error.message}). ` +
      'It may have happened: do not assume it failed. Calling it again in this session with the same arguments ' +
      "is safe: the repeat is deduplicated and answers with the first call's outcome.",
  };
};

/** What the checks before any invocation found: a refusal, or the validated (coerced, defaulted) input. */
type Verdict =
  | { refusal: Outcome; coercions: Coercion[] }
  | { refusal?: undefined; tool: ToolDefinition; input: Record<string, unknown>; coercions: Coercion[] };

/**
 * A call to a tool the profile's allow-list does not name (the model was never offered it: an injected or
 * hallucinated call) is refused before anything runs, and logged as a tool_not_allowed security event.
 */
const notAllowed = (profile: AgentProfile, input: RunToolInput): Verdict => {
  logSecurityEvent('tool_not_allowed', {
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    turn: input.turn,
    callId: input.call.toolUseId,
    function: input.call.name,
    agent: profile.name,
  });
  const available = allowedTools(profile)
    .map((t) => t.name)
    .join(', ');
  const result = `Refused: ${input.call.name} is not allowed for this agent. Allowed tools: ${available}.`;
  return { refusal: { status: 'failed', errorKind: 'not_allowed', result }, coercions: [] };
};

/**
 * Checks a call (per-turn limit, allow-list, known tool, the session's tenant, input size, schema with safe
 * coercions); every refusal is an outcome.
 */
const verdictOf = (
  profile: AgentProfile,
  tool: ToolDefinition | undefined,
  input: RunToolInput,
  toolInput: unknown,
  limits?: ToolRunnerDeps['limits'],
): Verdict => {
  const { maxToolCallsPerTurn } = profile.limits;
  if (input.call.index >= maxToolCallsPerTurn) {
    const result = `Not run: at most ${maxToolCallsPerTurn} tool calls per turn. Call fewer tools at once.`;
    return { refusal: { status: 'failed', errorKind: 'limit', result }, coercions: [] };
  }
  if (tool && !isAllowed(profile, tool.name)) return notAllowed(profile, input);
  if (!tool) {
    const available = allowedTools(profile)
      .map((t) => t.name)
      .join(', ');
    const result = `Unknown tool "${input.call.name}". Available tools: ${available}.`;
    return { refusal: { status: 'failed', errorKind: 'unknown_tool', result }, coercions: [] };
  }
  const guarded =
    crossTenantRefusal(tool, toolInput, input.tenantId) ??
    (limits ? toolInputRefusal(tool, toolInput, limits.maxToolInputBytes) : undefined);
  if (guarded) return { refusal: guarded, coercions: [] };
  const validation = validateToolInput(tool, toolInput);
  if (!validation.ok) {
    const result =
      `Invalid parameters for ${tool.name}: ${validation.errors.join('; ')}. ` +
      'Fix them and call the tool again.';
    return { refusal: { status: 'failed', errorKind: 'schema', result }, coercions: validation.coercions };
  }
  return { tool, input: validation.input, coercions: validation.coercions };
};

const refused = (errorKind: 'denied' | 'expired', result: string): Verdict => ({
  refusal: { status: 'failed', errorKind, result },
  coercions: [],
});

/**
 * A checked call to a tool that requires approval runs only when a person approved it: RunTool closes the approval
 * (counting it down on the session) and reads the decision from the table, not from the payload. A denied or
 * expired approval is a refused result the model sees; so is a call that reached RunTool without one.
 */
const approvalVerdict = async (
  deps: ToolRunnerDeps,
  input: RunToolInput,
  verdict: Verdict,
): Promise<Verdict> => {
  if (verdict.refusal !== undefined) return verdict;
  const name = verdict.tool.name;
  if (!input.approval || !deps.approvals) {
    return refused(
      'denied',
      `Refused: ${name} needs a person's approval and none was asked for. It was not run.`,
    );
  }
  const timedOut = input.approval.decision === 'expired';
  const approval = await deps.approvals.close(
    input.tenantId,
    input.sessionId,
    input.call.toolUseId,
    timedOut,
  );
  if (approval.status === 'approved' && !timedOut) return verdict;
  if (approval.status === 'denied') {
    const why = approval.reason ? `: ${approval.reason}` : '';
    return refused(
      'denied',
      `Refused: ${approval.decidedBy ?? 'a person'} denied ${name}${why}. It was not run; do not call it again ` +
        'in this session. Finish with what you have.',
    );
  }
  return refused(
    'expired',
    `Refused: ${name} needed a person's approval, which expired at ${new Date(approval.deadline).toISOString()} ` +
      'without a decision. It was not run.',
  );
};

/**
 * The key the action group dedupes on. A side-effecting tool's key is its tenant, session, tool and normalised
 * arguments (defaults and coercions applied; hash sorts keys), so the same request in a later turn reuses the
 * first call's key and the side effect happens at most once per session. Any other call's key is per call.
 */
const idempotencyKeyOf = (input: RunToolInput, verdict: Verdict): string => {
  const { tenantId, sessionId, turn, call } = input;
  if (verdict.refusal === undefined && verdict.tool.sideEffect) {
    return hash({ tenantId, sessionId, tool: verdict.tool.name, input: verdict.input });
  }
  return hash({ tenantId, sessionId, turn, toolUseId: call.toolUseId });
};

/** Runs a checked call behind its tool's breaker (when the stage has breakers); a refusal is its own outcome. */
const invokeChecked = (
  deps: ToolRunnerDeps,
  call: { profile: AgentProfile; tools: ToolDefinition[]; input: RunToolInput; verdict: Verdict },
  idempotencyKey: string,
  breaker: { guard?: ToolBreakerDeps; seen?: { record: BreakerRecord | undefined } },
): Promise<Outcome> => {
  const { profile, input, verdict } = call;
  if (verdict.refusal !== undefined) return Promise.resolve(verdict.refusal);
  const { tool } = verdict;
  const event = buildActionGroupEvent({
    agent: { name: profile.name, id: profile.name, alias: 'sovereign-agent', version: '1' },
    sessionId: input.sessionId,
    actionGroup: tool.actionGroup,
    function: tool.name,
    parameters: toActionGroupParameters(verdict.input, tool.inputSchema),
    tenantId: input.tenantId,
    idempotencyKey,
  });
  if (!breaker.guard) return invokeTool(deps, tool, event);
  return invokeBehindBreaker(breaker.guard, {
    tool,
    tools: call.tools,
    event,
    invoke: (target, targetEvent) => invokeTool(deps, target, targetEvent),
    ...(breaker.seen ? { seen: breaker.seen } : {}),
  });
};

/**
 * Reserves a checked call's cost (toolCallReservation) under its own id before it is invoked: of parallel
 * branches on a nearly spent budget only those the remainders fund run. A retried attempt reuses its reservation.
 */
const reserveCall = (
  deps: ToolRunnerDeps,
  session: SessionItem,
  input: RunToolInput,
): Promise<ReserveResult> | undefined =>
  deps.ledger?.reserve({
    session,
    id: `call-${input.turn}-${input.call.index}`,
    ...toolCallReservation(),
    ttlMs: leaseDurationMs(deps.retry),
  });

/**
 * A call the budget could not fund (or its tenant is paused): never invoked, recorded with errorKind budget. Plan's
 * own reservation, a model call's worst case and far larger, then stops the session with the reason it finds.
 */
const budgetRefusal = (stop: LedgerStop): Verdict => ({
  refusal: {
    status: 'failed',
    errorKind: 'budget',
    result:
      stop === 'tenant_paused'
        ? 'Not run: the tenant is paused.'
        : `Not run: the ${stop === 'tenant_daily_cap' ? "tenant's daily cap" : "session's budget"} cannot fund this call.`,
  },
  coercions: [],
});

/** The call's settlement (its reservation's estimate is its cost) and the tenant day's side of it. */
const settleCall = (deps: ToolRunnerDeps, session: SessionItem, reserved: ReserveResult | undefined) => {
  if (!deps.ledger || !reserved?.reserved) return { extraUpdates: [] };
  const settlement: Settlement = {
    id: reserved.id,
    reservation: reserved.reservation,
    actualMicros: reserved.reservation.micros,
    actualTokens: 0,
  };
  return {
    settlement,
    extraUpdates: [deps.ledger.daySettlement(session.tenantId, settlement, settlement.actualMicros, 0)],
  };
};

/** The fields of a finished call its trace record is built from (toolCallOf), as completeToolCall stored them. */
const recorded = (input: RunToolInput, tool: ToolDefinition | undefined, outcome: Outcome) => ({
  turn: input.turn,
  toolUseId: input.call.toolUseId,
  name: input.call.name,
  ...(tool ? { actionGroup: tool.actionGroup } : {}),
  status: outcome.status,
  ...(outcome.errorKind ? { errorKind: outcome.errorKind } : {}),
  invocations: outcome.invocations ?? 0,
});
/** A refusal that guards a boundary (another tenant, an input over its size) is a security event, logged once per call. */
const reportRefusal = (input: RunToolInput, tool: ToolDefinition | undefined, verdict: Verdict): void => {
  const refusal = verdict.refusal as (Outcome & { requestedTenant?: string; bytes?: number }) | undefined;
  if (!refusal || !tool) return;
  const where = {
    sessionId: input.sessionId,
    tenantId: input.tenantId,
    turn: input.turn,
    callId: input.call.toolUseId,
    actionGroup: tool.actionGroup,
    function: tool.name,
  };
  if (refusal.errorKind === 'cross_tenant') {
    logSecurityEvent('cross_tenant_call', { ...where, requestedTenant: refusal.requestedTenant });
  } else if (refusal.errorKind === 'limit') {
    logSecurityEvent(
      'input_limit',
      refusal.bytes === undefined
        ? { ...where, limit: 'maxToolCallsPerTurn', index: input.call.index }
        : { ...where, limit: 'maxToolInputBytes', bytes: refusal.bytes },
    );
  }
};

/** The tool's answer cut to MAX_TOOL_OUTPUT_BYTES (with a marker), and the cut logged as an input_limit event. */
const cappedResult = (deps: ToolRunnerDeps, input: RunToolInput, result: string): string => {
  if (!deps.limits) return result;
  const capped = capToolOutput(result, deps.limits.maxToolOutputBytes);
  if (capped.truncatedFrom !== undefined) {
    logSecurityEvent('input_limit', {
      sessionId: input.sessionId,
      tenantId: input.tenantId,
      turn: input.turn,
      callId: input.call.toolUseId,
      function: input.call.name,
      limit: 'maxToolOutputBytes',
      bytes: capped.truncatedFrom,
    });
  }
  return capped.text;
};

/**
 * RunTool: find the stored tool use, check it, claim the call under a lease (a finished one is replayed, never
 * re-run; one another attempt is running is refused with ToolCallInProgressError, which the ASL retries after the
 * lease; an expired lease is taken over), reserve its cost on the budget ledger (a call the budget cannot fund is
 * recorded `budget`, never invoked), run it behind the tool's breaker, and record its outcome once with the
 * reservation settled: four DynamoDB requests per call (read the message with the session and the tool's breaker,
 * claim, reserve, record with the breaker window's count); a failure past the retries adds the window's Query, and
 * a breaker transition one conditional UpdateItem.
 */
export const runTool = async (deps: ToolRunnerDeps, input: RunToolInput): Promise<RunToolResult> => {
  const { tenantId, sessionId, turn, call } = input;
  const { agent, use, session, breakerSeen } = await findToolUse(deps, input);
  const profile = getProfile(agent);
  const tools = toolsForAgent(profile.actionGroups);
  const tool = tools.find((t) => t.name === call.name);
  const policyVerdict = verdictOf(profile, tool, input, use.input, deps.limits);
  const verdict =
    tool && requiresApproval(profile, tool.name)
      ? await approvalVerdict(deps, input, policyVerdict)
      : policyVerdict;
  const idempotencyKey = idempotencyKeyOf(input, verdict);
  const now = deps.now ?? Date.now;
  const claim = await deps.store.claimToolCall({
    tenantId,
    sessionId,
    turn,
    index: call.index,
    toolUseId: call.toolUseId,
    name: call.name,
    ...(tool ? { actionGroup: tool.actionGroup } : {}),
    input: use.input ?? {},
    inputHash: hash(use.input ?? {}),
    ...(verdict.coercions.length > 0 ? { coercions: verdict.coercions } : {}),
    idempotencyKey,
    leaseUntil: now() + leaseDurationMs(deps.retry),
  });
  if (!claim.leased) {
    if (claim.item.status === 'started') {
      throw new ToolCallInProgressError(
        `Tool call ${call.toolUseId} of turn ${turn} is being run by another attempt until ${new Date(
          claim.item.leaseUntil ?? 0,
        ).toISOString()}`,
      );
    }
    return { toolUseId: call.toolUseId, status: claim.item.status, replayed: true };
  }
  reportRefusal(input, tool, verdict);

  const startedAt = now();
  // A taken-over call runs with the key its first attempt recorded, whatever this attempt derived.
  const guard = breakerDeps(deps);
  const reserved =
    verdict.refusal === undefined && session ? await reserveCall(deps, session, input) : undefined;
  const checked = {
    profile,
    tools,
    input,
    verdict: reserved && !reserved.reserved ? budgetRefusal(reserved.stop) : verdict,
  };
  const outcome = await traceToolCall({ tenantId, sessionId, turn, tool: call.name }, () =>
    invokeChecked(deps, checked, claim.item.idempotencyKey, {
      ...(guard ? { guard } : {}),
      ...(breakerSeen ? { seen: breakerSeen } : {}),
    }),
  );
  const budget = session ? settleCall(deps, session, reserved) : { extraUpdates: [] };
  const { shown, parts } = splitResult(cappedResult(deps, input, outcome.result));
  const latencyMs = now() - startedAt;
  await deps.store.completeToolCall({
    tenantId,
    sessionId,
    turn,
    index: call.index,
    status: outcome.status,
    ...(outcome.errorKind ? { errorKind: outcome.errorKind } : {}),
    result: shown,
    resultHash: hash(outcome.result),
    latencyMs,
    invocations: outcome.invocations ?? 0,
    ...(parts ? { parts } : {}),
    ...(outcome.breaker ? { breaker: outcome.breaker } : {}),
    ...(outcome.fallback ? { fallback: outcome.fallback } : {}),
    ...(budget.settlement ? { settlement: budget.settlement } : {}),
    extraUpdates: [
      ...budget.extraUpdates,
      ...(guard && tool
        ? [
            ...windowUpdates(guard, tool, outcome),
            ...lastKnownGoodUpdates(guard, tool, outcome, { tenantId, sessionId, result: shown }),
          ]
        : []),
    ],
  });
  if (guard && tool) await settleBreaker(guard, tool, outcome);
  logToolCall(
    input,
    toolCallOf({ ...recorded(input, tool, outcome), attempts: claim.item.attempts, latencyMs }),
  );
  return { toolUseId: call.toolUseId, status: outcome.status, replayed: false };
};
