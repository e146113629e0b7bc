/** The budget ledger's requests and how it reads a refusal: one transaction per reservation, CancellationReasons. */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { BudgetLedger, sessionSettlementClauses } from '../../shared/store/budget-ledger';
import { keys } from '../../shared/store/table';
import { mockedStore, TABLE, transactionConditionFailed } from '../helpers/aws';
import { sessionItem, TENANT } from '../helpers/fixtures';

const NOW = new Date('2026-12-02T04:00:00.000Z');

const setup = () => {
  const { ddb, client } = mockedStore();
  return { ddb, ledger: new BudgetLedger(client, TABLE, 90, () => NOW) };
};

const capped = (overrides = {}) =>
  sessionItem({
    status: 'running',
    remainingMicros: 10_000,
    remainingTokens: 50_000,
    reservations: {},
    ...overrides,
    limits: { ...sessionItem().limits, tenantDailyCapUsd: 0.5 },
  });

describe('BudgetLedger.reserve', () => {
  it('reserves on the session, checks the tenant is not paused and decrements the day, in one transaction', async () => {
    // Prepare
    const { ddb, ledger } = setup();
    ddb.on(TransactWriteCommand).resolves({});

    // Act
    const result = await ledger.reserve({
      session: capped(),
      id: 'turn-3',
      micros: 4_000,
      tokens: 6_000,
      ttlMs: 900_000,
    });

    // Assess
    expect(result).toEqual({
      reserved: true,
      id: 'turn-3',
      reused: false,
      reservation: {
        micros: 4_000,
        tokens: 6_000,
        day: '2026-12-02',
        dayMicros: 4_000,
        expiresAt: NOW.getTime() + 900_000,
      },
    });
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(3);
    expect(items[0]?.Update?.ConditionExpression).toContain('remainingMicros >= :needMicros');
    expect(items[0]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':needMicros': 4_000,
      ':deltaMicros': -4_000,
    });
    expect(items[1]?.ConditionCheck).toMatchObject({
      Key: keys.tenantPolicy(TENANT),
      ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(paused) OR paused = :false',
    });
    expect(items[2]?.Update).toMatchObject({
      Key: keys.tenantDay(TENANT, '2026-12-02'),
      ExpressionAttributeValues: expect.objectContaining({ ':cap': 500_000, ':need': 4_000 }),
    });
  });

  it('refuses what the loaded remainders cannot fund without a request, tokens first', async () => {
    const { ddb, ledger } = setup();
    const session = capped({ remainingMicros: 100, remainingTokens: 10 });
    expect(await ledger.reserve({ session, id: 't', micros: 50, tokens: 20, ttlMs: 1 })).toEqual({
      reserved: false,
      stop: 'token_budget',
    });
    expect(await ledger.reserve({ session, id: 't', micros: 200, tokens: 5, ttlMs: 1 })).toEqual({
      reserved: false,
      stop: 'usd_budget',
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('reuses the reservation a retried step already holds, and releases expired ones of crashed steps', async () => {
    // Prepare
    const { ddb, ledger } = setup();
    ddb.on(TransactWriteCommand).resolves({});
    const held = { micros: 9, tokens: 9, expiresAt: NOW.getTime() + 1 };
    const crashed = {
      micros: 700,
      tokens: 80,
      day: '2026-12-01',
      dayMicros: 700,
      expiresAt: NOW.getTime() - 1,
    };
    const session = capped({ reservations: { 'turn-2': held, 'call-1-0': crashed } });

    // Act
    const reused = await ledger.reserve({ session, id: 'turn-2', micros: 1, tokens: 1, ttlMs: 1 });
    await ledger.reserve({ session, id: 'turn-3', micros: 1_000, tokens: 100, ttlMs: 1, release: true });

    // Assess
    expect(reused).toMatchObject({ reserved: true, reused: true, reservation: held });
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items[0]?.Update?.UpdateExpression).toContain('REMOVE #reservations.#old0');
    expect(items[0]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':deltaMicros': -300,
      ':deltaTokens': -20,
    });
    // The crashed reservation held yesterday's ledger: it is given back there.
    expect(items[3]?.Update).toMatchObject({
      Key: keys.tenantDay(TENANT, '2026-12-01'),
      UpdateExpression: 'ADD remainingMicros :back',
      ExpressionAttributeValues: { ':back': 700 },
    });
  });

  it.each([
    [['none', 'failed', 'none'], 'tenant_paused'],
    [['none', 'none', 'failed'], 'tenant_daily_cap'],
  ] as const)('reads which condition refused it: %j is %s', async (reasons, stop) => {
    const { ddb, ledger } = setup();
    ddb.on(TransactWriteCommand).rejects(transactionConditionFailed(...reasons));
    expect(await ledger.reserve({ session: capped(), id: 't', micros: 1, tokens: 1, ttlMs: 1 })).toEqual({
      reserved: false,
      stop,
    });
  });

  it("reads the session's own refusal from its item as it was: short of tokens, or of USD", async () => {
    const { ddb, ledger } = setup();
    ddb
      .on(TransactWriteCommand)
      .rejectsOnce(transactionConditionFailed(capped({ remainingTokens: 0 }), 'none', 'none'))
      .rejectsOnce(transactionConditionFailed(capped({ remainingMicros: 0 }), 'none', 'none'));
    const reserve = () => ledger.reserve({ session: capped(), id: 't', micros: 1, tokens: 1, ttlMs: 1 });
    expect(await reserve()).toEqual({ reserved: false, stop: 'token_budget' });
    expect(await reserve()).toEqual({ reserved: false, stop: 'usd_budget' });
  });
});

describe('settlement', () => {
  it('adds the actual cost and gives back what the reservation held beyond it', () => {
    const clauses = sessionSettlementClauses({
      id: 'turn-3',
      reservation: { micros: 4_000, tokens: 6_000, expiresAt: 0 },
      actualMicros: 1_234,
      actualTokens: 2_000,
    });
    expect(clauses.add).toBe(
      'costMicros :settledMicros, remainingMicros :refundMicros, remainingTokens :refundTokens',
    );
    expect(clauses.values).toEqual({
      ':settledMicros': 1_234,
      ':refundMicros': 2_766,
      ':refundTokens': 4_000,
    });
    expect(clauses.names).toEqual({ '#reservations': 'reservations', '#settled': 'turn-3' });
  });
});
