/** The infrastructure price list (infrastructure.json) and the requests a turn and a tool call make (request-counts.json). */
import * as z from 'zod';
import prices from './infrastructure.json';
import counts from './request-counts.json';

const priceSchema = z.strictObject({
  usd: z.number().positive(),
  per: z.string().min(1),
  source: z.string().min(1),
  recordedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
});

const infrastructurePricesSchema = z.strictObject({
  region: z.string().min(1),
  currency: z.literal('USD'),
  note: z.string(),
  stepFunctions: z.strictObject({ standardStateTransition: priceSchema }),
  lambda: z.strictObject({ request: priceSchema, armGbSecond: priceSchema }),
  dynamodb: z.strictObject({ onDemandWriteRequestUnit: priceSchema, onDemandReadRequestUnit: priceSchema }),
  eventBridge: z.strictObject({ customEvent: priceSchema }),
});
export type InfrastructurePrices = z.infer<typeof infrastructurePricesSchema>;

/** The one infrastructure price list: the benchmark and a session's CPTO both read it. */
export const infrastructurePrices: InfrastructurePrices = infrastructurePricesSchema.parse(prices);

const requestsSchema = z.strictObject({
  stateTransitions: z.number().min(0),
  lambdaRequests: z.number().min(0),
  lambdaGbSeconds: z.number().min(0),
  dynamodbRequests: z.number().min(0),
  events: z.number().min(0),
});
export type Requests = z.infer<typeof requestsSchema>;

export const requestCounts = z
  .strictObject({
    note: z.string(),
    source: z.string().min(1),
    recordedAt: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    perTurn: requestsSchema,
    perToolCall: requestsSchema,
    lambdaGbSecondsNote: z.string(),
    dynamodbRequestNote: z.string(),
  })
  .parse(counts);
