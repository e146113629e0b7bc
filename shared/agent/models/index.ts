/**
 * The model catalog (catalog.json, one source of truth with source and date per entry): what each model id a stage
 * may configure is, how it is invoked, its limits, prompt caching and prices. Plan builds requests and prices
 * turns from it, serverless.yml's plan role is generated from it, and the local Bedrock emulator enforces it.
 */
import * as z from 'zod';
import { CatalogError } from '../../runtime/errors';
import { zodIssues } from '../../runtime/zod-issues';
import data from './catalog.json';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

/** The Converse fields a cachePoint block may be placed in, per model (Nova: system and messages only). */
export const cacheFieldSchema = z.enum(['system', 'messages', 'tools']);
export type CacheField = z.infer<typeof cacheFieldSchema>;

export const promptCachingSchema = z
  .object({
    minTokensPerCheckpoint: z.number().int().positive(),
    maxCheckpoints: z.number().int().positive(),
    fields: z.array(cacheFieldSchema).min(1),
  })
  .strict();

/** USD per 1,000,000 tokens (= micro-dollars per token); an instance-hour model states its per-token equivalent. */
export const modelPricesSchema = z
  .object({
    basis: z.enum(['per-token', 'instance-hour']),
    input: z.number().min(0),
    output: z.number().min(0),
    cacheRead: z.number().min(0),
    cacheWrite: z.number().min(0),
    instanceType: z.string().optional(),
    usdPerInstanceHour: z.number().positive().optional(),
    /** The throughput the per-token equivalent assumes (tokens per instance-hour). */
    assumedTokensPerHour: z.number().int().positive().optional(),
  })
  .strict()
  .refine(
    (p) =>
      p.basis === 'per-token' || (p.usdPerInstanceHour !== undefined && p.assumedTokensPerHour !== undefined),
    {
      message: 'an instance-hour price states usdPerInstanceHour and assumedTokensPerHour',
    },
  );

export const catalogEntrySchema = z
  .object({
    provider: z.enum(['bedrock', 'sagemaker']),
    name: z.string().min(1),
    /** The foundation model behind an id (Bedrock); IAM allows its ARN in each destination region. */
    foundationModelId: z.string().min(1).optional(),
    /**
     * on-demand: callable by its model id; inference-profile: the id is a cross-region profile; inference-profile-
     * required: a bare model id Bedrock refuses on demand; sagemaker-endpoint: the stage's private endpoint.
     */
    invocation: z.enum([
      'on-demand',
      'inference-profile',
      'inference-profile-required',
      'sagemaker-endpoint',
    ]),
    /** Regions a profile routes calls to ("*": a global profile, any commercial region). */
    destinationRegions: z.array(z.string().min(1)).min(1).optional(),
    lifecycle: z
      .object({
        status: z.enum(['ACTIVE', 'LEGACY', 'EOL']),
        legacyDate: isoDate.optional(),
        eolDate: isoDate.optional(),
      })
      .strict(),
    contextWindow: z.number().int().positive(),
    maxOutputTokens: z.number().int().positive(),
    toolUse: z.boolean(),
    promptCaching: promptCachingSchema.nullable(),
    prices: modelPricesSchema,
    note: z.string().optional(),
    source: z.string().min(1),
    recordedAt: isoDate,
  })
  .strict();
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;
export type ModelProviderName = CatalogEntry['provider'];

export const catalogSchema = z
  .object({
    currency: z.literal('USD'),
    unit: z.literal('per 1,000,000 tokens'),
    recordedAt: isoDate,
    note: z.string().optional(),
    models: z.record(z.string().min(1), catalogEntrySchema),
  })
  .strict();
export type Catalog = z.infer<typeof catalogSchema>;

export const parseCatalog = (input: unknown): Catalog => {
  const parsed = catalogSchema.safeParse(input);
  if (!parsed.success) {
    throw new CatalogError(
      `shared/agent/models/catalog.json is invalid: ${zodIssues(parsed.error).join('; ')}`,
    );
  }
  return parsed.data;
};

export const catalog: Catalog = parseCatalog(data);

export const catalogEntry = (modelId: string): CatalogEntry | undefined => catalog.models[modelId];

/** The entry of a configured model id; an id the catalog does not know fails here, naming the file to add it to. */
export const requireModel = (modelId: string): CatalogEntry => {
  const entry = catalogEntry(modelId);
  if (!entry) {
    throw new CatalogError(
      `Model "${modelId}" is not in shared/agent/models/catalog.json; known: ${Object.keys(catalog.models).join(', ')}`,
    );
  }
  return entry;
};
