/**
 * Tool-call leases and result parts against the real emulator (DynamoDB Local of global-setup): a live lease
 * refuses a second runner, an expired one is taken over by exactly one of two racers, and a large result's parts
 * are written with its outcome.
 */
import { SessionStore } from '../../shared/store/session-store';
import { localTable, newSessionInput } from './helpers';

jest.setTimeout(30_000);

const { client, doc, tableName } = localTable();
const store = new SessionStore(doc, tableName, 1);
afterAll(() => client.destroy());

const TENANT = 'lease';
let counter = 0;

/** A created, running session. */
const runningSession = async (): Promise<string> => {
  counter += 1;
  const sessionId = `lease-${Date.now().toString(36)}-${counter}`;
  await store.createSession(newSessionInput(TENANT, sessionId));
  await store.beginRun(TENANT, sessionId, 'start', 'arn:aws:states:us-east-1:000000000000:execution:x:lease');
  return sessionId;
};

const claimOf = (sessionId: string, leaseUntil: number) => ({
  tenantId: TENANT,
  sessionId,
  turn: 1,
  index: 0,
  toolUseId: 'tu-1',
  name: 'create_optimization_report',
  actionGroup: 'billing',
  input: { tenant_id: TENANT },
  inputHash: 'h-in',
  idempotencyKey: 'k-first',
  leaseUntil,
});

describe('tool-call leases on DynamoDB Local', () => {
  it('refuses a second runner while the first attempt holds a live lease', async () => {
    // Prepare
    const sessionId = await runningSession();
    const first = await store.claimToolCall(claimOf(sessionId, Date.now() + 60_000));

    // Act
    const second = await store.claimToolCall({
      ...claimOf(sessionId, Date.now() + 60_000),
      idempotencyKey: 'k-2',
    });

    // Assess
    expect(first).toMatchObject({ fresh: true, leased: true });
    expect(second).toMatchObject({ fresh: false, leased: false, item: { status: 'started', attempts: 1 } });
  });

  it('lets exactly one of two racers take over an expired lease, with the first attempt key', async () => {
    // Prepare: the first attempt claimed the call and crashed; its lease ran out
    const sessionId = await runningSession();
    await store.claimToolCall(claimOf(sessionId, Date.now() - 1_000));

    // Act
    const racers = await Promise.all(
      ['k-a', 'k-b'].map((key) =>
        store.claimToolCall({ ...claimOf(sessionId, Date.now() + 60_000), idempotencyKey: key }),
      ),
    );

    // Assess
    expect(racers.filter((r) => r.leased)).toHaveLength(1);
    expect(racers.filter((r) => !r.leased)).toHaveLength(1);
    const winner = racers.find((r) => r.leased);
    expect(winner?.item).toMatchObject({ status: 'started', attempts: 2, idempotencyKey: 'k-first' });
    const { toolCalls } = await store.loadConversation(TENANT, sessionId);
    expect(toolCalls[0]).toMatchObject({ attempts: 2, leaseUntil: winner?.item.leaseUntil });
  });

  it('replays a finished call even when its lease expired', async () => {
    // Prepare
    const sessionId = await runningSession();
    await store.claimToolCall(claimOf(sessionId, Date.now() - 1_000));
    await store.completeToolCall({
      tenantId: TENANT,
      sessionId,
      turn: 1,
      index: 0,
      status: 'unknown',
      errorKind: 'lost',
      result: 'The outcome is unknown.',
      resultHash: 'h',
      latencyMs: 1,
      invocations: 3,
    });

    // Act
    const again = await store.claimToolCall(claimOf(sessionId, Date.now() + 60_000));

    // Assess
    expect(again).toMatchObject({
      leased: false,
      item: { status: 'unknown', errorKind: 'lost', attempts: 1 },
    });
  });

  it('stores a large result in parts with its outcome, and the conversation load skips the parts', async () => {
    // Prepare
    const sessionId = await runningSession();
    await store.claimToolCall(claimOf(sessionId, Date.now() + 60_000));
    const parts = ['a'.repeat(20_000), 'b'.repeat(20_000), 'c'.repeat(123)];

    // Act
    await store.completeToolCall({
      tenantId: TENANT,
      sessionId,
      turn: 1,
      index: 0,
      status: 'succeeded',
      result: `${parts[0]}\n[result continues]`,
      resultHash: 'h',
      latencyMs: 1,
      invocations: 1,
      parts,
    });

    // Assess
    const { toolCalls } = await store.loadConversation(TENANT, sessionId);
    expect(toolCalls).toHaveLength(1);
    expect(toolCalls[0]?.resultParts).toBe(3);
    expect(await store.getResultText(TENANT, sessionId, 1, 0)).toBe(parts.join(''));
  });
});
