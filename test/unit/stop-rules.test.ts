/** The stop rules Plan checks before every model call: loop detection, schema-violation limit, budgets, turn limit. */

import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { BedrockConverseProvider } from '../../shared/providers/bedrock-converse';
import 'aws-sdk-client-mock-jest';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { repeatStreak, schemaViolationTurns, stopBeforeNextTurn } from '../../shared/agent/limits';
import { getProfile } from '../../shared/agent/profiles';
import { ProfileError, SessionStateError } from '../../shared/runtime/errors';
import { planTurn } from '../../shared/steps/plan';
import type { Conversation, ToolCallItem } from '../../shared/store/session-store';
import { credentials, mockedStore, REGION } from '../helpers/aws';
import {
  assistantToolUses,
  conversationOf,
  defaultLimits,
  goalItem,
  partitionItems,
  SESSION,
  sessionItem,
  TENANT,
  TIERS,
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

/** The reason the next Plan stops the goal with, if any. */
const stopOf = (conversation: Conversation) =>
  stopBeforeNextTurn(
    conversation.session,
    conversation.toolCalls,
    getProfile(conversation.session.agent).limits,
  );

describe('loop detection', () => {
  it('stops with loop_detected after six consecutive calls of the same tool with the same result', () => {
    // Prepare
    const conversation = conversationOf(sessionItem({ turn: 6 }), [goalItem()], callsPerTurn(6));

    // Act
    const reason = stopOf(conversation);

    // Assess
    expect(reason).toBe('loop_detected');
  });

  it('lets five such calls continue (the threshold is "more than 5")', () => {
    // Prepare
    const conversation = conversationOf(sessionItem({ turn: 5 }), [goalItem()], callsPerTurn(5));

    // Act
    const reason = stopOf(conversation);

    // Assess
    expect(reason).toBeUndefined();
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
    const reason = stopOf(conversation);

    // Assess
    expect(reason).toBeUndefined();
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

  it('counts executed calls only: refusals of the per-turn cap, unknown tools, schemas and breakers do not', () => {
    // Prepare: a turn of 20 calls, 8 run with distinct results, 12 refused by the cap (errorKind limit)
    const calls = Array.from({ length: 20 }, (_, index) =>
      toolCallItem({
        turn: 1,
        index,
        toolUseId: `tu-${index}`,
        name: 'list_underutilized_resources',
        ...(index < 8
          ? { resultHash: `result-${index}` }
          : { status: 'failed', errorKind: 'limit', resultHash: 'not-run' }),
      }),
    );
    const refusals = (['unknown_tool', 'schema', 'circuit_open'] as const).map((errorKind, i) =>
      toolCallItem({ turn: 2, index: i, toolUseId: `tu-r${i}`, name: 'x', status: 'failed', errorKind }),
    );

    // Act
    const streak = repeatStreak([...calls, ...refusals]);

    // Assess
    expect(streak).toBe(1);
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
    const afterTwo = stopOf(two);
    const afterThree = stopOf(three);

    // Assess
    expect(afterTwo).toBeUndefined();
    expect(afterThree).toBe('schema_violations');
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
    const reason = stopOf(conversationOf(session, [goalItem()], oneCall));

    // Assess
    expect(reason).toBe('token_budget');
  });

  it('stops with usd_budget once the session cost reaches the USD cap', () => {
    // Prepare
    const session = sessionItem({ turn: 1, limits: defaultLimits({ usdBudget: 0.5 }), costUsd: 0.5 });

    // Act
    const reason = stopOf(conversationOf(session, [goalItem()], oneCall));

    // Assess
    expect(reason).toBe('usd_budget');
  });

  it('stops with max_turns when the last allowed turn is done', () => {
    // Prepare
    const session = sessionItem({ turn: 6, limits: defaultLimits({ maxTurns: 6 }) });
    const calls = callsPerTurn(6, 'audit_billing_logs', ['a', 'b', 'c', 'd', 'e', 'f']);

    // Act
    const reason = stopOf(conversationOf(session, [goalItem()], calls));

    // Assess
    expect(reason).toBe('max_turns');
  });

  it('plans again while under every limit', () => {
    // Prepare
    const session = sessionItem({ turn: 1, tokensInput: 5_000, costUsd: 0.02 });

    // Act
    const reason = stopOf(conversationOf(session, [goalItem()], oneCall));

    // Assess
    expect(reason).toBeUndefined();
  });
});

describe('the order of the rules', () => {
  it('names the loop before the budget when a looping session is also over budget', () => {
    // Prepare
    const session = sessionItem({ turn: 6, limits: defaultLimits({ usdBudget: 0.01 }), costUsd: 0.02 });

    // Act
    const reason = stopOf(conversationOf(session, [goalItem()], callsPerTurn(6)));

    // Assess
    expect(reason).toBe('loop_detected');
  });

  it('fails clearly when the session names an agent that no longer exists', () => {
    // Act
    const act = () => stopOf(conversationOf(sessionItem({ turn: 1, agent: 'retired-agent' })));

    // Assess
    expect(act).toThrow(ProfileError);
  });
});

describe('Plan applies the stop rules before every model call', () => {
  const planWith = (conversation: Conversation) => {
    const { ddb, store } = mockedStore();
    const bedrockClient = new BedrockRuntimeClient({ region: REGION, credentials });
    const bedrock = mockClient(bedrockClient);
    ddb.on(QueryCommand).resolves({ Items: partitionItems(conversation) });
    const deps = {
      store,
      providers: { bedrock: new BedrockConverseProvider(bedrockClient) },
      tiers: { ...TIERS },
    };
    return { ddb, bedrock, run: () => planTurn(deps, { tenantId: TENANT, sessionId: SESSION }) };
  };

  /** The goal and six turns that each called audit_billing_logs once (tool use ids tu-1 .. tu-6). */
  const sixAuditTurns = () => [
    goalItem(),
    ...[1, 2, 3, 4, 5, 6].map((t) =>
      assistantToolUses(t, [{ toolUseId: `tu-${t}`, name: 'audit_billing_logs' }]),
    ),
  ];

  it('stops a looping session with loop_detected from the one conversation it loads, without a model call', async () => {
    // Prepare
    const messages = sixAuditTurns();
    const { ddb, bedrock, run } = planWith(
      conversationOf(sessionItem({ turn: 6 }), messages, callsPerTurn(6)),
    );

    // Act
    const result = await run();

    // Assess
    expect(result).toEqual({ turn: 6, action: 'stop', toolCalls: [], reason: 'loop_detected' });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':pk': `T#${TENANT}#S#${SESSION}`, ':parts': 'R#' },
      ConsistentRead: true,
    });
  });

  it('stops with max_turns after the last allowed turn, without a model call', async () => {
    // Prepare
    const session = sessionItem({ turn: 6, limits: defaultLimits({ maxTurns: 6 }) });
    const calls = callsPerTurn(6, 'audit_billing_logs', ['a', 'b', 'c', 'd', 'e', 'f']);
    const messages = sixAuditTurns();
    const { bedrock, run } = planWith(conversationOf(session, messages, calls));

    // Act
    const result = await run();

    // Assess
    expect(result).toEqual({ turn: 6, action: 'stop', toolCalls: [], reason: 'max_turns' });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });

  it('runs the unfinished tool calls of the last turn again rather than stopping or planning past them', async () => {
    // Prepare: the last call of turn 6 has no outcome (a crash between claim and record), the turn limit is reached
    const session = sessionItem({ turn: 6, limits: defaultLimits({ maxTurns: 6 }) });
    const calls = [
      ...callsPerTurn(5, 'audit_billing_logs', ['a', 'b', 'c', 'd', 'e']),
      toolCallItem({ turn: 6, index: 0, toolUseId: 'tu-6', name: 'audit_billing_logs', status: 'started' }),
    ];
    const messages = sixAuditTurns();
    const { bedrock, run } = planWith(conversationOf(session, messages, calls));

    // Act
    const result = await run();

    // Assess
    expect(result).toMatchObject({ turn: 6, action: 'tools', reason: null });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });

  it('refuses a session that is no longer running instead of planning or stopping it', async () => {
    // Prepare
    const { run } = planWith(
      conversationOf(sessionItem({ turn: 2, status: 'completed' }), [goalItem()], callsPerTurn(2)),
    );

    // Act
    const act = run();

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow(/is completed; only a running session plans/);
  });
});
