/** Token prices and per-call cost: input, output and prompt-cache rates per 1M tokens, from prices.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { costOf, priceTable, rateFor, type TokenUsage } from '../../shared/agent/pricing';
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
  it('charges $0.80 for 1M input tokens on Haiku', () => {
    // Act
    const usd = costOf(usage({ input: MILLION }), rateFor(TIERS.executor, 'executor'));

    // Assess
    expect(usd).toBe(0.8);
  });

  it('charges $15 for 1M output tokens on Sonnet', () => {
    // Act
    const usd = costOf(usage({ output: MILLION }), rateFor(TIERS.planner, 'planner'));

    // Assess
    expect(usd).toBe(15);
  });

  it('charges cache reads at a tenth of input and cache writes at a premium (Haiku: $0.08 and $1.00)', () => {
    // Prepare
    const haiku = rateFor(TIERS.executor, 'executor');

    // Act
    const reads = costOf(usage({ cacheRead: MILLION }), haiku);
    const writes = costOf(usage({ cacheWrite: MILLION }), haiku);

    // Assess
    expect(reads).toBe(0.08);
    expect(writes).toBe(1);
  });

  it('adds all four parts of a typical turn', () => {
    // Prepare: a Sonnet turn that reads the cached system prompt and tools
    const sonnet = rateFor(TIERS.planner, 'planner');

    // Act
    const usd = costOf(usage({ input: 1234, output: 567, cacheRead: 2000, cacheWrite: 100 }), sonnet);

    // Assess: 1234 x 3 + 567 x 15 + 2000 x 0.3 + 100 x 3.75 per 1M
    expect(usd).toBe(0.013182);
  });

  it('rounds to 1e-8 USD so sums of many calls stay stable', () => {
    // Act
    const usd = costOf(usage({ input: 1 }), rateFor('amazon.nova-lite-v1:0', 'reader'));

    // Assess: 0.06 / 1M = 6e-8
    expect(usd).toBe(6e-8);
  });

  it('costs nothing for zero tokens', () => {
    // Act + Assess
    expect(costOf(usage({}), rateFor(TIERS.planner, 'planner'))).toBe(0);
  });
});

describe('rateFor', () => {
  it('prices the private endpoint at its per-token equivalent of the instance hour: never zero', () => {
    // Act
    const rate = rateFor(TIERS.private, 'private');

    // Assess: $1.515 an ml.g5.2xlarge hour at 1,000,000 tokens an hour
    expect(costOf(usage({ input: MILLION, output: MILLION }), rate)).toBeCloseTo(3.03, 8);
  });

  it('refuses a model with no known price, naming the model and the price file', () => {
    // Act
    const act = () => rateFor('anthropic.claude-unknown-v9:0', 'planner');

    // Assess
    expect(act).toThrow(PricingError);
    expect(act).toThrow(/anthropic\.claude-unknown-v9:0.*prices\.json/);
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

describe('priceTable', () => {
  it('says where its prices come from and when they were recorded', () => {
    // Assess
    expect(priceTable.currency).toBe('USD');
    expect(priceTable.unit).toBe('per 1,000,000 tokens');
    expect(priceTable.source).toMatch(/Bedrock pricing/);
    expect(priceTable.recordedAt).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('never prices a cache read above the input rate', () => {
    // Act + Assess
    for (const [modelId, rate] of Object.entries(priceTable.models)) {
      expect({ modelId, cheaper: rate.cacheRead <= rate.input }).toEqual({ modelId, cheaper: true });
    }
  });
});
