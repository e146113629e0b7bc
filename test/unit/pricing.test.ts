/** Per-call cost: input, output and prompt-cache rates per 1M tokens, read from the model catalog. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { catalog } from '../../shared/agent/models';
import { costOf, rateFor, type TokenUsage } from '../../shared/agent/pricing';
import { PricingError } from '../../shared/runtime/errors';
import { TIERS } from '../helpers/fixtures';

const MILLION = 1_000_000;
const usage = (partial: Partial<TokenUsage>): TokenUsage => ({
  input: 0,
  output: 0,
  cacheRead: 0,
  cacheWrite: 0,
  ...partial,
});

describe('costOf', () => {
  it('charges $1.10 for 1M input tokens on Haiku 4.5 through its US profile', () => {
    // Act
    const usd = costOf(usage({ input: MILLION }), rateFor(TIERS.executor, 'executor'));

    // Assess
    expect(usd).toBe(1.1);
  });

  it('charges $16.50 for 1M output tokens on Sonnet 4.6 through its US profile (global $15 + 10 %)', () => {
    // Act
    const usd = costOf(usage({ output: MILLION }), rateFor(TIERS.planner, 'planner'));

    // Assess
    expect(usd).toBe(16.5);
  });

  it('charges cache reads at a tenth of input and cache writes at a premium (Haiku 4.5: $0.11 and $1.375)', () => {
    // Prepare
    const haiku = rateFor(TIERS.executor, 'executor');

    // Act
    const reads = costOf(usage({ cacheRead: MILLION }), haiku);
    const writes = costOf(usage({ cacheWrite: MILLION }), haiku);

    // Assess
    expect(reads).toBe(0.11);
    expect(writes).toBe(1.375);
  });

  it('adds all four parts of a typical turn', () => {
    // Prepare: a Sonnet turn that reads the cached system prompt and tools
    const sonnet = rateFor(TIERS.planner, 'planner');

    // Act
    const usd = costOf(usage({ input: 1234, output: 567, cacheRead: 2000, cacheWrite: 100 }), sonnet);

    // Assess: 1234 x 3.3 + 567 x 16.5 + 2000 x 0.33 + 100 x 4.125 per 1M
    expect(usd).toBe(0.0145002);
  });

  it('rounds to 1e-8 USD so sums of many calls stay stable', () => {
    // Act
    const usd = costOf(usage({ input: 1 }), rateFor(TIERS.reader, 'reader'));

    // Assess: 0.06 / 1M = 6e-8
    expect(usd).toBe(6e-8);
  });

  it('costs nothing for zero tokens', () => {
    // Act + Assess
    expect(costOf(usage({}), rateFor(TIERS.planner, 'planner'))).toBe(0);
  });
});

describe('rateFor', () => {
  it('prices the private endpoint from its catalog entry, per token equivalent of its instance-hour', () => {
    // Act
    const rate = rateFor(TIERS.private, 'private');

    // Assess: not free, so a USD budget applies to restricted goals too
    expect(rate.basis).toBe('instance-hour');
    expect(costOf(usage({ input: MILLION }), rate)).toBeGreaterThan(0);
    expect(costOf(usage({ input: MILLION, output: MILLION }), rate)).toBeCloseTo(3.03, 8);
  });

  it('offers cache points only to models whose catalog entry has prompt caching', () => {
    // Act + Assess
    expect(rateFor(TIERS.planner, 'planner').promptCaching).toBe(true);
    expect(rateFor(TIERS.private, 'private').promptCaching).toBe(false);
  });

  it('refuses a model the catalog does not know, naming the model and the catalog file', () => {
    // Act
    const act = () => rateFor('anthropic.claude-unknown-v9:0', 'planner');

    // Assess
    expect(act).toThrow(PricingError);
    expect(act).toThrow(/anthropic\.claude-unknown-v9:0.*shared\/agent\/models\/catalog\.json/);
  });

  it('has a price for every model tier serverless.yml deploys', () => {
    // Prepare
    const config = parse(readFileSync(join(__dirname, '../../serverless.yml'), 'utf8'), {
      logLevel: 'silent',
    }) as {
      params: { default: Record<string, string> };
    };
    const defaults = config.params.default;
    const tiers = [
      ['planner', defaults.modelTierPlanner],
      ['executor', defaults.modelTierExecutor],
      ['reader', defaults.modelTierReader],
      ['private', defaults.modelTierPrivate],
    ] as const;

    // Act + Assess
    for (const [tier, modelId] of tiers) {
      expect(typeof modelId).toBe('string');
      expect(() => rateFor(String(modelId), tier)).not.toThrow();
    }
  });
});

describe('catalog prices', () => {
  it('never prices a cache read above the input rate', () => {
    // Act + Assess
    for (const [modelId, entry] of Object.entries(catalog.models)) {
      const rate = rateFor(modelId, 'planner');
      expect({ modelId, cheaper: rate.cacheRead <= rate.input }).toEqual({ modelId, cheaper: true });
      expect(rate.input).toBe(entry.prices.input);
    }
  });
});
