/** Token prices (data in prices.json, with source and date) and the per-call cost: input, output and cache rates. */
import * as z from 'zod';
import { PricingError } from '../../runtime/errors';
import type { Tier } from '../profiles';
import table from './prices.json';

const rateSchema = z.object({
  input: z.number().min(0),
  output: z.number().min(0),
  cacheRead: z.number().min(0),
  cacheWrite: z.number().min(0),
  /** Whether Bedrock accepts cache points for this model; sending one to a model without caching is an error. */
  promptCaching: z.boolean(),
  note: z.string().optional(),
  /** Where an entry's figures come from, when it differs from the table's source. */
  source: z.string().optional(),
  recordedAt: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .optional(),
});
export type Rate = z.infer<typeof rateSchema>;

const priceTableSchema = z.object({
  currency: z.literal('USD'),
  unit: z.literal('per 1,000,000 tokens'),
  source: z.string().min(1),
  recordedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  models: z.record(z.string(), rateSchema),
  tiers: z.record(z.string(), rateSchema),
});

export const priceTable = priceTableSchema.parse(table);

export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

export const rateFor = (modelId: string, tier: Tier): Rate => {
  const rate = priceTable.models[modelId] ?? priceTable.tiers[tier];
  if (!rate)
    throw new PricingError(
      `No price for model "${modelId}" (tier ${tier}) in shared/agent/pricing/prices.json`,
    );
  return rate;
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
