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
import { validateToolInput } from '../agent/tool-input';
import {
  type ActionGroupFunctions,
  getActionGroup,
  offeredTools,
  type ToolDefinition,
  toolsForAgent,
} from '../agent/tools';
import {
  type ActionGroupEvent,
  actionGroupResponseSchema,
  buildActionGroupEvent,
  toActionGroupParameters,
} from '../contracts/action-group';
import { ConfigError, SessionStateError, ToolInvocationError, ToolTimeoutError } from '../runtime/errors';
import { type RetryPolicy, withFullJitter } from '../runtime/retry';
import { breakerRecordOf } from '../store/breaker-store';
import type { SessionStore, ToolCallStatus } from '../store/session-store';
import { keys } from '../store/table';
import {
  type GuardedOutcome,
  invokeBehindBreaker,
  settleBreaker,
  type ToolBreakerDeps,
  windowUpdates,
} from './tool-breaker';

/** Results fed back to the model are capped so one chatty tool cannot blow the context or the item size. */
export const MAX_RESULT_CHARS = 20_000;

export const runToolInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(1),
  call: z.object({ toolUseId: z.string().min(1), name: z.string().min(1), index: z.number().int().min(0) }),
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

const truncate = (text: string): string =>
  text.length <= MAX_RESULT_CHARS
    ? text
    : `${text.slice(0, MAX_RESULT_CHARS)}\n[truncated ${text.length - MAX_RESULT_CHARS} characters]`;

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
    try {
      const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
      detail = `${parsed.errorType ?? 'Error'}: ${parsed.errorMessage ?? ''}`;
    } catch {
      // not JSON: keep the raw payload text as the detail
    }
    throw new ToolInvocationError(`${event.function} failed (${out.FunctionError}): ${detail}`);
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
 * The stored tool use this call refers to, and the agent whose tools it may use, from the one message read: a call
 * the committed turn does not contain is refused. A message committed before messages named their agent costs a
 * read of the session.
 */
const findToolUse = async (deps: ToolRunnerDeps, input: RunToolInput) => {
  const { tenantId, sessionId, turn, call } = input;
  // With breakers, the called tool's breaker comes in the same request (BatchGetItem), not a read of its own.
  const breakerKey = keys.breaker('tool', call.name);
  const read = deps.breakers
    ? await deps.store.getMessageAnd(tenantId, sessionId, turn, breakerKey)
    : { message: await deps.store.getMessage(tenantId, sessionId, turn) };
  const { message } = read;
  const breakerSeen = deps.breakers
    ? { record: breakerRecordOf('other' in read ? read.other : undefined, breakerKey) }
    : undefined;
  const use = message ? toolUsesOf(message).find((u) => u.toolUseId === call.toolUseId) : undefined;
  if (!use)
    throw new SessionStateError(`Turn ${turn} of session ${sessionId} has no tool call ${call.toolUseId}`);
  const agent = message?.agent ?? (await deps.store.requireSession(tenantId, sessionId)).agent;
  return { agent, use, ...(breakerSeen ? { breakerSeen } : {}) };
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
    return {
      status: 'failed',
      errorKind: 'invocation',
      invocations,
      result: `${tool.name} failed after ${invocations} attempts: ${(error as Error).message}`,
    };
  }
};

interface ClaimedCall {
  input: RunToolInput;
  profile: AgentProfile;
  tools: ToolDefinition[];
  tool: ToolDefinition | undefined;
  toolInput: unknown;
  idempotencyKey: string;
  /** The tool's breaker as read with the message. */
  breakerSeen?: { record: BreakerRecord | undefined };
}

/** Checks a claimed call (per-turn limit, known tool, schema) and runs it; every refusal is an outcome. */
const outcomeOf = async (deps: ToolRunnerDeps, claimed: ClaimedCall): Promise<Outcome> => {
  const { input, profile, tools, tool } = claimed;
  const { maxToolCallsPerTurn } = profile.limits;
  if (input.call.index >= maxToolCallsPerTurn) {
    return {
      status: 'failed',
      errorKind: 'tool',
      result: `Not run: at most ${maxToolCallsPerTurn} tool calls per turn. Call fewer tools at once.`,
    };
  }
  if (!tool) {
    return {
      status: 'failed',
      errorKind: 'unknown_tool',
      result: `Unknown tool "${input.call.name}". Available tools: ${offeredTools(tools)
        .map((t) => t.name)
        .join(', ')}.`,
    };
  }
  const validation = validateToolInput(tool, claimed.toolInput);
  if (!validation.ok) {
    return {
      status: 'failed',
      errorKind: 'schema',
      result: `Invalid parameters for ${tool.name}: ${validation.errors.join('; ')}. Fix them and call the tool again.`,
    };
  }
  const event = buildActionGroupEvent({
    agent: { name: profile.name, id: profile.name, alias: 'sovereign-agent', version: '1' },
    sessionId: input.sessionId,
    actionGroup: tool.actionGroup,
    function: tool.name,
    parameters: toActionGroupParameters(validation.input, tool.inputSchema),
    tenantId: input.tenantId,
    idempotencyKey: claimed.idempotencyKey,
  });
  const guard = breakerDeps(deps);
  if (!guard) return invokeTool(deps, tool, event);
  return invokeBehindBreaker(guard, {
    tool,
    tools,
    event,
    invoke: (target, targetEvent) => invokeTool(deps, target, targetEvent),
    ...(claimed.breakerSeen ? { seen: claimed.breakerSeen } : {}),
  });
};

/**
 * RunTool: find the stored tool use, claim the call (a finished one is replayed, never re-run), work out its
 * outcome behind the tool's breaker, and record it once: three DynamoDB requests per call (read the message with
 * the tool's breaker, claim, record with the breaker window's count); a failure past the retries adds the window's
 * Query, and a breaker transition one conditional UpdateItem.
 */
export const runTool = async (deps: ToolRunnerDeps, input: RunToolInput): Promise<RunToolResult> => {
  const { tenantId, sessionId, turn, call } = input;
  const { agent, use, breakerSeen } = await findToolUse(deps, input);
  const profile = getProfile(agent);
  const tools = toolsForAgent(profile.actionGroups);
  const tool = tools.find((t) => t.name === call.name);
  const idempotencyKey = hash({ tenantId, sessionId, turn, toolUseId: call.toolUseId });
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
    idempotencyKey,
  });
  if (claim.item.status !== 'started') {
    return { toolUseId: call.toolUseId, status: claim.item.status, replayed: true };
  }

  const now = deps.now ?? Date.now;
  const startedAt = now();
  const outcome = await outcomeOf(deps, {
    input,
    profile,
    tools,
    tool,
    toolInput: use.input,
    idempotencyKey,
    ...(breakerSeen ? { breakerSeen } : {}),
  });
  const result = truncate(outcome.result);
  const guard = breakerDeps(deps);
  await deps.store.completeToolCall({
    tenantId,
    sessionId,
    turn,
    index: call.index,
    status: outcome.status,
    ...(outcome.errorKind ? { errorKind: outcome.errorKind } : {}),
    result,
    resultHash: hash(result),
    latencyMs: now() - startedAt,
    invocations: outcome.invocations ?? 0,
    ...(outcome.breaker ? { breaker: outcome.breaker } : {}),
    ...(outcome.fallback ? { fallback: outcome.fallback } : {}),
    ...(guard && tool ? { extraUpdates: windowUpdates(guard, tool, outcome) } : {}),
  });
  if (guard && tool) await settleBreaker(guard, tool, outcome);
  return { toolUseId: call.toolUseId, status: outcome.status, replayed: false };
};
