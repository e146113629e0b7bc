/**
 * The breaker store's conditional writes against DynamoDB Local (global-setup's table): among racing executions one
 * opens a breaker, one takes the half-open probe, one settles it; window counts written inside the tool call's
 * transaction are counted once even when the transaction is sent again.
 */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_BREAKER_SETTINGS } from '../../shared/agent/breaker';
import { BreakerStore } from '../../shared/store/breaker-store';
import { localTable } from './helpers';

jest.setTimeout(30_000);

const { client, doc, tableName } = localTable();
afterAll(() => client.destroy());

let counter = 0;
/** A tool name no other test uses: breakers are shared by everything on the table. */
const toolName = (): string => {
  counter += 1;
  return `race_tool_${Date.now().toString(36)}_${counter}`;
};

describe('breaker store races', () => {
  it('lets exactly one of ten racing executions open a closed breaker', async () => {
    // Prepare
    const store = new BreakerStore(doc, tableName);
    const name = toolName();

    // Act
    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.open('tool', name, 5, 'failure rate')),
    );

    // Assess
    expect(results.filter((r) => r.won)).toHaveLength(1);
    expect(await store.getState('tool', name)).toMatchObject({ state: 'open', cooldownSeconds: 5 });
  });

  it('gives the half-open probe to exactly one of many racers, and to another only after its lease expires', async () => {
    // Prepare: opened 10 s ago with a 1 s cooldown
    let now = Date.now() - 10_000;
    const store = new BreakerStore(doc, tableName, () => now);
    const name = toolName();
    await store.open('tool', name, 1, 'failure rate');
    now += 10_000;
    const seen = await store.getState('tool', name);
    if (!seen) throw new Error('the breaker was not stored');

    // Act
    const probes = await Promise.all(
      Array.from({ length: 10 }, () => store.takeProbe('tool', name, seen, 5_000)),
    );
    const whileLeased = await store.takeProbe(
      'tool',
      name,
      (await store.getState('tool', name)) ?? seen,
      5_000,
    );
    now += 5_000;
    const afterLease = await store.takeProbe(
      'tool',
      name,
      (await store.getState('tool', name)) ?? seen,
      5_000,
    );

    // Assess
    expect(probes.filter((p) => p.won)).toHaveLength(1);
    expect(probes.filter((p) => p.first)).toHaveLength(1);
    expect(whileLeased.won).toBe(false);
    expect(afterLease).toMatchObject({ won: true, first: false });
  });

  it('lets only the probe holding the lease settle it; a failed probe reopens with the longer cooldown', async () => {
    // Prepare
    let now = Date.now() - 10_000;
    const store = new BreakerStore(doc, tableName, () => now);
    const name = toolName();
    await store.open('tool', name, 1, 'failure rate');
    now += 10_000;
    const seen = await store.getState('tool', name);
    if (!seen?.openedAt) throw new Error('the breaker was not stored');
    const probe = await store.takeProbe('tool', name, seen, 5_000);

    // Act
    const stale = await store.settleProbe(
      'tool',
      name,
      { openedAt: seen.openedAt, lease: probe.lease - 1 },
      {
        healthy: true,
      },
    );
    const reopened = await store.settleProbe(
      'tool',
      name,
      { openedAt: seen.openedAt, lease: probe.lease },
      {
        healthy: false,
        cooldownSeconds: 2,
        reason: 'probe failed',
      },
    );
    const again = await store.settleProbe(
      'tool',
      name,
      { openedAt: seen.openedAt, lease: probe.lease },
      {
        healthy: true,
      },
    );

    // Assess
    expect(stale.won).toBe(false);
    expect(reopened.won).toBe(true);
    expect(again.won).toBe(false);
    expect(await store.getState('tool', name)).toMatchObject({
      state: 'open',
      cooldownSeconds: 2,
      reason: 'probe failed',
      openedAt: now,
    });
  });

  it('counts a call once when its transaction is sent again with the same ClientRequestToken', async () => {
    // Prepare
    const store = new BreakerStore(doc, tableName);
    const name = toolName();
    const update = store.countUpdate('tool', name, true, DEFAULT_BREAKER_SETTINGS);
    const send = () =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: [{ Update: update }],
          ClientRequestToken: `token-${name}`,
        }),
      );

    // Act
    await send();
    await send();
    await Promise.all(
      Array.from({ length: 8 }, () =>
        doc.send(
          new TransactWriteCommand({
            TransactItems: [{ Update: store.countUpdate('tool', name, false, DEFAULT_BREAKER_SETTINGS) }],
          }),
        ),
      ),
    );

    // Assess
    expect(await store.readWindow('tool', name, DEFAULT_BREAKER_SETTINGS)).toEqual({ calls: 9, failures: 1 });
  });
});
