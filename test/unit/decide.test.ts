/** The Decide step: loop detection, schema-violation limit, token/USD budgets and the turn limit. */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import { repeatStreak, schemaViolationTurns } from '../../shared/agent/limits';
import { ProfileError, SessionStateError } from '../../shared/runtime/errors';
import { type DecideInput, decide, decideNext } from '../../shared/steps/decide';
import type { ToolCallItem } from '../../shared/store/session-store';
import { mockedStore } from '../helpers/aws';
import {
  assistantToolUses,
  conversationOf,
  defaultLimits,
  goalItem,
  partitionItems,
  SESSION,
  sessionItem,
  TENANT,
  toolCallItem,
} from '../helpers/fixtures';

/** One tool call per turn, turns 1..n, all to `name` with the same result unless `results` says otherwise. */
const callsPerTurn = (n: number, name = 'audit_billing_logs', results?: string[]): ToolCallItem[] =>
  Array.from({ length: n }, (_, i) =>
    toolCallItem({
      turn: i + 1,
      index: 0,
      toolUseId: `tu-${i + 1}`,
      name,
      resultHash: results?.[i] ?? 'same-result',
    }),
  );

const afterTools = (turn: number): DecideInput => ({
  tenantId: TENANT,
  sessionId: SESSION,
  turn,
  action: 'tools',
  planReason: null,
});

describe('loop detection', () => {
  it('stops with loop_detected after six consecutive calls of the same tool with the same result', () => {
    // Prepare
    const conversation = conversationOf(sessionItem({ turn: 6 }), [goalItem()], callsPerTurn(6));

    // Act
    const decision = decideNext(conversation, afterTools(6));

    // Assess
    expect(decision).toEqual({
      tenantId: TENANT,
      sessionId: SESSION,
      turn: 6,
      next: 'finalize',
      reason: 'loop_detected',
    });
  });

  it('lets five such calls continue (the threshold is "more than 5")', () => {
    // Prepare
    const conversation = conversationOf(sessionItem({ turn: 5 }), [goalItem()], callsPerTurn(5));

    // Act
    const decision = decideNext(conversation, afterTools(5));

    // Assess
    expect(decision.next).toBe('plan');
    expect(decision.reason).toBeNull();
  });

  it('does not count repeated calls that brought new state (a different result)', () => {
    // Prepare
    const results = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
    const conversation = conversationOf(
      sessionItem({ turn: 7, limits: defaultLimits({ maxTurns: 20 }) }),
      [goalItem()],
      callsPerTurn(7, 'audit_billing_logs', results),
    );

    // Act
    const decision = decideNext(conversation, afterTools(7));

    // Assess
    expect(decision.next).toBe('plan');
  });

  it('counts only the trailing run: a different tool in between resets it', () => {
    // Prepare: 4 identical, one other tool, then 4 identical again
    const calls = [
      ...callsPerTurn(4),
      toolCallItem({ turn: 5, index: 0, toolUseId: 'tu-5', name: 'get_contract_terms' }),
      ...callsPerTurn(4).map((c) => toolCallItem({ ...c, turn: c.turn + 5, toolUseId: `tu-${c.turn + 5}` })),
    ];

    // Act
    const streak = repeatStreak(calls);

    // Assess
    expect(streak).toBe(4);
  });

  it('orders calls by turn and index, whatever order they are stored in', () => {
    // Prepare: six same calls spread over three turns, given shuffled
    const calls = [3, 1, 2].flatMap((turn) =>
      [1, 0].map((index) =>
        toolCallItem({ turn, index, toolUseId: `tu-${turn}-${index}`, name: 'audit_billing_logs' }),
      ),
    );

    // Act
    const streak = repeatStreak(calls);

    // Assess
    expect(streak).toBe(6);
  });

  it('has no streak without tool calls', () => {
    // Act + Assess
    expect(repeatStreak([])).toBe(0);
  });
});

describe('schema violations', () => {
  const schemaFailure = (turn: number, index = 0) =>
    toolCallItem({
      turn,
      index,
      toolUseId: `tu-${turn}-${index}`,
      name: 'create_optimization_report',
      status: 'failed',
      errorKind: 'schema',
      resultHash: `h-${turn}-${index}`,
    });

  it('feeds two rejected turns back to the model, and stops on the third (maxSchemaRetries 2)', () => {
    // Prepare
    const two = conversationOf(sessionItem({ turn: 2 }), [goalItem()], [schemaFailure(1), schemaFailure(2)]);
    const three = conversationOf(
      sessionItem({ turn: 3 }),
      [goalItem()],
      [1, 2, 3].map((t) => schemaFailure(t)),
    );

    // Act
    const afterTwo = decideNext(two, afterTools(2));
    const afterThree = decideNext(three, afterTools(3));

    // Assess
    expect(afterTwo.next).toBe('plan');
    expect(afterThree).toMatchObject({ next: 'finalize', reason: 'schema_violations' });
  });

  it('does not count a turn in which at least one call passed its schema', () => {
    // Prepare
    const calls = [
      schemaFailure(1),
      schemaFailure(2),
      schemaFailure(3, 0),
      toolCallItem({ turn: 3, index: 1, toolUseId: 'tu-3-1', name: 'audit_billing_logs', resultHash: 'ok' }),
    ];

    // Act
    const trailing = schemaViolationTurns(calls, 3);

    // Assess
    expect(trailing).toBe(0);
  });

  it('counts only consecutive trailing turns', () => {
    // Prepare: turn 2 succeeded, turns 1, 3 and 4 were rejected
    const calls = [
      schemaFailure(1),
      toolCallItem({ turn: 2, index: 0, toolUseId: 'tu-2', name: 'audit_billing_logs' }),
      schemaFailure(3),
      schemaFailure(4),
    ];

    // Act + Assess
    expect(schemaViolationTurns(calls, 4)).toBe(2);
  });
});

describe('budgets and the turn limit', () => {
  const oneCall = [toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-1', name: 'audit_billing_logs' })];

  it('stops with token_budget once input, output and cache tokens together reach the budget', () => {
    // Prepare
    const session = sessionItem({
      turn: 1,
      limits: defaultLimits({ tokenBudget: 10_000 }),
      tokensInput: 6_000,
      tokensOutput: 2_000,
      tokensCacheRead: 1_500,
      tokensCacheWrite: 500,
    });

    // Act
    const decision = decideNext(conversationOf(session, [goalItem()], oneCall), afterTools(1));

    // Assess
    expect(decision).toMatchObject({ next: 'finalize', reason: 'token_budget' });
  });

  it('stops with usd_budget once the session cost reaches the USD cap', () => {
    // Prepare
    const session = sessionItem({ turn: 1, limits: defaultLimits({ usdBudget: 0.5 }), costUsd: 0.5 });

    // Act
    const decision = decideNext(conversationOf(session, [goalItem()], oneCall), afterTools(1));

    // Assess
    expect(decision).toMatchObject({ next: 'finalize', reason: 'usd_budget' });
  });

  it('stops with max_turns when the last allowed turn is done', () => {
    // Prepare
    const session = sessionItem({ turn: 6, limits: defaultLimits({ maxTurns: 6 }) });
    const calls = callsPerTurn(6, 'audit_billing_logs', ['a', 'b', 'c', 'd', 'e', 'f']);

    // Act
    const decision = decideNext(conversationOf(session, [goalItem()], calls), afterTools(6));

    // Assess
    expect(decision).toMatchObject({ next: 'finalize', reason: 'max_turns' });
  });

  it('plans again while under every limit', () => {
    // Prepare
    const session = sessionItem({ turn: 1, tokensInput: 5_000, costUsd: 0.02 });

    // Act
    const decision = decideNext(conversationOf(session, [goalItem()], oneCall), afterTools(1));

    // Assess
    expect(decision).toEqual({ tenantId: TENANT, sessionId: SESSION, turn: 1, next: 'plan', reason: null });
  });
});

describe('plan outcomes and unfinished turns', () => {
  it('finalizes as completed when the model finished', () => {
    // Act
    const decision = decideNext(conversationOf(sessionItem({ turn: 3 })), {
      ...afterTools(3),
      action: 'finish',
    });

    // Assess
    expect(decision).toMatchObject({ next: 'finalize', reason: 'completed' });
  });

  it('finalizes with the reason Plan gave when Plan stopped on a budget', () => {
    // Act
    const decision = decideNext(conversationOf(sessionItem({ turn: 2 })), {
      ...afterTools(2),
      action: 'stop',
      planReason: 'usd_budget',
    });

    // Assess
    expect(decision).toMatchObject({ next: 'finalize', reason: 'usd_budget' });
  });

  it('refuses to decide while a tool call of the turn has no outcome', () => {
    // Prepare
    const calls = [
      toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-1', name: 'audit_billing_logs' }),
      toolCallItem({ turn: 1, index: 1, toolUseId: 'tu-2', name: 'get_contract_terms', status: 'started' }),
    ];

    // Act
    const act = () =>
      decideNext(conversationOf(sessionItem({ turn: 1 }), [goalItem()], calls), afterTools(1));

    // Assess
    expect(act).toThrow(SessionStateError);
    expect(act).toThrow(/Turn 1 still has 1 tool call/);
  });

  it('fails clearly when the session names an agent that no longer exists', () => {
    // Act
    const act = () =>
      decideNext(conversationOf(sessionItem({ turn: 1, agent: 'retired-agent' })), afterTools(1));

    // Assess
    expect(act).toThrow(ProfileError);
  });
});

describe('decide (with the store)', () => {
  it('loads the conversation of the session it is asked about and decides on it', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const session = sessionItem({ turn: 6 });
    const messages = [
      goalItem(),
      ...[1, 2, 3, 4, 5, 6].map((t) =>
        assistantToolUses(t, [{ toolUseId: `tu-${t}`, name: 'audit_billing_logs' }]),
      ),
    ];
    ddb
      .on(QueryCommand)
      .resolves({ Items: partitionItems(conversationOf(session, messages, callsPerTurn(6))) });

    // Act
    const decision = await decide(store, afterTools(6));

    // Assess
    expect(decision.reason).toBe('loop_detected');
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':pk': `T#${TENANT}#S#${SESSION}` },
      ConsistentRead: true,
    });
  });
});

describe('session state', () => {
  it('refuses to decide for a session that is no longer running, instead of sending it back to Plan', () => {
    // Prepare
    const conversation = conversationOf(
      sessionItem({ turn: 2, status: 'completed' }),
      [goalItem()],
      callsPerTurn(2),
    );

    // Act
    const act = () => decideNext(conversation, afterTools(2));

    // Assess
    expect(act).toThrow(SessionStateError);
    expect(act).toThrow(/is completed; only a running session decides/);
  });
});
