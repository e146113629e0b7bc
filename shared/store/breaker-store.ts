/**
 * Circuit-breaker state in the single table, shared by every execution of the stage: one STATE item per tool or
 * model, and window buckets (calls and failures) that expire with TTL. Every transition is a conditional write, so
 * among racing executions exactly one wins it (and publishes its event).
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import {
  type BreakerRecord,
  type BreakerSettings,
  BUCKET_SECONDS,
  bucketStart,
  sumWindow,
  type WindowCounts,
  windowStart,
} from '../agent/breaker';
import { isConditionFailure, wrapStoreError as wrap } from './dynamodb-errors';
import { type BreakerKind, keys, parseItem, type TableKey } from './table';

export type { BreakerKind } from './table';

const epochMs = z.number().int().min(0);

export const breakerItemSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  entity: z.literal('breaker'),
  state: z.enum(['closed', 'open', 'half_open']),
  openedAt: epochMs.optional(),
  cooldownSeconds: z.number().int().min(0).optional(),
  probeUntil: epochMs.optional(),
  closedAt: epochMs.optional(),
  reason: z.string().optional(),
  updatedAt: z.string(),
});

const bucketItemSchema = z.object({
  calls: z.number().int().min(0).default(0),
  failures: z.number().int().min(0).default(0),
});

/** A STATE item as read (GetItem, or RunTool's batched read with its message); absent means closed, never opened. */
export const breakerRecordOf = (item: unknown, key: TableKey): BreakerRecord | undefined => {
  if (item === undefined) return undefined;
  const { pk: _pk, sk: _sk, entity: _e, updatedAt: _u, ...record } = parseItem(breakerItemSchema, item, key);
  return record;
};

/** One write of a transaction (the document client's Update shape), for completeToolCall's `extraUpdates`. */
export interface TransactUpdate {
  TableName: string;
  Key: Record<string, unknown>;
  UpdateExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

/** How a transition went: `won` says this execution made it (and must publish its event). */
export interface Transition {
  won: boolean;
}

export class BreakerStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state a call reads before it runs: one GetItem. Absent means closed, never opened. */
  async getState(kind: BreakerKind, name: string): Promise<BreakerRecord | undefined> {
    const key = keys.breaker(kind, name);
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return breakerRecordOf(out.Item, key);
    } catch (error) {
      return wrap(error, 'reading the breaker');
    }
  }

  /**
   * The window count of one call, as a write for the transaction that records the call: that transaction is
   * conditioned on the call still being started, so a retried step never counts a call twice, and the SDK's own
   * retries of it reuse one ClientRequestToken, which DynamoDB dedupes for 10 minutes
   * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html#DDB-TransactWriteItems-request-ClientRequestToken).
   */
  countUpdate(kind: BreakerKind, name: string, failed: boolean, settings: BreakerSettings): TransactUpdate {
    const at = this.now();
    const expiresAt = Math.floor(at / 1000) + settings.windowSeconds + 2 * BUCKET_SECONDS;
    return {
      TableName: this.tableName,
      Key: { ...keys.breakerWindow(kind, name, bucketStart(at)) },
      UpdateExpression: 'ADD calls :one, failures :failed SET expiresAt = :expires, entity = :entity',
      ExpressionAttributeValues: {
        ':one': 1,
        ':failed': failed ? 1 : 0,
        ':expires': expiresAt,
        ':entity': 'breakerWindow',
      },
    };
  }

  /**
   * Counts one call on its own (a model call, which has no record transaction to ride on): a one-item
   * TransactWriteItems rather than an UpdateItem, so the SDK's retries reuse its ClientRequestToken and count once.
   */
  async count(kind: BreakerKind, name: string, failed: boolean, settings: BreakerSettings): Promise<void> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [{ Update: this.countUpdate(kind, name, failed, settings) }],
        }),
      );
    } catch (error) {
      wrap(error, 'counting the breaker call');
    }
  }

  /** Calls and failures of the rolling window (one Query of its buckets), from the last closing on. */
  async readWindow(
    kind: BreakerKind,
    name: string,
    settings: BreakerSettings,
    closedAt?: number,
  ): Promise<WindowCounts> {
    const now = this.now();
    const from = keys.breakerWindow(kind, name, windowStart(settings, now, closedAt)).sk;
    const to = keys.breakerWindow(kind, name, bucketStart(now)).sk;
    try {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': keys.breaker(kind, name).pk, ':from': from, ':to': to },
          ConsistentRead: true,
        }),
      );
      return sumWindow((out.Items ?? []).map((item) => bucketItemSchema.parse(item)));
    } catch (error) {
      return wrap(error, 'reading the breaker window');
    }
  }

  private async transition(
    kind: BreakerKind,
    name: string,
    update: Omit<UpdateCommand['input'], 'TableName' | 'Key'>,
    what: string,
  ): Promise<Transition> {
    try {
      await this.client.send(
        new UpdateCommand({ TableName: this.tableName, Key: keys.breaker(kind, name), ...update }),
      );
      return { won: true };
    } catch (error) {
      if (isConditionFailure(error)) return { won: false };
      return wrap(error, what);
    }
  }

  /** Closed to open (the window's failure rate, or a loop): only the execution that still sees it closed wins. */
  open(kind: BreakerKind, name: string, cooldownSeconds: number, reason: string): Promise<Transition> {
    const at = this.now();
    return this.transition(
      kind,
      name,
      {
        UpdateExpression:
          'SET #state = :open, openedAt = :at, cooldownSeconds = :cooldown, reason = :reason, ' +
          'entity = :entity, updatedAt = :now REMOVE probeUntil',
        ConditionExpression: 'attribute_not_exists(#state) OR #state = :closed',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':open': 'open',
          ':closed': 'closed',
          ':at': at,
          ':cooldown': cooldownSeconds,
          ':reason': reason,
          ':entity': 'breaker',
          ':now': new Date(at).toISOString(),
        },
      },
      'opening the breaker',
    );
  }

  /**
   * Takes the half-open probe lease: only from the opening this execution saw (its openedAt), and only when no
   * probe holds a live lease. `first` says the breaker went from open to half-open now (publish Half-Opened once).
   */
  async takeProbe(
    kind: BreakerKind,
    name: string,
    seen: BreakerRecord,
    leaseMs: number,
  ): Promise<Transition & { first: boolean; lease: number }> {
    const at = this.now();
    const result = await this.transition(
      kind,
      name,
      {
        UpdateExpression: 'SET #state = :half, probeUntil = :until, updatedAt = :now',
        ConditionExpression:
          'openedAt = :opened AND (#state = :open OR (#state = :half AND probeUntil <= :at))',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':half': 'half_open',
          ':open': 'open',
          ':opened': seen.openedAt ?? -1,
          ':until': at + leaseMs,
          ':at': at,
          ':now': new Date(at).toISOString(),
        },
      },
      'taking the probe lease',
    );
    return { ...result, first: result.won && seen.state === 'open', lease: at + leaseMs };
  }

  /**
   * The probe's verdict: healthy closes the breaker, unhealthy reopens it with the longer cooldown. Only the probe
   * that still holds its lease (the `lease` takeProbe returned) may settle it.
   */
  settleProbe(
    kind: BreakerKind,
    name: string,
    probe: { openedAt: number; lease: number },
    verdict: { healthy: true } | { healthy: false; cooldownSeconds: number; reason: string },
  ): Promise<Transition> {
    const at = this.now();
    const values = {
      ':half': 'half_open',
      ':opened': probe.openedAt,
      ':lease': probe.lease,
      ':at': at,
      ':now': new Date(at).toISOString(),
    };
    const update = verdict.healthy
      ? {
          UpdateExpression: 'SET #state = :closed, closedAt = :at, updatedAt = :now REMOVE probeUntil',
          ExpressionAttributeValues: { ...values, ':closed': 'closed' },
        }
      : {
          UpdateExpression:
            'SET #state = :open, openedAt = :at, cooldownSeconds = :cooldown, reason = :reason, ' +
            'updatedAt = :now REMOVE probeUntil',
          ExpressionAttributeValues: {
            ...values,
            ':open': 'open',
            ':cooldown': verdict.cooldownSeconds,
            ':reason': verdict.reason,
          },
        };
    return this.transition(
      kind,
      name,
      {
        ...update,
        ConditionExpression: '#state = :half AND openedAt = :opened AND probeUntil = :lease',
        ExpressionAttributeNames: { '#state': 'state' },
      },
      'settling the probe',
    );
  }
}
