/** Per-call cost from the model catalog's prices (shared/agent/models/catalog.json): input, output and cache rates. */
import { PricingError } from '../../runtime/errors';
import { type CatalogEntry, catalog, catalogEntry } from '../models';
import type { Tier } from '../profiles';

/** USD per 1,000,000 tokens (= micro-dollars per token), and whether the planner may send this model cache points. */
export interface Rate {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  promptCaching: boolean;
  /** Per-token or the per-token equivalent of an instance-hour price (see the entry's prices). */
  basis: CatalogEntry['prices']['basis'];
}

export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

const CATALOG_FILE = 'shared/agent/models/catalog.json';

/** The catalog's rate of a model id; an id the catalog does not know is a PricingError (the tier only names it). */
export const rateFor = (modelId: string, tier: Tier): Rate => {
  const entry = catalogEntry(modelId);
  if (!entry) {
    throw new PricingError(
      `No price for model "${modelId}" (tier ${tier}): it is not in ${CATALOG_FILE}; known: ${Object.keys(catalog.models).join(', ')}`,
    );
  }
  const { input, output, cacheRead, cacheWrite, basis } = entry.prices;
  return { input, output, cacheRead, cacheWrite, basis, promptCaching: entry.promptCaching !== null };
};

/** Cost in USD of one model call, rounded to 1e-8 so sums stay stable. */
export const costOf = (usage: TokenUsage, rate: Rate): number => {
  const usd =
    (usage.input * rate.input +
      usage.output * rate.output +
      usage.cacheRead * rate.cacheRead +
      usage.cacheWrite * rate.cacheWrite) /
    1_000_000;
  return Math.round(usd * 1e8) / 1e8;
};
