/**
 * RunTool's circuit breaker and fallback: reads the tool's breaker before invoking it, refuses or probes, answers
 * from the configured fallback when the breaker is open or the tool failed past its retries, and after the call is
 * recorded opens, closes or reopens the breaker (the execution that wins the transition publishes its event).
 */
import {
  admissionAt,
  type BreakerRecord,
  type BreakerSettings,
  type BreakerState,
  nextCooldownSeconds,
  resolveBreakerSettings,
  shouldOpen,
  stateAt,
  type WindowCounts,
} from '../agent/breaker';
import type { ToolDefinition } from '../agent/tools';
import { type ActionGroupEvent, TENANT_ID_ATTRIBUTE } from '../contracts/action-group';
import {
  CIRCUIT_CLOSED,
  CIRCUIT_HALF_OPENED,
  CIRCUIT_OPENED,
  type EventPublisher,
} from '../contracts/lifecycle-events';
import { countBreakerOpen } from '../observability/metrics';
import type { BreakerKind, BreakerStore, TransactUpdate } from '../store/breaker-store';
import type { LastKnownGoodStore } from '../store/last-known-good';
import type { ToolCallItem, ToolErrorKind } from '../store/session-store';

export interface ToolBreakerDeps {
  breakers: BreakerStore;
  events: EventPublisher;
  /** Where tools with a `lastKnownGood` fallback keep their tenants' last good answers. */
  lastKnownGood?: LastKnownGoodStore;
  /** The stage's cap on cooldowns (BREAKER_MAX_COOLDOWN_SECONDS), when it sets one. */
  maxCooldownSeconds?: number;
  /** How long a half-open probe holds its lease: longer than the call with all its retries can take. */
  probeLeaseMs: number;
  now: () => number;
}

export interface ToolOutcome {
  /** unknown: a side-effecting call whose outcome was lost past every retry (run-tool.ts gaveUp). */
  status: 'succeeded' | 'failed' | 'unknown';
  invocations?: number;
  errorKind?: ToolErrorKind;
  result: string;
}

/** An outcome with what the breaker saw, the fallback that answered, and what to count and settle. */
export interface GuardedOutcome extends ToolOutcome {
  breaker?: NonNullable<ToolCallItem['breaker']>;
  fallback?: NonNullable<ToolCallItem['fallback']>;
  /** The tool was invoked: its call counts in the window (failed: unhealthy, past RunTool's retries). */
  counted?: { failed: boolean };
  /** This call was the half-open probe. */
  probe?: { openedAt: number; lease: number };
  settings?: BreakerSettings;
  closedAt?: number;
}

type Invoke = (tool: ToolDefinition, event: ActionGroupEvent) => Promise<ToolOutcome>;

/**
 * Only invocation failures, timeouts and crashes past the retries say a tool is unhealthy (not FAILURE or REPROMPT);
 * a lost outcome (`lost`: the side effect may have happened) is one of them.
 */
const unhealthy = (outcome: ToolOutcome): boolean =>
  outcome.errorKind === 'invocation' || outcome.errorKind === 'lost';

const settingsOf = (deps: ToolBreakerDeps, tool: ToolDefinition): BreakerSettings =>
  resolveBreakerSettings(tool.breaker, deps.maxCooldownSeconds);

/** Publishes one breaker transition (only its winner calls this, so each appears once on the bus). */
export const publishTransition = (
  deps: Pick<ToolBreakerDeps, 'events'>,
  type: typeof CIRCUIT_OPENED | typeof CIRCUIT_HALF_OPENED | typeof CIRCUIT_CLOSED,
  detail: {
    kind?: BreakerKind;
    name: string;
    state: BreakerState;
    reason: string;
    cooldownSeconds?: number;
    counts?: WindowCounts;
  },
) => {
  if (type === CIRCUIT_OPENED) countBreakerOpen(detail.kind ?? 'tool');
  return deps.events.publish(type, {
    kind: detail.kind ?? 'tool',
    name: detail.name,
    state: detail.state,
    failureRate:
      detail.counts && detail.counts.calls > 0 ? detail.counts.failures / detail.counts.calls : null,
    calls: detail.counts?.calls ?? null,
    cooldownSeconds: detail.cooldownSeconds ?? null,
    reason: detail.reason,
  });
};

/** Before invoking: the state seen and whether this call runs, probes or is refused (a lost probe race refuses). */
const admit = async (deps: ToolBreakerDeps, tool: ToolDefinition, record: BreakerRecord | undefined) => {
  const admission = admissionAt(record, deps.now());
  if (admission !== 'probe' || !record) return { admission, state: stateAt(record, deps.now()) };
  const taken = await deps.breakers.takeProbe('tool', tool.name, record, deps.probeLeaseMs);
  if (!taken.won) return { admission: 'refuse' as const, state: 'half_open' as const };
  if (taken.first) {
    await publishTransition(deps, CIRCUIT_HALF_OPENED, {
      name: tool.name,
      state: 'half_open',
      reason: 'cooldown elapsed',
      ...(record.cooldownSeconds === undefined ? {} : { cooldownSeconds: record.cooldownSeconds }),
    });
  }
  return {
    admission,
    state: 'half_open' as const,
    probe: { openedAt: record.openedAt ?? 0, lease: taken.lease },
  };
};

type FallbackAnswer = Pick<GuardedOutcome, 'status' | 'result' | 'invocations' | 'errorKind' | 'fallback'>;

/** The operation's fixed answer, said to be one. */
const staticAnswer = (
  tool: ToolDefinition,
  text: string,
  why: { reason: string; failed: ToolOutcome },
): FallbackAnswer => ({
  status: 'succeeded',
  invocations: why.failed.invocations ?? 0,
  result: `${tool.name} is unavailable (${why.reason}); its configured fallback answer: ${text}`,
  fallback: { kind: 'static', reason: why.reason },
});

/**
 * The tenant's last good answer of the tool, said to be one with its age; without one (or too old) the static
 * answer configured beside it, else the failure stands.
 */
const answerFromLastKnownGood = async (
  deps: ToolBreakerDeps,
  tool: ToolDefinition,
  event: ActionGroupEvent,
  fallback: { lastKnownGood: { maxAgeSeconds: number }; static?: string },
  why: { reason: string; failed: ToolOutcome },
): Promise<FallbackAnswer> => {
  const tenantId = event.sessionAttributes[TENANT_ID_ATTRIBUTE];
  const { maxAgeSeconds } = fallback.lastKnownGood;
  const found =
    deps.lastKnownGood && tenantId
      ? await deps.lastKnownGood.get(tenantId, tool.name, maxAgeSeconds)
      : undefined;
  if (!found) return fallback.static === undefined ? why.failed : staticAnswer(tool, fallback.static, why);
  const ageMinutes = Math.round((deps.now() - found.at) / 60_000);
  return {
    status: 'succeeded',
    invocations: why.failed.invocations ?? 0,
    result:
      `${tool.name} is unavailable (${why.reason}); its last known good answer, from ` +
      `${new Date(found.at).toISOString()} (${ageMinutes} min ago; it may be out of date): ${found.result}`,
    fallback: { kind: 'last_known_good', reason: why.reason },
  };
};

/** Answers from the tool's fallback, saying plainly why; without a fallback the failure stands as it is. */
const answerFromFallback = async (
  deps: ToolBreakerDeps,
  tool: ToolDefinition,
  tools: readonly ToolDefinition[],
  event: ActionGroupEvent,
  invoke: Invoke,
  why: { reason: string; failed: ToolOutcome },
): Promise<FallbackAnswer> => {
  const fallback = tool.fallback;
  const failedCalls = why.failed.invocations ?? 0;
  // An unknown outcome stands: the side effect may have happened, and no fallback can say whether it did.
  if (fallback === undefined || why.failed.status === 'unknown') return why.failed;
  if ('lastKnownGood' in fallback) return answerFromLastKnownGood(deps, tool, event, fallback, why);
  if ('static' in fallback) return staticAnswer(tool, fallback.static, why);
  const target = tools.find((candidate) => candidate.name === fallback.tool);
  if (!target) return why.failed;
  const answer = await invoke(target, { ...event, actionGroup: target.actionGroup, function: target.name });
  return {
    ...answer,
    invocations: failedCalls + (answer.invocations ?? 0),
    result: `${tool.name} is unavailable (${why.reason}); answered by its fallback ${target.name}: ${answer.result}`,
    fallback: { kind: 'tool', tool: target.name, reason: why.reason },
  };
};

/**
 * Invokes a tool behind its breaker: one GetItem of the breaker's state first. Refused calls never invoke the tool;
 * they answer from the fallback, or fail with circuit_open.
 */
export const invokeBehindBreaker = async (
  deps: ToolBreakerDeps,
  call: {
    tool: ToolDefinition;
    tools: readonly ToolDefinition[];
    event: ActionGroupEvent;
    invoke: Invoke;
    /** The state already read with the call's message (RunTool's batched read); read here when absent. */
    seen?: { record: BreakerRecord | undefined };
  },
): Promise<GuardedOutcome> => {
  const { tool, tools, event, invoke } = call;
  const settings = settingsOf(deps, tool);
  const record = call.seen ? call.seen.record : await deps.breakers.getState('tool', tool.name);
  const gate = await admit(deps, tool, record);
  const closedAt = record?.closedAt === undefined ? {} : { closedAt: record.closedAt };
  const seen = {
    breaker: { state: gate.state, ...(gate.probe ? { probe: true } : {}) },
    settings,
    ...closedAt,
  };
  if (gate.admission === 'refuse') {
    const refused: ToolOutcome = {
      status: 'failed',
      errorKind: 'circuit_open',
      invocations: 0,
      result: `${tool.name} is unavailable (circuit open) and was not called. Continue without it or try again later.`,
    };
    return {
      ...seen,
      ...(await answerFromFallback(deps, tool, tools, event, invoke, {
        reason: 'circuit open',
        failed: refused,
      })),
    };
  }
  const outcome = await invoke(tool, event);
  const counted = { failed: unhealthy(outcome) };
  const probe = gate.probe ? { probe: gate.probe } : {};
  if (!counted.failed) return { ...seen, ...outcome, counted, ...probe };
  const reason = `failed after ${outcome.invocations ?? 0} attempts`;
  return {
    ...seen,
    ...(await answerFromFallback(deps, tool, tools, event, invoke, { reason, failed: outcome })),
    counted,
    ...probe,
  };
};

/** The window write that goes into the call's record transaction (none when the tool was never invoked). */
export const windowUpdates = (
  deps: ToolBreakerDeps,
  tool: ToolDefinition,
  outcome: GuardedOutcome,
): TransactUpdate[] =>
  outcome.counted && outcome.settings
    ? [deps.breakers.countUpdate('tool', tool.name, outcome.counted.failed, outcome.settings)]
    : [];

/**
 * The write that keeps a good answer of a tool with a `lastKnownGood` fallback, for the call's record transaction:
 * only for an answer of the tool itself (not of a fallback), as the model saw it.
 */
export const lastKnownGoodUpdates = (
  deps: ToolBreakerDeps,
  tool: ToolDefinition,
  outcome: GuardedOutcome,
  call: { tenantId: string; sessionId: string; result: string },
): TransactUpdate[] => {
  const fallback = tool.fallback;
  if (!deps.lastKnownGood || !fallback || !('lastKnownGood' in fallback)) return [];
  if (outcome.status !== 'succeeded' || outcome.fallback) return [];
  return [
    deps.lastKnownGood.recordUpdate({ ...call, tool: tool.name }, fallback.lastKnownGood.maxAgeSeconds),
  ];
};

/**
 * After the call is recorded (and counted): a probe settles the breaker; an unhealthy call reads the window (one
 * Query) and opens the breaker when the failure rate says so. Only the winner of a transition publishes it.
 */
export const settleBreaker = async (
  deps: ToolBreakerDeps,
  tool: ToolDefinition,
  outcome: GuardedOutcome,
): Promise<void> => {
  const { counted, settings, probe } = outcome;
  if (!counted || !settings) return;
  const name = tool.name;
  if (probe) {
    if (!counted.failed) {
      const closed = await deps.breakers.settleProbe('tool', name, probe, { healthy: true });
      if (closed.won)
        await publishTransition(deps, CIRCUIT_CLOSED, { name, state: 'closed', reason: 'probe succeeded' });
      return;
    }
    const record = await deps.breakers.getState('tool', name);
    const cooldownSeconds = nextCooldownSeconds(settings, record?.cooldownSeconds);
    const reason = 'probe failed';
    const reopened = await deps.breakers.settleProbe('tool', name, probe, {
      healthy: false,
      cooldownSeconds,
      reason,
    });
    if (reopened.won)
      await publishTransition(deps, CIRCUIT_OPENED, { name, state: 'open', reason, cooldownSeconds });
    return;
  }
  if (!counted.failed) return;
  const counts = await deps.breakers.readWindow('tool', name, settings, outcome.closedAt);
  if (!shouldOpen(settings, counts)) return;
  await openToolBreaker(deps, tool, 'failure rate', counts);
};

/** Opens a tool's breaker (the failure rate, or a loop Plan detected); the winner publishes Agent Circuit Opened. */
export const openToolBreaker = async (
  deps: Pick<ToolBreakerDeps, 'breakers' | 'events' | 'maxCooldownSeconds'>,
  tool: Pick<ToolDefinition, 'name' | 'breaker'>,
  reason: string,
  counts?: WindowCounts,
): Promise<boolean> => {
  const { cooldownSeconds } = resolveBreakerSettings(tool.breaker, deps.maxCooldownSeconds);
  const opened = await deps.breakers.open('tool', tool.name, cooldownSeconds, reason);
  if (opened.won) {
    await publishTransition(deps, CIRCUIT_OPENED, {
      name: tool.name,
      state: 'open',
      reason,
      cooldownSeconds,
      ...(counts ? { counts } : {}),
    });
  }
  return opened.won;
};
