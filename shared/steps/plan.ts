/**
 * The Plan step: the stop rules, then one model turn through Bedrock Converse with the agent's tools, settled and
 * committed. It is the only step of a turn besides the tool calls: there is no separate decision step.
 */
import type {
  ContentBlock,
  ConverseCommandInput,
  Message,
  SystemContentBlock,
  Tool,
} from '@aws-sdk/client-bedrock-runtime';
import * as z from 'zod';
import { budgetUsedFraction } from '../agent/budget';
import {
  buildMessages,
  compactToolResults,
  pendingToolUses,
  TOOL_OUTPUT_INSTRUCTION,
  toolUsesOf,
} from '../agent/conversation';
import { shouldContinueAsNew } from '../agent/history-budget';
import { stopBeforeNextTurn } from '../agent/limits';
import { type CatalogEntry, catalogEntry } from '../agent/models';
import { rateFor, type TokenUsage } from '../agent/pricing';
import { costMicros, microsToUsd, TURN_INFRASTRUCTURE_MICROS } from '../agent/pricing/micros';
import { type AgentProfile, getProfile } from '../agent/profiles';
import { countInputTokens, dearestRates, modelReservation } from '../agent/reservation';
import { chooseRoute, type ModelTiers, type Route } from '../agent/routing';
import { detectStepKind } from '../agent/step-kind';
import type { StopReason } from '../agent/stop-reasons';
import { allowedTools, approvalTimeoutSeconds, requiresApproval } from '../agent/tool-policy';
import { type ToolDefinition, toolsForAgent } from '../agent/tools';
import type { EventPublisher } from '../contracts/lifecycle-events';
import { errorKindOf } from '../observability/error-kind';
import { logModelCall, logPromptExchange } from '../observability/logs';
import { countStop } from '../observability/metrics';
import { logSecurityEvent } from '../observability/security-events';
import { modelCallOf } from '../observability/trace-records';
import { traceModelCall } from '../observability/xray';
import type { ModelAnswer, ModelProvider, ModelProviders } from '../providers/model-provider';
import type { GuardrailSettings } from '../runtime/config';
import { ModelRequestError, SessionStateError } from '../runtime/errors';
import { logger } from '../runtime/powertools';
import type { BudgetLedger, ReserveResult, Settlement } from '../store/budget-ledger';
import type { Conversation, MessageItem, SessionItem, SessionStore } from '../store/session-store';
import { alertSessionCost, alertTenantDay } from './cost-alerts';
import { converseOnTier, type ModelBreakerDeps, tierCandidates } from './model-fallback';
import { openToolBreaker } from './tool-breaker';

export const planInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
});
export type PlanInput = z.infer<typeof planInputSchema>;

export interface PlannedToolCall {
  toolUseId: string;
  name: string;
  index: number;
  /** Set on a call to a tool the profile marks requiresApproval: the Map routes it through RequestApproval. */
  approvalTimeoutSeconds?: number;
}

/**
 * What Plan returns into the state payload: ids and counters only, the same size at any conversation length. A
 * finish or stop carries the reason Finalize records.
 */
export type PlanResult =
  | {
      turn: number;
      action: 'tools';
      toolCalls: PlannedToolCall[];
      reason: null;
      /** Some call waits for a person: the state machine runs this turn's calls through RunToolsWithApprovals. */
      approvals?: true;
    }
  | { turn: number; action: 'finish'; toolCalls: []; reason: 'completed' }
  | { turn: number; action: 'stop'; toolCalls: []; reason: Exclude<StopReason, 'completed'> }
  /** This execution's history nears its limit: the session goes on in a new execution (continue-as-new). */
  | { turn: number; action: 'continue'; toolCalls: []; reason: null };

export interface PlanDeps {
  store: SessionStore;
  /** Bedrock Converse, and the private SageMaker endpoint where the stage has one; the catalog says which a model uses. */
  providers: ModelProviders;
  tiers: ModelTiers;
  /** Off sends no cache points to any model (the stage's PROMPT_CACHING); on sends them where the catalog allows. */
  promptCaching?: boolean;
  /** Breakers per model id and per tool (a loop opens its tool's); without them every turn uses the tier's model. */
  breakers?: Omit<ModelBreakerDeps, 'now'>;
  /** Estimated history events after which the session continues in a new execution (HISTORY_EVENT_BUDGET). */
  historyEventBudget?: number;
  /**
   * The budget ledger: each model call's worst case is reserved first and settled in the turn's commit; with
   * `events`, cost alerts are sent. Without it (unit tests of the loop) calls are only counted.
   */
  budget?: { ledger: BudgetLedger; events: EventPublisher };
  /** Prompts and completions go to the log at DEBUG (LOG_PROMPTS on); off by default. */
  logPrompts?: boolean;
  /** The stage's Bedrock guardrail (GUARDRAIL_ID, GUARDRAIL_VERSION): sent with every Bedrock call; none without it. */
  guardrail?: GuardrailSettings;
  now?: () => number;
}

/** How long a Plan's reservation holds before a later reserve may release it: longer than a Plan Lambda can run. */
/** Converse's stopReason when a guardrail blocked the input or the output (the content is the guardrail's message). */
const GUARDRAIL_INTERVENED = 'guardrail_intervened';

export const PLAN_RESERVATION_MS = 15 * 60_000;

export const toolSpecs = (tools: ToolDefinition[]): Tool[] =>
  tools.map((tool) => ({
    toolSpec: {
      name: tool.name,
      description: tool.description,
      // The SDK types the schema as a DocumentType; our OpenAPI schemas are plain JSON.
      inputSchema: { json: tool.inputSchema as never },
    },
  }));

const CACHE_POINT = { cachePoint: { type: 'default' as const } };

/** Copies of `messages` with a cache point appended to each message at the given indexes. */
const withCachePointsAt = (messages: Message[], marked: Set<number>): Message[] =>
  messages.map((m, i) => (marked.has(i) ? { ...m, content: [...(m.content ?? []), CACHE_POINT] } : m));

/**
 * Conversation checkpoints: after the last message (this request writes the prefix through it) and after the last
 * message of the previous turn's request (whose prefix that request wrote, so this one reads it); Bedrock looks a
 * prefix up only at the checkpoints a request marks, hence two.
 */
type CachePlace = 'system' | 'lastMessage' | 'previousTurn' | 'tools';

/**
 * Where this request puts cache points, in order of worth: after the system prompt (the model reads it after the
 * tools, so it caches both), after the last message and the previous turn's last message, then after the tools.
 * Only in the fields the model's catalog entry accepts (Nova: not in toolConfig.tools), at most its maxCheckpoints;
 * none for a model without prompt caching or with caching off. A checkpoint below the model's minimum prefix is
 * ignored by Bedrock, not refused.
 */
export const cachePlaces = (
  entry: CatalogEntry | undefined,
  messageCount: number,
  caching: boolean,
): Set<CachePlace> => {
  const cache = entry?.promptCaching;
  if (!caching || !cache) return new Set();
  const fields = new Set(cache.fields);
  const wanted: [CachePlace, boolean][] = [
    ['system', fields.has('system')],
    ['lastMessage', fields.has('messages') && messageCount >= 1],
    ['previousTurn', fields.has('messages') && messageCount >= 3],
    ['tools', fields.has('tools')],
  ];
  return new Set(
    wanted
      .filter(([, ok]) => ok)
      .map(([place]) => place)
      .slice(0, cache.maxCheckpoints),
  );
};

/**
 * The Converse request of a turn, built from the catalog entry of the routed model: cache points where it accepts
 * them (cachePlaces) and maxTokens no higher than the model's own output limit.
 */
export const buildRequest = (input: {
  profile: AgentProfile;
  session: SessionItem;
  conversation: Conversation;
  route: Route;
  tools: ToolDefinition[];
  turn: number;
  promptCaching: boolean;
  guardrail?: GuardrailSettings;
}): ConverseCommandInput => {
  const entry = catalogEntry(input.route.modelId);
  const messages = buildMessages(input.conversation);
  const places = cachePlaces(entry, messages.length, input.promptCaching);
  const system: SystemContentBlock[] = [
    { text: `${input.profile.instructions}\n\n${TOOL_OUTPUT_INSTRUCTION}` },
  ];
  if (places.has('system')) system.push(CACHE_POINT);
  const marked = new Set<number>();
  if (places.has('lastMessage')) marked.add(messages.length - 1);
  if (places.has('previousTurn')) marked.add(messages.length - 3);
  const tools: Tool[] = toolSpecs(input.tools);
  if (places.has('tools')) tools.push(CACHE_POINT);
  const maxTokens = Math.min(
    input.profile.inference.maxTokens,
    entry?.maxOutputTokens ?? Number.POSITIVE_INFINITY,
  );
  return {
    modelId: input.route.modelId,
    system,
    messages: withCachePointsAt(messages, marked),
    toolConfig: { tools },
    inferenceConfig: { maxTokens, temperature: input.profile.inference.temperature },
    // Converse only: the private endpoint (SageMaker) has no guardrails, and the catalog keeps restricted data there.
    ...(input.guardrail && (entry?.provider ?? 'bedrock') === 'bedrock'
      ? { guardrailConfig: { ...input.guardrail, trace: 'enabled' as const } }
      : {}),
    requestMetadata: {
      tenantId: input.session.tenantId,
      sessionId: input.session.sessionId,
      agent: input.session.agent,
      turn: String(input.turn),
    },
  };
};

const toolCallsOf = (content: ContentBlock[]): PlannedToolCall[] =>
  content
    .flatMap((block) => (block.toolUse ? [block.toolUse] : []))
    .map((use, index) => ({
      toolUseId: use.toolUseId ?? '',
      name: use.name ?? '',
      index,
    }));

/**
 * The plan a committed assistant message stands for: a stop when the guardrail intervened (the message is the
 * guardrail's), else its tool calls, or finish when it has none.
 */
const planFromMessage = (message: Pick<MessageItem, 'turn' | 'content' | 'stopReason'>): PlanResult => {
  if (message.stopReason === GUARDRAIL_INTERVENED) {
    return { turn: message.turn, action: 'stop', toolCalls: [], reason: GUARDRAIL_INTERVENED };
  }
  const toolCalls = toolCallsOf(message.content);
  return toolCalls.length > 0
    ? { turn: message.turn, action: 'tools', toolCalls, reason: null }
    : { turn: message.turn, action: 'finish', toolCalls: [], reason: 'completed' };
};

/** Decide what a stored conversation already says, so a retried or resumed Plan never calls the model twice. */
const replay = (conversation: Conversation): PlanResult | undefined => {
  const last = conversation.messages.at(-1);
  if (last?.role !== 'assistant') return undefined;
  if (toolUsesOf(last).length === 0) return planFromMessage(last);
  if (pendingToolUses(conversation, last).length > 0) {
    // Tool calls of the last committed turn are not all recorded: run them (finished ones replay their outcome).
    return { turn: last.turn, action: 'tools', toolCalls: toolCallsOf(last.content), reason: null };
  }
  return undefined;
};

/** Whether this execution's history (turns and calls since it began, `runStartTurn`) would pass its budget next turn. */
const historyNearlyFull = (conversation: Conversation, budget: number | undefined): boolean => {
  if (budget === undefined) return false;
  const { session, toolCalls } = conversation;
  const since = session.runStartTurn ?? 0;
  const calls = toolCalls.filter((c) => c.turn > since);
  const perTurn = new Map<number, number>();
  for (const c of calls) perTurn.set(c.turn, (perTurn.get(c.turn) ?? 0) + 1);
  return shouldContinueAsNew(session.turn - since, calls.length, Math.max(0, ...perTurn.values()), budget);
};

/** The model call of a turn, with what it cost; the ids and counters of the turn go into the state payload. */
export type PlanOutcome = PlanResult & {
  modelId?: string;
  tier?: string;
  usage?: TokenUsage;
  costUsd?: number;
};

/**
 * Routes the turn to a model tier by its step kind and the budget used (compacting the history near the cap) and
 * prices it; an unknown price fails here, before anything is spent.
 */
const routeTurn = (
  deps: PlanDeps,
  conversation: Conversation,
  profile: AgentProfile,
  turn: number,
  fallback?: { modelId: string; reason: string },
) => {
  const { session } = conversation;
  const tools = allowedTools(profile);
  const step = detectStepKind({
    turn,
    toolCalls: conversation.toolCalls,
    tools,
    summarizeAboveChars: profile.routing.summarizeAboveChars,
  });
  const chosen = chooseRoute(
    {
      profile,
      goal: session.goal,
      toolCount: tools.length,
      dataClassification: session.limits.dataClassification,
      latencyToleranceMs: session.limits.latencyToleranceMs,
      step,
      budgetUsed: budgetUsedFraction(session, session.limits),
    },
    deps.tiers,
  );
  const route = fallback
    ? { ...chosen, modelId: fallback.modelId, reason: `${chosen.reason}; ${fallback.reason}` }
    : chosen;
  const rate = rateFor(route.modelId, route.tier);
  const request = buildRequest({
    profile,
    session,
    // Near the cap the older turns' tool results go as short stubs (the route's reason says so).
    conversation: route.degraded
      ? compactToolResults(conversation, profile.routing.degrade.keepResultChars)
      : conversation,
    route,
    tools,
    turn,
    promptCaching: deps.promptCaching !== false,
    ...(deps.guardrail ? { guardrail: deps.guardrail } : {}),
  });
  return { route, rate, request };
};

/** An answer the loop can use: a tool call or some text (an answer cut at max_tokens may keep neither). */
export const isUsableAnswer = (content: ContentBlock[]): boolean =>
  content.some((block) => block.toolUse !== undefined || (block.text ?? '').trim() !== '');

/** The provider a model id is served by (the catalog's entry; Bedrock for an id the catalog does not know). */
export const providerFor = (providers: ModelProviders, modelId: string): ModelProvider => {
  const name = catalogEntry(modelId)?.provider ?? 'bedrock';
  const provider = providers[name];
  if (!provider)
    throw new ModelRequestError(
      `Model ${modelId} needs the ${name} provider, which this stage has not configured`,
    );
  return provider;
};

/**
 * One model call through its provider (errors already mapped to the ASL's names; an unusable answer is Plan's to
 * refuse), its prompt and completion logged with LOG_PROMPTS; a call that fails is a trace record of its own here
 * (an answered one is recorded with its cost in recordTurn).
 */
const converse = async (
  deps: PlanDeps,
  session: SessionItem,
  { route, request }: Pick<ReturnType<typeof routeTurn>, 'route' | 'request'>,
  turn: number,
): Promise<ModelAnswer> => {
  const { modelId, tier, stepKind } = route;
  const started = Date.now();
  try {
    const answer = await traceModelCall(request, modelId, () =>
      providerFor(deps.providers, modelId).converse(request),
    );
    logPromptExchange(deps.logPrompts === true, { turn, modelId }, request, answer.content);
    return answer;
  } catch (error) {
    logPromptExchange(deps.logPrompts === true, { turn, modelId }, request, undefined);
    const provider = catalogEntry(modelId)?.provider ?? 'bedrock';
    const attempt = { turn, modelId, tier, provider, latencyMs: Date.now() - started };
    logModelCall(session, modelCallOf({ ...attempt, ...(stepKind ? { stepKind } : {}) }, errorKindOf(error)));
    throw error;
  }
};

/**
 * The turn's answer from the routed tier: its model, or (with breakers) the tier's next model when that one's
 * breaker is open or it throttles past the SDK's retries; the turn's routeReason says which were passed over.
 */
const answerTurn = async (
  deps: PlanDeps,
  conversation: Conversation,
  profile: AgentProfile,
  turn: number,
) => {
  const routed = routeTurn(deps, conversation, profile, turn);
  if (!deps.breakers) return { ...routed, answer: await converse(deps, conversation.session, routed, turn) };
  const breakers = { ...deps.breakers, ...(deps.now ? { now: deps.now } : {}) };
  let chosen = routed;
  const { answer } = await converseOnTier(
    breakers,
    tierCandidates(routed.route, deps.tiers),
    (modelId, passed) => {
      chosen =
        modelId === routed.route.modelId
          ? routed
          : routeTurn(deps, conversation, profile, turn, {
              modelId,
              reason: `fell back to ${modelId} (${passed.join('; ')})`,
            });
      return converse(deps, conversation.session, chosen, turn);
    },
  );
  return { ...chosen, answer };
};

/** A loop stop opens the looped tool's breaker (reason "loop"): other sessions stop calling it into the same loop. */
const openLoopedTool = async (deps: PlanDeps, conversation: Conversation, profile: AgentProfile) => {
  if (!deps.breakers) return;
  const last = [...conversation.toolCalls].sort((a, b) => a.turn - b.turn || a.index - b.index).at(-1);
  const tool = last && toolsForAgent(profile.actionGroups).find((t) => t.name === last.name);
  if (tool) await openToolBreaker(deps.breakers, tool, 'loop');
};

/** Tokens a call is billed for (cache reads and writes included), as the token budget counts them. */
const tokensOf = (usage: TokenUsage): number =>
  usage.input + usage.output + usage.cacheRead + usage.cacheWrite;

/**
 * Reserves the turn's worst case on the ledger: the request's counted input tokens (countInputTokens) plus its
 * maxTokens, priced at the dearest rates of the tier's models (a fallback may answer), plus the turn's
 * infrastructure. The id is the turn's, so a retried Plan reuses its own reservation.
 */
const reserveTurn = (
  deps: PlanDeps,
  conversation: Conversation,
  profile: AgentProfile,
  turn: number,
): Promise<ReserveResult> | undefined => {
  if (!deps.budget) return undefined;
  const { route, request } = routeTurn(deps, conversation, profile, turn);
  const rates = dearestRates(tierCandidates(route, deps.tiers).map((id) => rateFor(id, route.tier)));
  const previous = conversation.messages.findLast((m) => m.role === 'assistant');
  const inputTokens = countInputTokens(request, previous);
  const maxTokens = request.inferenceConfig?.maxTokens ?? profile.inference.maxTokens;
  return deps.budget.ledger.reserve({
    session: conversation.session,
    id: `turn-${turn}`,
    ...modelReservation(inputTokens, maxTokens, rates),
    ttlMs: PLAN_RESERVATION_MS,
    release: true,
  });
};

/** A budget stop's alerts: the session's 100 % for its USD budget, the tenant day's 100 % for its cap. */
const alertStop = async (deps: PlanDeps, session: SessionItem, stop: StopReason): Promise<void> => {
  if (!deps.budget) return;
  if (stop === 'usd_budget') await alertSessionCost(deps.budget, session, session.costMicros ?? 0, true);
  if (stop === 'tenant_daily_cap') await alertTenantDay(deps.budget, session, true);
};

/** The settlement of a turn's reservation and the tenant day's side of it, for the write that records the call. */
const settle = (
  deps: PlanDeps,
  session: SessionItem,
  reserved: ReserveResult | undefined,
  usage: TokenUsage,
  micros: number,
) => {
  if (!deps.budget) return {};
  const settlement: Settlement | undefined = reserved?.reserved
    ? {
        id: reserved.id,
        reservation: reserved.reservation,
        actualMicros: micros,
        actualTokens: tokensOf(usage),
      }
    : undefined;
  return {
    ...(settlement ? { settlement } : {}),
    extraUpdates: [deps.budget.ledger.daySettlement(session.tenantId, settlement, micros, tokensOf(usage))],
  };
};

/**
 * Records a model call: its CPTO in micro-dollars (tokens and the turn's infrastructure; costUsd derived), its
 * reservation settled in the same write, then the turn committed (an unusable answer is only counted, and fails the
 * attempt) and the cost thresholds it crossed alerted.
 */
const recordTurn = async (
  deps: PlanDeps,
  session: SessionItem,
  turn: number,
  { route, rate, answer }: Awaited<ReturnType<typeof answerTurn>>,
  reserved: ReserveResult | undefined,
): Promise<PlanOutcome> => {
  // CPTO in micro-dollars (the model's tokens and the turn's infrastructure); costUsd is derived from it.
  const micros = costMicros(answer.usage, rate) + TURN_INFRASTRUCTURE_MICROS;
  const costUsd = microsToUsd(micros);
  const provider = catalogEntry(route.modelId)?.provider ?? 'bedrock';
  const call = {
    turn,
    modelId: route.modelId,
    tier: route.tier,
    ...(route.stepKind ? { stepKind: route.stepKind } : {}),
    usage: answer.usage,
    costUsd,
    costMicros: micros,
    provider,
    latencyMs: answer.latencyMs,
    ...(answer.stopReason ? { stopReason: answer.stopReason } : {}),
  };
  logModelCall(session, modelCallOf(call, isUsableAnswer(answer.content) ? 'ok' : 'unusable'));
  const ledger = {
    ...settle(deps, session, reserved, answer.usage, micros),
    modelSeen: session.modelUsage?.[route.modelId] !== undefined,
  };
  if (!isUsableAnswer(answer.content)) {
    // No turn is committed for it, but the call was made and paid for: its usage goes on the session first.
    await deps.store.recordModelUsage({
      tenantId: session.tenantId,
      sessionId: session.sessionId,
      modelId: route.modelId,
      usage: answer.usage,
      costUsd,
      costMicros: micros,
      provider,
      ...ledger,
    });
    throw new ModelRequestError(
      `Converse returned no usable content for ${route.modelId} (stopReason ${answer.stopReason ?? 'none'})`,
    );
  }
  const committed = await deps.store.commitTurn({
    tenantId: session.tenantId,
    sessionId: session.sessionId,
    message: {
      ...call,
      role: 'assistant',
      agent: session.agent,
      content: answer.content,
      routeReason: route.reason,
    },
    ...ledger,
  });
  if (!committed.committed) {
    // Another attempt committed this turn first; its answer is the one the session keeps.
    if (committed.message) return planFromMessage(committed.message);
    const current = committed.session;
    throw new SessionStateError(
      `Turn ${turn} of session ${session.sessionId} could not be committed` +
        (current ? `: the session is ${current.status} at turn ${current.turn}` : ''),
    );
  }
  if (deps.budget) {
    await alertSessionCost(deps.budget, session, (session.costMicros ?? 0) + micros);
    await alertTenantDay(deps.budget, session);
  }
  if (answer.stopReason === GUARDRAIL_INTERVENED) {
    logSecurityEvent(GUARDRAIL_INTERVENED, {
      sessionId: session.sessionId,
      tenantId: session.tenantId,
      turn,
      modelId: route.modelId,
      guardrailId: deps.guardrail?.guardrailIdentifier ?? null,
    });
  }
  const plan = planFromMessage({ turn, content: answer.content, stopReason: answer.stopReason });
  return { ...plan, modelId: route.modelId, tier: route.tier, usage: answer.usage, costUsd };
};

/**
 * The plan with each call that needs a person's approval marked with how long the approval waits. A replayed
 * turn's call that already has its outcome is not asked again: RunTool replays it.
 */
const withApprovals = <P extends PlanResult>(
  plan: P,
  profile: AgentProfile,
  conversation: Conversation,
): P => {
  if (plan.action !== 'tools') return plan;
  const timeout = approvalTimeoutSeconds(profile, conversation.session.limits);
  const finished = new Set(
    conversation.toolCalls
      .filter((c) => c.turn === plan.turn && c.status !== 'started')
      .map((c) => c.toolUseId),
  );
  const toolCalls = plan.toolCalls.map((call) =>
    requiresApproval(profile, call.name) && !finished.has(call.toolUseId)
      ? { ...call, approvalTimeoutSeconds: timeout }
      : call,
  );
  if (!toolCalls.some((call) => call.approvalTimeoutSeconds !== undefined)) return plan;
  return { ...plan, toolCalls, approvals: true };
};

/**
 * Plan: replay what the stored conversation already says, stop when a stop rule says so (loop, schema, budget,
 * turn limit), else route, call the model and commit the turn. A retried or resumed Plan never calls the model for
 * a turn that is already committed. One Query and two transactions per turn: the budget reservation, and the
 * commit that settles it.
 */
export const planTurn = async (
  deps: PlanDeps,
  input: Pick<PlanInput, 'tenantId' | 'sessionId'>,
): Promise<PlanOutcome> => {
  const conversation = await deps.store.loadConversation(input.tenantId, input.sessionId);
  const { session } = conversation;
  if (session.status !== 'running') {
    throw new SessionStateError(
      `Session ${session.sessionId} is ${session.status}; only a running session plans`,
    );
  }
  // Spend since the last turn (its tool calls) may have crossed a threshold: no request unless one is due.
  if (deps.budget) await alertSessionCost(deps.budget, session, session.costMicros ?? 0);
  const profile = getProfile(session.agent);
  const replayed = replay(conversation);
  if (replayed) return withApprovals(replayed, profile, conversation);
  const stop = stopBeforeNextTurn(session, conversation.toolCalls, profile.limits);
  if (stop === 'loop_detected') await openLoopedTool(deps, conversation, profile);
  if (stop) {
    countStop(stop);
    await alertStop(deps, session, stop);
    return { turn: session.turn, action: 'stop', toolCalls: [], reason: stop };
  }
  if (historyNearlyFull(conversation, deps.historyEventBudget)) {
    return { turn: session.turn, action: 'continue', toolCalls: [], reason: null };
  }

  const turn = session.turn + 1;
  logger.appendKeys({ turn });
  const reserved = await reserveTurn(deps, conversation, profile, turn);
  if (reserved && !reserved.reserved) {
    countStop(reserved.stop);
    await alertStop(deps, session, reserved.stop);
    return { turn: session.turn, action: 'stop', toolCalls: [], reason: reserved.stop };
  }
  const recorded = await recordTurn(
    deps,
    session,
    turn,
    await answerTurn(deps, conversation, profile, turn),
    reserved,
  );
  return withApprovals(recorded, profile, conversation);
};
