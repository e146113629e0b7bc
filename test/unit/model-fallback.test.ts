/** Tier fallback lists: the models a route may use, how the tier variables are read, and the walk down the list. */
import type { BreakerRecord } from '../../shared/agent/breaker';
import type { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { modelTiers } from '../../shared/runtime/config';
import {
  ConfigError,
  ModelRequestError,
  ModelThrottledError,
  ModelUnavailableError,
} from '../../shared/runtime/errors';
import { converseOnTier, tierCandidates } from '../../shared/steps/model-fallback';
import type { BreakerStore } from '../../shared/store/breaker-store';

const env = (overrides: Record<string, string> = {}) => ({
  MODEL_TIER_PLANNER: 'planner-a, planner-b',
  MODEL_TIER_EXECUTOR: 'executor-a',
  MODEL_TIER_READER: 'reader-a',
  MODEL_TIER_PRIVATE: 'sagemaker:llama-3-1-8b-instruct',
  ...overrides,
});

/** A breaker store over a map of states, recording what was counted and opened. */
const fakeBreakers = (states: Record<string, BreakerRecord> = {}) => {
  const counted: string[] = [];
  const store = {
    getState: async (_kind: string, name: string) => states[name],
    count: async (_kind: string, name: string) => {
      counted.push(name);
    },
    readWindow: async () => ({ calls: 1, failures: 1 }),
    open: async () => ({ won: true }),
    takeProbe: async () => ({ won: false, first: false, lease: 0 }),
    settleProbe: async () => ({ won: true }),
  };
  const events = { publish: jest.fn(async () => 'event-id') };
  return {
    deps: { breakers: store as unknown as BreakerStore, events: events as unknown as EventPublisher },
    counted,
    events,
  };
};

describe('tier model lists', () => {
  it('reads each tier variable as an ordered list: the first is the tier model, the rest its fallbacks', () => {
    // Act
    const tiers = modelTiers(env());

    // Assess
    expect(tiers).toEqual({
      planner: 'planner-a',
      executor: 'executor-a',
      reader: 'reader-a',
      private: 'sagemaker:llama-3-1-8b-instruct',
      fallbacks: { planner: ['planner-b'] },
    });
    expect(modelTiers(env({ MODEL_TIER_PLANNER: 'only', MODEL_TIER_READER: 'r, r2' })).fallbacks).toEqual({
      reader: ['r2'],
    });
  });

  it('refuses an empty entry in a list, naming the variable', () => {
    // Act / Assess
    expect(() => modelTiers(env({ MODEL_TIER_EXECUTOR: 'a,,b' }))).toThrow(ConfigError);
    expect(() => modelTiers(env({ MODEL_TIER_EXECUTOR: 'a,,b' }))).toThrow(/MODEL_TIER_EXECUTOR/);
  });

  it('refuses a private tier holding any model not served by the SageMaker endpoint, naming the variable', () => {
    // Prepare: a public fallback, an unknown id, a public first model.
    const lists = [
      'sagemaker:llama-3-1-8b-instruct,us.amazon.nova-lite-v1:0',
      'sovereign-private',
      'anthropic.claude-3-5-haiku-20241022-v1:0',
    ];

    // Act / Assess
    for (const list of lists) {
      const act = () => modelTiers(env({ MODEL_TIER_PRIVATE: list }));
      expect(act).toThrow(ConfigError);
      expect(act).toThrow(/MODEL_TIER_PRIVATE .*sagemaker-provider.*catalog\.json/);
    }
  });

  it("offers a route only its own tier's models: the private tier never reaches a public one", () => {
    // Prepare
    const tiers = modelTiers(env());

    // Act / Assess
    expect(tierCandidates({ tier: 'private', modelId: tiers.private }, tiers)).toEqual([
      'sagemaker:llama-3-1-8b-instruct',
    ]);
    expect(tierCandidates({ tier: 'planner', modelId: 'planner-a' }, tiers)).toEqual([
      'planner-a',
      'planner-b',
    ]);
    expect(tierCandidates({ tier: 'executor', modelId: 'executor-a' }, tiers)).toEqual(['executor-a']);
  });
});

describe('converseOnTier', () => {
  it('passes over a model whose breaker is open without calling it', async () => {
    // Prepare
    const { deps } = fakeBreakers({ a: { state: 'open', openedAt: Date.now(), cooldownSeconds: 30 } });
    const called: string[] = [];

    // Act
    const result = await converseOnTier(deps, ['a', 'b'], async (id) => {
      called.push(id);
      return `answer of ${id}`;
    });

    // Assess
    expect(result).toEqual({ answer: 'answer of b', modelId: 'b', passedOver: ['a: circuit open'] });
    expect(called).toEqual(['b']);
  });

  it('counts a throttled model on its breaker and moves on; throws the last outage when every model fails', async () => {
    // Prepare
    const { deps, counted } = fakeBreakers();
    const throttle = async (id: string): Promise<string> => {
      throw new ModelThrottledError(`${id} throttled`);
    };

    // Act
    const act = converseOnTier(deps, ['a', 'b'], throttle);

    // Assess
    await expect(act).rejects.toThrow('b throttled');
    expect(counted).toEqual(['a', 'b']);
  });

  it('does not fall back on a request error (the next model would refuse it too)', async () => {
    // Prepare
    const { deps, counted } = fakeBreakers();
    const called: string[] = [];

    // Act
    const act = converseOnTier(deps, ['a', 'b'], async (id) => {
      called.push(id);
      throw new ModelRequestError('bad request');
    });

    // Assess
    await expect(act).rejects.toBeInstanceOf(ModelRequestError);
    expect(called).toEqual(['a']);
    expect(counted).toEqual([]);
  });

  it('fails with ModelUnavailableError when every model of the tier has an open breaker', async () => {
    // Prepare
    const open = { state: 'open' as const, openedAt: Date.now(), cooldownSeconds: 30 };
    const { deps } = fakeBreakers({ a: open, b: open });

    // Act
    const act = converseOnTier(deps, ['a', 'b'], async () => 'never');

    // Assess
    await expect(act).rejects.toBeInstanceOf(ModelUnavailableError);
  });
});
