/**
 * The budget ledger: reserves a model or tool call's worst case on the session and its tenant's day in one
 * transaction (conditions on the remainders, the tenant not paused), settles the actual cost in the step's own
 * commit, releases crashed steps' reservations, and claims each cost alert once.
 */
import { type DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { usdToMicros } from '../agent/pricing/micros';
import type { CostThreshold } from '../agent/reservation';
import { SessionStateError } from '../runtime/errors';
import type { TransactUpdate } from './breaker-store';
import { conditionFailureItem, isConditionFailure, wrapStoreError as wrap } from './dynamodb-errors';
import { readItem } from './read-item';
import {
  keys,
  parseItem,
  type Reservation,
  type SessionItem,
  sessionItemSchema,
  type TenantDayItem,
  tenantDayItemSchema,
} from './table';

/** Why a reservation was refused: the stop the session takes. */
export type LedgerStop = 'usd_budget' | 'token_budget' | 'tenant_daily_cap' | 'tenant_paused';

export type ReserveResult =
  | { reserved: true; id: string; reservation: Reservation; reused: boolean }
  | { reserved: false; stop: LedgerStop };

/** What a settlement moves: the actual micro-dollars and tokens against what the reservation held. */
export interface Settlement {
  id: string;
  reservation: Reservation;
  actualMicros: number;
  actualTokens: number;
}

/** The UTC day (YYYY-MM-DD) of an instant: the tenant ledger's key. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** A session's budget in micro-dollars and tokens (the remainders start there). */
export const sessionBudget = (session: Pick<SessionItem, 'limits'>) => ({
  micros: usdToMicros(session.limits.usdBudget),
  tokens: session.limits.tokenBudget,
});

/** What the session has left as loaded: its remainders, or its whole budget before the first reservation. */
export const remainingOf = (session: SessionItem) => {
  const budget = sessionBudget(session);
  return {
    micros: session.remainingMicros ?? budget.micros - (session.costMicros ?? 0),
    tokens:
      session.remainingTokens ??
      budget.tokens -
        (session.tokensInput + session.tokensOutput + session.tokensCacheRead + session.tokensCacheWrite),
  };
};

/** Reservations of a crashed step: expired, and not the one this reserve would (re)use. */
export const expiredReservations = (session: SessionItem, keep: string, nowMs: number) =>
  Object.entries(session.reservations ?? {}).filter(([id, r]) => id !== keep && r.expiresAt <= nowMs);

/**
 * The session update's clauses of a settlement, for the step's own transaction (commitTurn, completeToolCall): the
 * cost added, what the reservation held beyond it given back to the remainders, the reservation removed.
 */
export const sessionSettlementClauses = (settlement: Settlement) => ({
  add: 'costMicros :settledMicros, remainingMicros :refundMicros, remainingTokens :refundTokens',
  remove: '#reservations.#settled',
  names: { '#reservations': 'reservations', '#settled': settlement.id },
  values: {
    ':settledMicros': settlement.actualMicros,
    ':refundMicros': settlement.reservation.micros - settlement.actualMicros,
    ':refundTokens': settlement.reservation.tokens - settlement.actualTokens,
  },
});

export class BudgetLedger {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private expiresAt(): number {
    return Math.floor(this.now().getTime() / 1000) + this.ttlDays * 86_400;
  }

  /**
   * Reserves `micros` and `tokens` under `id` for `ttlMs`: one TransactWriteItems of the session's conditional
   * decrement (remainders may not go below zero; the id not held yet), a ConditionCheck that the tenant's policy is
   * not paused, and with a daily cap today's tenant ledger's conditional decrement (opened at the cap on first use).
   * `session` is as the step read it (consistently): a reservation it already holds under `id` (a retried step) is
   * reused, and one its remainders cannot fund is refused without a request (only concurrent reservations lower
   * them). With `release` (Plan, which runs alone) crashed steps' expired reservations are released in the same
   * write, and the session must be running; parallel RunTools leave them, and reserve for a call already claimed
   * even while the session is being failed around it (as the call would have run before reservations).
   */
  async reserve(input: {
    session: SessionItem;
    id: string;
    micros: number;
    tokens: number;
    ttlMs: number;
    release?: boolean;
  }): Promise<ReserveResult> {
    const { session, id } = input;
    const held = session.reservations?.[id];
    if (held) return { reserved: true, id, reservation: held, reused: true };
    const at = this.now();
    const day = utcDay(at);
    const capMicros =
      session.limits.tenantDailyCapUsd === undefined
        ? undefined
        : usdToMicros(session.limits.tenantDailyCapUsd);
    if (capMicros !== undefined && input.micros > capMicros)
      return { reserved: false, stop: 'tenant_daily_cap' };
    const released = input.release ? expiredReservations(session, id, at.getTime()) : [];
    const left = remainingOf(session);
    const back = released.reduce(
      (sum, [, r]) => ({ micros: sum.micros + r.micros, tokens: sum.tokens + r.tokens }),
      {
        micros: 0,
        tokens: 0,
      },
    );
    if (left.tokens + back.tokens < input.tokens) return { reserved: false, stop: 'token_budget' };
    if (left.micros + back.micros < input.micros) return { reserved: false, stop: 'usd_budget' };
    const reservation: Reservation = {
      micros: input.micros,
      tokens: input.tokens,
      ...(capMicros !== undefined ? { day, dayMicros: input.micros } : {}),
      expiresAt: at.getTime() + input.ttlMs,
    };
    const dayItems =
      capMicros === undefined
        ? []
        : [this.dayReserve(session.tenantId, day, capMicros, input.micros, released)];
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Update: this.sessionReserve(session, id, reservation, released, input.release === true) },
            { ConditionCheck: this.notPaused(session.tenantId) },
            ...[...dayItems, ...this.otherDayReleases(session.tenantId, day, released)].map((u) => ({
              Update: u,
            })),
          ],
        }),
      );
      return { reserved: true, id, reservation, reused: false };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'reserving the budget');
      return this.refusal(error, id, input);
    }
  }

  /** Which condition refused a reservation: the tenant's pause first, then the session's own, then the day's. */
  private refusal(
    error: unknown,
    id: string,
    input: { micros: number; tokens: number; session: Pick<SessionItem, 'sessionId'>; release?: boolean },
  ): ReserveResult {
    const reasons = ((error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map(
      (r) => r.Code,
    );
    if (reasons[1] === 'ConditionalCheckFailed') return { reserved: false, stop: 'tenant_paused' };
    if (reasons[0] === 'ConditionalCheckFailed') {
      const old = conditionFailureItem(error, 0);
      if (!old) throw new SessionStateError(`Session ${input.session.sessionId} does not exist`);
      const session = parseItem(sessionItemSchema, old);
      const held = session.reservations?.[id];
      // A concurrent attempt of the same step reserved first: its reservation is this one's.
      if (held) return { reserved: true, id, reservation: held, reused: true };
      if (input.release && session.status !== 'running')
        throw new SessionStateError(
          `Session ${session.sessionId} is ${session.status}; only a running session reserves`,
        );
      return {
        reserved: false,
        stop: remainingOf(session).tokens < input.tokens ? 'token_budget' : 'usd_budget',
      };
    }
    return { reserved: false, stop: 'tenant_daily_cap' };
  }

  private sessionReserve(
    session: Pick<SessionItem, 'tenantId' | 'sessionId' | 'limits'>,
    id: string,
    reservation: Reservation,
    released: [string, Reservation][],
    running: boolean,
  ) {
    const budget = sessionBudget(session);
    const releasedMicros = released.reduce((sum, [, r]) => sum + r.micros, 0);
    const releasedTokens = released.reduce((sum, [, r]) => sum + r.tokens, 0);
    const removes = released.map((_, i) => `#reservations.#old${i}`);
    return {
      TableName: this.tableName,
      Key: keys.session(session.tenantId, session.sessionId),
      UpdateExpression:
        'SET remainingMicros = if_not_exists(remainingMicros, :budgetMicros) + :deltaMicros, ' +
        'remainingTokens = if_not_exists(remainingTokens, :budgetTokens) + :deltaTokens, ' +
        '#reservations.#id = :reservation, updatedAt = :now' +
        (removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''),
      ConditionExpression:
        `${running ? '#status = :running' : 'attribute_exists(pk)'} AND attribute_not_exists(#reservations.#id) AND ` +
        '(attribute_not_exists(remainingMicros) OR remainingMicros >= :needMicros) AND ' +
        '(attribute_not_exists(remainingTokens) OR remainingTokens >= :needTokens)' +
        released.map((_, i) => ` AND attribute_exists(#reservations.#old${i})`).join(''),
      ExpressionAttributeNames: {
        ...(running ? { '#status': 'status' } : {}),
        '#reservations': 'reservations',
        '#id': id,
        ...Object.fromEntries(released.map(([rid], i) => [`#old${i}`, rid])),
      },
      ExpressionAttributeValues: {
        ...(running ? { ':running': 'running' } : {}),
        ':budgetMicros': budget.micros,
        ':budgetTokens': budget.tokens,
        ':deltaMicros': releasedMicros - reservation.micros,
        ':deltaTokens': releasedTokens - reservation.tokens,
        ':needMicros': reservation.micros - releasedMicros,
        ':needTokens': reservation.tokens - releasedTokens,
        ':reservation': reservation,
        ':now': this.now().toISOString(),
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
  }

  /** The tenant policy is absent or not paused (a ConditionCheck: it reads the policy in the same transaction). */
  private notPaused(tenantId: string) {
    return {
      TableName: this.tableName,
      Key: keys.tenantPolicy(tenantId),
      ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(paused) OR paused = :false',
      ExpressionAttributeValues: { ':false': false },
    };
  }

  /** Today's ledger, opened at the cap on first use, decremented by the reservation if it has that much left. */
  private dayReserve(
    tenantId: string,
    day: string,
    capMicros: number,
    micros: number,
    released: [string, Reservation][],
  ) {
    const back = released
      .filter(([, r]) => r.day === day)
      .reduce((sum, [, r]) => sum + (r.dayMicros ?? 0), 0);
    return {
      TableName: this.tableName,
      Key: keys.tenantDay(tenantId, day),
      UpdateExpression:
        'SET entity = :entity, tenantId = :tenant, #day = :day, capMicros = if_not_exists(capMicros, :cap), ' +
        'remainingMicros = if_not_exists(remainingMicros, :cap) + :delta, ' +
        'spentMicros = if_not_exists(spentMicros, :zero), updatedAt = :now, expiresAt = if_not_exists(expiresAt, :expires)',
      ConditionExpression: 'attribute_not_exists(remainingMicros) OR remainingMicros >= :need',
      ExpressionAttributeNames: { '#day': 'day' },
      ExpressionAttributeValues: {
        ':entity': 'tenantDay',
        ':tenant': tenantId,
        ':day': day,
        ':cap': capMicros,
        ':delta': back - micros,
        ':need': micros - back,
        ':zero': 0,
        ':now': this.now().toISOString(),
        ':expires': this.expiresAt(),
      },
    };
  }

  /** Released reservations held on an earlier day's ledger give it back there. */
  private otherDayReleases(tenantId: string, today: string, released: [string, Reservation][]) {
    const byDay = new Map<string, number>();
    for (const [, r] of released)
      if (r.day && r.day !== today) byDay.set(r.day, (byDay.get(r.day) ?? 0) + (r.dayMicros ?? 0));
    return [...byDay].map(([day, micros]) => ({
      TableName: this.tableName,
      Key: keys.tenantDay(tenantId, day),
      UpdateExpression: 'ADD remainingMicros :back',
      ExpressionAttributeValues: { ':back': micros } as Record<string, unknown>,
    }));
  }

  /**
   * The tenant-day side of a settlement, for the step's own transaction: the spend and tokens added to the day the
   * reservation was taken on (today without one), and what it held beyond the cost given back. Tenants without a
   * daily cap get their day's spend recorded too.
   */
  daySettlement(
    tenantId: string,
    settlement: Settlement | undefined,
    actualMicros: number,
    actualTokens: number,
  ): TransactUpdate {
    const day = settlement?.reservation.day ?? utcDay(this.now());
    const refund = settlement?.reservation.day
      ? (settlement.reservation.dayMicros ?? 0) - actualMicros
      : undefined;
    return {
      TableName: this.tableName,
      Key: { ...keys.tenantDay(tenantId, day) },
      UpdateExpression:
        'SET entity = :entity, tenantId = :tenant, #day = :day, updatedAt = :now, expiresAt = if_not_exists(expiresAt, :expires) ' +
        `ADD spentMicros :spent, tokens :tokens${refund === undefined ? '' : ', remainingMicros :refund'}`,
      ExpressionAttributeNames: { '#day': 'day' },
      ExpressionAttributeValues: {
        ':entity': 'tenantDay',
        ':tenant': tenantId,
        ':day': day,
        ':now': this.now().toISOString(),
        ':expires': this.expiresAt(),
        ':spent': actualMicros,
        ':tokens': actualTokens,
        ...(refund === undefined ? {} : { ':refund': refund }),
      },
    };
  }

  getTenantDay(tenantId: string, day: string): Promise<TenantDayItem | undefined> {
    const key = keys.tenantDay(tenantId, day);
    return readItem(this.client, this.tableName, key, tenantDayItemSchema, 'reading the tenant day');
  }

  /**
   * Claims the alert of `percent` on a ledger, once: a conditional ADD to its set of sent alerts that only the first
   * claimer passes (and, unless the budget is `exhausted`, only while the spend has really reached the threshold).
   * True for the one sender. `unclaim` gives the claim back when the event could not be published.
   */
  async claimAlert(
    ledger: AlertLedger,
    percent: CostThreshold,
    thresholdMicros: number,
    exhausted: boolean,
  ): Promise<boolean> {
    const { key, attribute, spent, tag } = alertTarget(ledger, percent);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `ADD ${attribute} :tags`,
          ConditionExpression:
            `attribute_exists(pk) AND NOT contains(${attribute}, :tag)` +
            (exhausted ? '' : ` AND ${spent} >= :threshold`),
          ExpressionAttributeValues: {
            ':tags': new Set([tag]),
            ':tag': tag,
            ...(exhausted ? {} : { ':threshold': thresholdMicros }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      return wrap(error, 'claiming the cost alert');
    }
  }

  async unclaimAlert(ledger: AlertLedger, percent: CostThreshold): Promise<void> {
    const { key, attribute, tag } = alertTarget(ledger, percent);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `DELETE ${attribute} :tags`,
          ExpressionAttributeValues: { ':tags': new Set([tag]) },
        }),
      );
    } catch (error) {
      wrap(error, 'giving back the cost alert');
    }
  }
}

/** The ledger an alert is about: a session (per budget, so a raised budget alerts again) or a tenant's day. */
export type AlertLedger =
  | { scope: 'session'; tenantId: string; sessionId: string; budgetMicros: number }
  | { scope: 'tenant_day'; tenantId: string; day: string };

const alertTarget = (ledger: AlertLedger, percent: CostThreshold) =>
  ledger.scope === 'session'
    ? {
        key: keys.session(ledger.tenantId, ledger.sessionId),
        attribute: 'costAlerts',
        spent: 'costMicros',
        tag: `${percent}@${ledger.budgetMicros}` as string | number,
      }
    : {
        key: keys.tenantDay(ledger.tenantId, ledger.day),
        attribute: 'alertedPercents',
        spent: 'spentMicros',
        tag: percent,
      };
