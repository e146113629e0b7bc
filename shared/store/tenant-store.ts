/** Tenant policies and daily-spend ledgers over the single table: read, set (moving today's cap), pause and resume. */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { dataClassificationSchema } from '../contracts/goal-events';
import { InvalidGoalError, SessionStateError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';
import { conditionFailureItem, isConditionFailure, wrapStoreError as wrap } from './dynamodb-errors';
import { readItem } from './read-item';
import {
  keys,
  parseItem,
  TENANT_DAY_PREFIX,
  type TenantDayItem,
  type TenantPolicyItem,
  tenantDayItemSchema,
  tenantPk,
  tenantPolicyItemSchema,
} from './table';

export type { TenantDayItem, TenantPolicyItem } from './table';

/**
 * What `tenant set`, the local tenants file and a stage's DEFAULT_TENANT_POLICY may say: every field optional (a
 * partial update), strict so a misspelt field is an error, not silently ignored. A new tenant needs dailyCapUsd.
 */
export const tenantPolicyInputSchema = z
  .object({
    sessionUsdBudget: z.number().positive().max(1000).optional(),
    sessionTokenBudget: z.number().int().min(1000).max(10_000_000).optional(),
    dailyCapUsd: z.number().positive().max(1_000_000).optional(),
    defaultDataClassification: dataClassificationSchema.optional(),
    allowedAgents: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();
export type TenantPolicyInput = z.infer<typeof tenantPolicyInputSchema>;

/** A complete policy (what a stage's default policy must be: it stands in for a stored item). */
export const defaultTenantPolicySchema = tenantPolicyInputSchema.required({ dailyCapUsd: true });
export type DefaultTenantPolicy = z.infer<typeof defaultTenantPolicySchema>;

/** Parses policy input at an edge (CLI flags, a JSON file, an env variable), every issue named after `what`. */
export const parsePolicyInput = <S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.infer<S> => {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = zodIssues(parsed.error);
  throw new InvalidGoalError(`Invalid ${what}: ${issues.join('; ')}`, issues, { cause: parsed.error });
};

/** USD to integer micro-dollars, the ledgers' unit. */
export const usdToMicros = (usd: number): number => Math.round(usd * 1_000_000);

/** The UTC day (YYYY-MM-DD) of a time: the tenant-day ledger's key. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** What pause/resume did: `changed` is false when the tenant already was so (a redelivered request). */
export interface PauseResult {
  changed: boolean;
  policy: TenantPolicyItem;
}

const MAX_SET_ATTEMPTS = 5;

export class TenantStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  getPolicy(tenantId: string): Promise<TenantPolicyItem | undefined> {
    const key = keys.tenantPolicy(tenantId);
    return readItem(this.client, this.tableName, key, tenantPolicyItemSchema, 'reading the tenant policy');
  }

  getDay(tenantId: string, day: string): Promise<TenantDayItem | undefined> {
    const key = keys.tenantDay(tenantId, day);
    return readItem(this.client, this.tableName, key, tenantDayItemSchema, 'reading the tenant-day ledger');
  }

  /** A tenant's daily ledgers, oldest first (optionally one day only). */
  async listDays(tenantId: string, day?: string): Promise<TenantDayItem[]> {
    const items: TenantDayItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
          ExpressionAttributeValues: { ':pk': tenantPk(tenantId), ':sk': `${TENANT_DAY_PREFIX}${day ?? ''}` },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) items.push(parseItem(tenantDayItemSchema, item));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Sets the given fields (a partial update; a new tenant needs dailyCapUsd). A changed dailyCapUsd moves today's
   * ledger's capMicros and remainingMicros by the change in the same transaction, conditioned on the cap it saw,
   * so a concurrent set or a reservation in between never leaves the ledger and the policy apart.
   */
  async setPolicy(tenantId: string, input: TenantPolicyInput): Promise<TenantPolicyItem> {
    for (let attempt = 1; ; attempt++) {
      const [policy, ledger] = await Promise.all([
        this.getPolicy(tenantId),
        this.getDay(tenantId, utcDay(this.now())),
      ]);
      if (policy === undefined && input.dailyCapUsd === undefined) {
        throw new InvalidGoalError(`tenant ${tenantId} has no policy yet: set its daily cap too`, [
          'dailyCapUsd: required for a new tenant',
        ]);
      }
      try {
        return await this.writePolicy(tenantId, input, policy, ledger);
      } catch (error) {
        if (!isConditionFailure(error) || attempt >= MAX_SET_ATTEMPTS)
          return wrap(error, 'setting the policy');
      }
    }
  }

  /**
   * Today's ledger under a new cap, in the policy's transaction: a capped ledger moves its remaining by the change;
   * one opened by uncapped sessions (no cap yet) opens at the cap less what it already spent.
   */
  private moveLedger(tenantId: string, ledger: TenantDayItem, capMicros: number, at: string) {
    const base = { TableName: this.tableName, Key: keys.tenantDay(tenantId, ledger.day) };
    if (ledger.capMicros === undefined) {
      return {
        ...base,
        UpdateExpression: 'SET capMicros = :cap, remainingMicros = :open, updatedAt = :at',
        ConditionExpression: 'attribute_not_exists(capMicros) AND spentMicros = :seenSpent',
        ExpressionAttributeValues: {
          ':cap': capMicros,
          ':open': capMicros - ledger.spentMicros,
          ':seenSpent': ledger.spentMicros,
          ':at': at,
        },
      };
    }
    return {
      ...base,
      UpdateExpression: 'SET capMicros = :cap, remainingMicros = remainingMicros + :delta, updatedAt = :at',
      ConditionExpression: 'capMicros = :seenCap',
      ExpressionAttributeValues: {
        ':cap': capMicros,
        ':delta': capMicros - ledger.capMicros,
        ':seenCap': ledger.capMicros,
        ':at': at,
      },
    };
  }

  private async writePolicy(
    tenantId: string,
    input: TenantPolicyInput,
    policy: TenantPolicyItem | undefined,
    ledger: TenantDayItem | undefined,
  ): Promise<TenantPolicyItem> {
    const at = this.now().toISOString();
    const fields: Record<string, unknown> = { ...input, entity: 'tenantPolicy', tenantId, updatedAt: at };
    const names = Object.fromEntries(Object.keys(fields).map((f) => [`#${f}`, f]));
    const values = Object.fromEntries(Object.entries(fields).map(([f, v]) => [`:${f}`, v]));
    const policyUpdate = {
      TableName: this.tableName,
      Key: keys.tenantPolicy(tenantId),
      UpdateExpression: `SET ${Object.keys(fields)
        .map((f) => `#${f} = :${f}`)
        .join(', ')}`,
      // The policy as read: a concurrent set retries with the new one.
      ConditionExpression: policy ? '#updatedAt = :seenAt' : 'attribute_not_exists(pk)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: policy ? { ...values, ':seenAt': policy.updatedAt } : values,
    };
    const capMicros = input.dailyCapUsd === undefined ? undefined : usdToMicros(input.dailyCapUsd);
    const moveLedger = ledger !== undefined && capMicros !== undefined && capMicros !== ledger.capMicros;
    await this.client.send(
      new TransactWriteCommand({
        TransactItems: [
          { Update: policyUpdate },
          ...(moveLedger ? [{ Update: this.moveLedger(tenantId, ledger, capMicros, at) }] : []),
        ],
      }),
    );
    const written = await this.getPolicy(tenantId);
    if (!written) throw new SessionStateError(`tenant ${tenantId}'s policy vanished after it was set`);
    return written;
  }

  /**
   * Pauses the tenant: new goals are refused and running sessions stop at their next turn. `at` is the request's
   * own time, so a redelivered request finds the pause it made (same reason and time) and may announce it again.
   */
  async pause(tenantId: string, reason: string, at: string = this.now().toISOString()): Promise<PauseResult> {
    return this.setPaused(tenantId, {
      UpdateExpression: 'SET paused = :true, pausedReason = :reason, pausedAt = :at, updatedAt = :now',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(paused) OR paused = :false)',
      ExpressionAttributeValues: {
        ':true': true,
        ':false': false,
        ':reason': reason,
        ':at': at,
        ':now': this.now().toISOString(),
      },
    });
  }

  async resume(tenantId: string): Promise<PauseResult> {
    return this.setPaused(tenantId, {
      UpdateExpression: 'SET paused = :false, updatedAt = :now REMOVE pausedReason, pausedAt',
      ConditionExpression: 'attribute_exists(pk) AND paused = :true',
      ExpressionAttributeValues: { ':true': true, ':false': false, ':now': this.now().toISOString() },
    });
  }

  private async setPaused(
    tenantId: string,
    update: {
      UpdateExpression: string;
      ConditionExpression: string;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<PauseResult> {
    const key = keys.tenantPolicy(tenantId);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          ...update,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { changed: true, policy: parseItem(tenantPolicyItemSchema, out.Attributes, key) };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'pausing or resuming the tenant');
      const existing = conditionFailureItem(error);
      if (!existing) throw new TenantNotFoundError(noPolicyMessage(tenantId));
      return { changed: false, policy: parseItem(tenantPolicyItemSchema, existing, key) };
    }
  }
}

/** The tenant has no policy item: nothing to pause, resume or run goals for. */
export class TenantNotFoundError extends SessionStateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TenantNotFoundError';
  }
}

/** How a missing policy reads wherever it is refused: what is wrong and how to fix it. */
export const noPolicyMessage = (tenantId: string): string =>
  `tenant ${tenantId} has no policy: set one with \`sovereign-agent tenant set ${tenantId} --daily-cap-usd N\` ` +
  '(or give the stage a DEFAULT_TENANT_POLICY)';
