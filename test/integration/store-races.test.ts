/**
 * The store's race guards against the real emulator (DynamoDB Local of global-setup), not mocks: concurrent turn
 * commits, double claims of a tool call, retried finishes and duplicate run starts each settle on one winner, and
 * the loser gets the winner's item back through ReturnValuesOnConditionCheckFailure (ALL_OLD).
 */
import { SessionStateError, StoreUnavailableError } from '../../shared/runtime/errors';
import { type MessageItem, SessionStore } from '../../shared/store/session-store';
import { localTable, newSessionInput } from './helpers';

jest.setTimeout(30_000);

const { client, doc, tableName } = localTable();
const store = new SessionStore(doc, tableName, 1);
afterAll(() => client.destroy());

const TENANT = 'race';
const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:agent-goal:race';
let counter = 0;
const newSessionId = (): string => {
  counter += 1;
  return `race-${Date.now().toString(36)}-${counter}`;
};

const sessionInput = (sessionId: string) => newSessionInput(TENANT, sessionId);

/** A created session, running for EXECUTION unless `start` is false. */
const runningSession = async (start = true): Promise<string> => {
  const sessionId = newSessionId();
  await store.createSession(sessionInput(sessionId));
  if (start) await store.beginRun(TENANT, sessionId, 'start', EXECUTION);
  return sessionId;
};

/** What Step Functions does with StoreUnavailableError (a transaction conflict under a race): try the step again. */
const retried = async <T>(step: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || attempt >= 5) throw error;
    }
  }
};

const answer = (text: string): Omit<MessageItem, 'pk' | 'sk' | 'entity' | 'createdAt' | 'expiresAt'> => ({
  turn: 1,
  role: 'assistant',
  content: [{ text }],
  modelId: 'model-a',
  tier: 'executor',
  usage: { input: 100, output: 10, cacheRead: 0, cacheWrite: 0 },
  costUsd: 0.001,
});

describe('store races on DynamoDB Local', () => {
  it('creates a session once when two deliveries of the goal race, handing the loser the stored session', async () => {
    // Prepare
    const sessionId = newSessionId();
    const input = sessionInput(sessionId);

    // Act
    const results = await Promise.all([
      retried(() => store.createSession(input)),
      retried(() => store.createSession(input)),
    ]);

    // Assess
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const lost = results.find((r) => !r.created);
    expect(lost).toMatchObject({ created: false, existing: { sessionId, status: 'pending', runs: 0 } });
  });

  it('commits one of two concurrent answers for the same turn; the other gets the winner back', async () => {
    // Prepare
    const sessionId = await runningSession();

    // Act
    const results = await Promise.all([
      retried(() => store.commitTurn({ tenantId: TENANT, sessionId, message: answer('first') })),
      retried(() => store.commitTurn({ tenantId: TENANT, sessionId, message: answer('second') })),
    ]);

    // Assess: one winner; the loser sees the stored message; tokens and cost are counted once
    expect(results.filter((r) => r.committed)).toHaveLength(1);
    const lost = results.find((r) => !r.committed);
    const conversation = await store.loadConversation(TENANT, sessionId);
    const stored = conversation.messages.find((m) => m.turn === 1);
    expect(lost).toMatchObject({ committed: false, message: { turn: 1, content: stored?.content } });
    expect(conversation.session).toMatchObject({
      turn: 1,
      tokensInput: 100,
      costUsd: 0.001,
      models: { 'model-a': 1 },
    });
  });

  it('claims a tool call once when two attempts race, refuses the second under the live lease, and keeps the first outcome', async () => {
    // Prepare
    const sessionId = await runningSession();
    const claim = {
      tenantId: TENANT,
      sessionId,
      turn: 1,
      index: 0,
      toolUseId: 'tu-1',
      name: 'audit_billing_logs',
      actionGroup: 'billing',
      input: { tenant_id: TENANT },
      inputHash: 'h-in',
      idempotencyKey: 'k-1',
      leaseUntil: Date.now() + 60_000,
    };
    const outcome = (result: string) => ({
      tenantId: TENANT,
      sessionId,
      turn: 1,
      index: 0,
      status: 'succeeded' as const,
      result,
      resultHash: `h-${result}`,
      latencyMs: 5,
      invocations: 1,
    });

    // Act
    const claims = await Promise.all([store.claimToolCall(claim), store.claimToolCall(claim)]);
    await Promise.all([
      retried(() => store.completeToolCall(outcome('first'))),
      retried(() => store.completeToolCall(outcome('second'))),
    ]);
    const replay = await store.claimToolCall(claim);

    // Assess
    expect(claims.filter((c) => c.fresh)).toHaveLength(1);
    expect(claims.find((c) => !c.fresh)).toMatchObject({
      leased: false,
      item: { status: 'started', attempts: 1 },
    });
    const { session, toolCalls } = await store.loadConversation(TENANT, sessionId);
    expect(toolCalls).toHaveLength(1);
    expect(toolCalls[0]).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(['first', 'second']).toContain(toolCalls[0]?.result);
    expect(session.toolCalls).toBe(1);
    expect(replay).toEqual({ item: toolCalls[0], fresh: false, leased: false });
  });

  it('lets a retried finish succeed again, refuses another ending, and never fails an ended session', async () => {
    // Prepare
    const sessionId = await runningSession();
    const finish = {
      tenantId: TENANT,
      sessionId,
      status: 'completed' as const,
      output: 'Done.',
      stopReason: 'completed',
    };

    // Act
    const [first, second] = await Promise.all([store.finishSession(finish), store.finishSession(finish)]);
    const otherEnding = await store
      .finishSession({ ...finish, status: 'stopped', stopReason: 'max_turns' })
      .catch((error: unknown) => error);
    const failed = await store.failSession({ tenantId: TENANT, sessionId, errorType: 'X', message: 'late' });

    // Assess
    expect(first).toMatchObject({ status: 'completed', stopReason: 'completed', output: 'Done.' });
    expect(second).toMatchObject({ status: 'completed', stopReason: 'completed' });
    expect(otherEnding).toBeInstanceOf(SessionStateError);
    expect((otherEnding as Error).message).toBe(`Session ${sessionId} is completed; it cannot be finished`);
    expect(failed).toMatchObject({ failed: false, session: { status: 'completed', output: 'Done.' } });
  });

  it('begins a run once when the same execution starts the session twice at once, and refuses a second execution', async () => {
    // Prepare
    const sessionId = await runningSession(false);

    // Act: the same StartSession twice (a retried step), then another execution trying to start it
    const runs = await Promise.all([
      store.beginRun(TENANT, sessionId, 'start', EXECUTION),
      store.beginRun(TENANT, sessionId, 'start', EXECUTION),
    ]);
    const other = store.beginRun(TENANT, sessionId, 'start', `${EXECUTION}-other`);

    // Assess
    for (const run of runs)
      expect(run).toMatchObject({ status: 'running', executionArn: EXECUTION, runs: 1 });
    await expect(other).rejects.toThrow(`Session ${sessionId} is running; a start needs pending`);
  });

  it('resumes a failed session once when two resumes of the same execution race', async () => {
    // Prepare
    const sessionId = await runningSession();
    await store.failSession({ tenantId: TENANT, sessionId, errorType: 'ModelThrottledError', message: 'x' });
    const resume = `${EXECUTION}-r1`;

    // Act
    const runs = await Promise.all([
      store.beginRun(TENANT, sessionId, 'resume', resume),
      store.beginRun(TENANT, sessionId, 'resume', resume),
    ]);

    // Assess: one update counted the run; the other got the running session back (ALL_OLD) as a replay
    for (const run of runs) expect(run).toMatchObject({ status: 'running', executionArn: resume, runs: 2 });
    const session = await store.requireSession(TENANT, sessionId);
    expect(session.runs).toBe(2);
    expect(session.error).toBeUndefined();
  });
});
