/**
 * Plan's model breakers and tier fallback lists: each model id has a breaker (the tools' store); a model whose
 * breaker is open, or whose Converse call throttles or is unavailable past the SDK's retries, gives the turn to the
 * tier's next model. The list is the tier's own, so the restricted tier never reaches a public model.
 */
import {
  admissionAt,
  type BreakerSettings,
  nextCooldownSeconds,
  resolveBreakerSettings,
  shouldOpen,
} from '../agent/breaker';
import type { ModelTiers, Route } from '../agent/routing';
import {
  CIRCUIT_CLOSED,
  CIRCUIT_HALF_OPENED,
  CIRCUIT_OPENED,
  type EventPublisher,
} from '../contracts/lifecycle-events';
import { ModelThrottledError, ModelUnavailableError } from '../runtime/errors';
import type { BreakerStore } from '../store/breaker-store';
import { publishTransition } from './tool-breaker';

export interface ModelBreakerDeps {
  breakers: BreakerStore;
  events: EventPublisher;
  maxCooldownSeconds?: number;
  now?: () => number;
}

/** The models a route may use, in order: the tier's model, then the tier's own fallbacks. */
export const tierCandidates = (route: Pick<Route, 'tier' | 'modelId'>, tiers: ModelTiers): string[] => [
  ...new Set([route.modelId, ...(tiers.fallbacks?.[route.tier] ?? [])]),
];

const isOutage = (error: unknown): error is ModelThrottledError | ModelUnavailableError =>
  error instanceof ModelThrottledError || error instanceof ModelUnavailableError;

/** How long a model probe holds its lease: one Converse call with the SDK's retries. */
const MODEL_PROBE_LEASE_MS = 120_000;

/** Whether this model may be called now: closed, or this execution won the half-open probe. */
const admitModel = async (deps: ModelBreakerDeps, modelId: string) => {
  const now = (deps.now ?? Date.now)();
  const record = await deps.breakers.getState('model', modelId);
  const admission = admissionAt(record, now);
  if (admission === 'call') return { admitted: true as const };
  if (admission === 'refuse' || !record) return { admitted: false as const };
  const taken = await deps.breakers.takeProbe('model', modelId, record, MODEL_PROBE_LEASE_MS);
  if (!taken.won) return { admitted: false as const };
  if (taken.first) {
    await publishTransition(deps, CIRCUIT_HALF_OPENED, {
      kind: 'model',
      name: modelId,
      state: 'half_open',
      reason: 'cooldown elapsed',
    });
  }
  return {
    admitted: true as const,
    probe: { openedAt: record.openedAt ?? 0, lease: taken.lease },
    cooldownSeconds: record.cooldownSeconds,
  };
};

type Admitted = Awaited<ReturnType<typeof admitModel>>;

/**
 * A model failed past the SDK's retries: count it; a probe reopens the breaker longer, otherwise the window may
 * open it. Only failures are counted for models, so the window opens after minCalls of them.
 */
const recordOutage = async (
  deps: ModelBreakerDeps,
  modelId: string,
  gate: Admitted,
  settings: BreakerSettings,
) => {
  await deps.breakers.count('model', modelId, true, settings);
  const kind = 'model' as const;
  if (gate.admitted && gate.probe) {
    const cooldownSeconds = nextCooldownSeconds(settings, gate.cooldownSeconds);
    const reason = 'probe failed';
    const reopened = await deps.breakers.settleProbe(kind, modelId, gate.probe, {
      healthy: false,
      cooldownSeconds,
      reason,
    });
    if (reopened.won) {
      await publishTransition(deps, CIRCUIT_OPENED, {
        kind,
        name: modelId,
        state: 'open',
        reason,
        cooldownSeconds,
      });
    }
    return;
  }
  const counts = await deps.breakers.readWindow(kind, modelId, settings);
  if (!shouldOpen(settings, counts)) return;
  const { cooldownSeconds } = settings;
  const opened = await deps.breakers.open(kind, modelId, cooldownSeconds, 'failure rate');
  if (opened.won) {
    await publishTransition(deps, CIRCUIT_OPENED, {
      kind,
      name: modelId,
      state: 'open',
      reason: 'failure rate',
      cooldownSeconds,
      counts,
    });
  }
};

/**
 * Calls the first model of the list that is admitted and answers; says on the way which models were passed over
 * and why. With every model refused or failing, the last outage error is thrown (the ASL retries it, then the
 * session fails resumably), or ModelUnavailableError when every breaker was open.
 */
export const converseOnTier = async <A>(
  deps: ModelBreakerDeps,
  candidates: readonly string[],
  call: (modelId: string, passedOver: readonly string[]) => Promise<A>,
): Promise<{ answer: A; modelId: string; passedOver: string[] }> => {
  const settings = resolveBreakerSettings(undefined, deps.maxCooldownSeconds);
  const passedOver: string[] = [];
  let lastOutage: Error | undefined;
  for (const modelId of candidates) {
    const gate = await admitModel(deps, modelId);
    if (!gate.admitted) {
      passedOver.push(`${modelId}: circuit open`);
      continue;
    }
    try {
      const answer = await call(modelId, passedOver);
      if (gate.probe) {
        const closed = await deps.breakers.settleProbe('model', modelId, gate.probe, { healthy: true });
        if (closed.won) {
          await publishTransition(deps, CIRCUIT_CLOSED, {
            kind: 'model',
            name: modelId,
            state: 'closed',
            reason: 'probe succeeded',
          });
        }
      }
      return { answer, modelId, passedOver };
    } catch (error) {
      if (!isOutage(error)) throw error;
      lastOutage = error;
      passedOver.push(`${modelId}: ${error.name}`);
      await recordOutage(deps, modelId, gate, settings);
    }
  }
  throw (
    lastOutage ??
    new ModelUnavailableError(`Every model of the tier has an open circuit breaker: ${passedOver.join('; ')}`)
  );
};
