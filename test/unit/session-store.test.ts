/** The session store: conditional and transactional writes over the single table, and how it reads a session back. */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import 'aws-sdk-client-mock-jest';
import {
  SessionNotFoundError,
  SessionStateError,
  StoreItemError,
  StoreUnavailableError,
} from '../../shared/runtime/errors';
import type { MessageItem, NewSession, SessionItem } from '../../shared/store/session-store';
import { keys } from '../../shared/store/table';
import {
  conditionFailed,
  mockedStore,
  TABLE,
  tableThrottled,
  transactionConditionFailed,
} from '../helpers/aws';
import {
  AT,
  assistantText,
  assistantToolUses,
  conversationOf,
  defaultLimits,
  EXPIRES_AT,
  goalItem,
  messageItem,
  partitionItems,
  SESSION,
  sessionItem,
  TENANT,
  toolCallItem,
} from '../helpers/fixtures';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:agent-goal:acme-acme-audit-0001';

const newSession = (): NewSession => ({
  tenantId: TENANT,
  sessionId: SESSION,
  agent: 'billing-auditor',
  goal: 'Audit the bill.',
  limits: defaultLimits(),
  eventId: 'evt-1',
  goalMessage: [{ text: 'Tenant: acme\nGoal: Audit the bill.' }],
});

describe('createSession', () => {
  it('writes the pending session and its goal message in one transaction, each only if new', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).resolves({});

    // Act
    const created = await store.createSession(newSession());

    // Assess
    expect(created).toEqual({ created: true });
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items).toHaveLength(2);
    for (const item of items) {
      expect(item.Put).toMatchObject({
        TableName: TABLE,
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    }
    const session = items[0]?.Put?.Item as SessionItem;
    expect(session).toEqual({
      pk: 'T#acme#S#acme-audit-0001',
      sk: 'META',
      entity: 'session',
      tenantId: TENANT,
      sessionId: SESSION,
      agent: 'billing-auditor',
      goal: 'Audit the bill.',
      limits: defaultLimits(),
      status: 'pending',
      turn: 0,
      tokensInput: 0,
      tokensOutput: 0,
      tokensCacheRead: 0,
      tokensCacheWrite: 0,
      costUsd: 0,
      // The budget ledger starts at the limits: $1 is 1,000,000 micro-dollars.
      costMicros: 0,
      remainingMicros: 1_000_000,
      remainingTokens: 200_000,
      reservations: {},
      modelUsage: {},
      providers: {},
      toolCalls: 0,
      models: {},
      runs: 0,
      eventId: 'evt-1',
      createdAt: AT,
      updatedAt: AT,
      expiresAt: EXPIRES_AT,
      gsi1pk: 'T#acme',
      gsi1sk: `SESSION#${AT}#${SESSION}`,
    });
    expect(items[1]?.Put?.Item).toEqual({
      pk: 'T#acme#S#acme-audit-0001',
      sk: 'M#0000',
      entity: 'message',
      turn: 0,
      role: 'user',
      content: [{ text: 'Tenant: acme\nGoal: Audit the bill.' }],
      createdAt: AT,
      expiresAt: EXPIRES_AT,
    });
  });

  it('answers with the existing session when it already exists, without reading it again', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const existing = sessionItem({ status: 'running' });
    ddb.on(TransactWriteCommand).rejects(transactionConditionFailed(existing, 'failed'));

    // Act
    const created = await store.createSession(newSession());

    // Assess
    expect(created).toEqual({ created: false, existing });
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });

  it('surfaces a throttled table as StoreUnavailableError, keeping the cause', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const throttled = tableThrottled();
    ddb.on(TransactWriteCommand).rejects(throttled);

    // Act
    const act = store.createSession(newSession());

    // Assess
    await expect(act).rejects.toThrow(StoreUnavailableError);
    await expect(act).rejects.toHaveProperty('cause', throttled);
    await expect(act).rejects.toThrow(/creating the session/);
  });
});

describe('reading sessions', () => {
  it('reads the session header consistently, by tenant and session', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(GetCommand).resolves({ Item: sessionItem() });

    // Act
    const session = await store.getSession(TENANT, SESSION);

    // Assess
    expect(session?.status).toBe('running');
    expect(ddb).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: 'T#acme#S#acme-audit-0001', sk: 'META' },
      ConsistentRead: true,
    });
  });

  it('names the tenant and session it could not find', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(GetCommand).resolves({});

    // Act
    const act = store.requireSession(TENANT, 'missing-1');

    // Assess
    await expect(act).rejects.toThrow(SessionNotFoundError);
    await expect(act).rejects.toThrow('Session missing-1 of tenant acme does not exist');
  });

  it('loads a whole conversation across pages, messages and tool calls in key order', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const turnOne = assistantToolUses(1, [
      { toolUseId: 'a', name: 'audit_billing_logs' },
      { toolUseId: 'b', name: 'get_contract_terms' },
    ]);
    const items = partitionItems(
      conversationOf(
        sessionItem({ turn: 2 }),
        [goalItem(), turnOne, assistantText(2, 'Done.')],
        [
          toolCallItem({ turn: 1, index: 0, toolUseId: 'a', name: 'audit_billing_logs' }),
          toolCallItem({ turn: 1, index: 1, toolUseId: 'b', name: 'get_contract_terms' }),
        ],
      ),
    );
    const page = (...at: number[]) => at.flatMap((i) => items.slice(i, i + 1));
    const lastKey = { pk: 'T#acme#S#acme-audit-0001', sk: 'M#0001' };
    // DynamoDB pages in key order; serve them shuffled to prove the store sorts
    ddb
      .on(QueryCommand)
      .resolvesOnce({ Items: page(3, 1, 0), LastEvaluatedKey: lastKey })
      .resolves({ Items: page(5, 2, 4) });

    // Act
    const conversation = await store.loadConversation(TENANT, SESSION);

    // Assess
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddb).toHaveReceivedNthCommandWith(2, QueryCommand, {
      ExclusiveStartKey: lastKey,
      ConsistentRead: true,
    });
    expect(conversation.session.turn).toBe(2);
    expect(conversation.messages.map((m) => m.sk)).toEqual(['M#0000', 'M#0001', 'M#0002']);
    expect(conversation.toolCalls.map((c) => c.sk)).toEqual(['C#0001#00', 'C#0001#01']);
  });

  it('refuses to load a conversation whose session header is missing', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(QueryCommand).resolves({ Items: [goalItem() as unknown as Record<string, unknown>] });

    // Act
    const act = store.loadConversation(TENANT, SESSION);

    // Assess
    await expect(act).rejects.toThrow(SessionNotFoundError);
  });

  it('lists a tenant sessions from the index, newest page, oldest first', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const newer = sessionItem({ sessionId: 's-2' });
    const older = sessionItem({ sessionId: 's-1' });
    ddb.on(QueryCommand).resolves({ Items: [newer, older] });

    // Act
    const sessions = await store.listTenantSessions(TENANT, 2);

    // Assess
    expect(sessions.map((s) => s.sessionId)).toEqual(['s-1', 's-2']);
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'gsi1',
      ExpressionAttributeValues: { ':pk': 'T#acme', ':prefix': 'SESSION#' },
      ScanIndexForward: false,
      Limit: 2,
    });
  });
});

describe('beginRun', () => {
  it('moves a pending session to running for its first execution and counts the run', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: sessionItem({ status: 'running', runs: 1, executionArn: EXECUTION }) });

    // Act
    const session = await store.beginRun(TENANT, SESSION, 'start', EXECUTION);

    // Assess
    expect(session.status).toBe('running');
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.UpdateExpression).toContain('runs = runs + :one');
    expect(update?.UpdateExpression).toContain('runStartTurn = turn');
    expect(update?.ConditionExpression).toContain('#status = :pending');
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':pending': 'pending', ':arn': EXECUTION });
  });

  it('lets a resume continue a failed or resumably stopped session, never a running one', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ runs: 2 }) });

    // Act
    await store.beginRun(TENANT, SESSION, 'resume', `${EXECUTION}-r1`);

    // Assess
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.ConditionExpression).toContain(
      '(#status = :failed OR #status = :paused OR (#status = :stopped AND stopReason IN (:stop0, :stop1, :stop2, :stop3, :stop4)))',
    );
    expect(update?.ConditionExpression).not.toContain(':running');
    expect(update?.UpdateExpression).toContain('REMOVE #error, #output, stopReason');
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':stop0': 'circuit_open' });
  });

  it('refuses to resume a running session (its execution may still be alive)', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb
      .on(UpdateCommand)
      .rejects(conditionFailed(sessionItem({ status: 'running', executionArn: EXECUTION })));

    // Act
    const act = store.beginRun(TENANT, SESSION, 'resume', `${EXECUTION}-r1`);

    // Assess
    await expect(act).rejects.toThrow(
      'is running; a resume needs failed, paused, or stopped by circuit_open or usd_budget',
    );
  });

  it('clears never-invoked calls in the same transaction as the resume, uncounting them', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).resolves({});
    ddb.on(GetCommand).resolves({ Item: sessionItem({ status: 'running', runs: 2 }) });

    // Act
    await store.beginRun(TENANT, SESSION, 'resume', `${EXECUTION}-r1`, {
      clearCalls: [{ turn: 2, index: 0 }],
    });

    // Assess
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(items[0]?.Update?.UpdateExpression).toContain('toolCalls = toolCalls - :cleared');
    expect(items[1]?.Delete).toMatchObject({
      Key: keys.toolCall(TENANT, SESSION, 2, 0),
      ConditionExpression: 'errorKind IN (:circuit, :limit, :budget)',
    });
  });

  it('lets a continue take over only from the execution the session runs under', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ status: 'running', runs: 2 }) });

    // Act
    await store.beginRun(TENANT, SESSION, 'continue', `${EXECUTION}-r1`, { previousExecutionArn: EXECUTION });

    // Assess
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: expect.stringContaining('#status = :running AND executionArn = :previous'),
      ExpressionAttributeValues: expect.objectContaining({ ':previous': EXECUTION }),
    });
  });

  it('returns the session unchanged when the same execution retries the step', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb
      .on(UpdateCommand)
      .rejects(conditionFailed(sessionItem({ status: 'running', executionArn: EXECUTION, runs: 1 })));

    // Act
    const session = await store.beginRun(TENANT, SESSION, 'start', EXECUTION);

    // Assess
    expect(session).toMatchObject({ status: 'running', runs: 1 });
  });

  it('refuses to start a session that is not pending', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).rejects(conditionFailed(sessionItem({ status: 'completed' })));

    // Act
    const act = store.beginRun(
      TENANT,
      SESSION,
      'start',
      'arn:aws:states:us-east-1:123456789012:execution:agent-goal:other',
    );

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow('Session acme-audit-0001 is completed; a start needs pending');
  });
});

describe('commitTurn', () => {
  const message: Omit<MessageItem, 'pk' | 'sk' | 'entity' | 'createdAt' | 'expiresAt'> = {
    turn: 3,
    role: 'assistant',
    content: [{ text: 'Done.' }],
    modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    tier: 'executor',
    usage: { input: 1200, output: 300, cacheRead: 800, cacheWrite: 0 },
    costUsd: 0.002224,
    latencyMs: 900,
  };

  it('stores the turn and adds its tokens and cost to the session, only if the previous turn is the last one', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).resolves({});

    // Act
    const committed = await store.commitTurn({ tenantId: TENANT, sessionId: SESSION, message });

    // Assess
    expect(committed).toEqual({ committed: true });
    const [put, update] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(put?.Put).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { ...message, pk: 'T#acme#S#acme-audit-0001', sk: 'M#0003', entity: 'message', createdAt: AT },
    });
    expect(update?.Update).toMatchObject({
      Key: keys.session(TENANT, SESSION),
      ConditionExpression: 'turn = :previous AND #status = :running',
      ExpressionAttributeNames: { '#model': message.modelId, '#status': 'status' },
      ExpressionAttributeValues: expect.objectContaining({
        ':turn': 3,
        ':previous': 2,
        ':in': 1200,
        ':out': 300,
        ':cr': 800,
        ':cw': 0,
        ':cost': 0.002224,
      }),
    });
  });

  it('answers with the message that won when the turn was already committed (a retried Plan step)', async () => {
    // Prepare: the other attempt's message is in place and the session already counts the turn
    const { ddb, store } = mockedStore();
    const winner = messageItem({ turn: 3, role: 'assistant', content: [{ text: 'first answer' }] });
    const session = sessionItem({ turn: 3 });
    ddb.on(TransactWriteCommand).rejects(transactionConditionFailed(winner, session));

    // Act
    const committed = await store.commitTurn({ tenantId: TENANT, sessionId: SESSION, message });

    // Assess
    expect(committed).toEqual({ committed: false, message: winner, session });
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });
});

describe('tool-call records', () => {
  const claim = {
    tenantId: TENANT,
    sessionId: SESSION,
    turn: 1,
    index: 0,
    toolUseId: 'tu-audit',
    name: 'audit_billing_logs',
    actionGroup: 'billing',
    input: { tenant_id: TENANT },
    inputHash: 'h-in',
    idempotencyKey: 'k-1',
    leaseUntil: Date.parse(AT) + 60_000,
  };

  it('claims a new call as started on its first attempt', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(PutCommand).resolves({});

    // Act
    const { item, fresh } = await store.claimToolCall(claim);

    // Assess
    expect(fresh).toBe(true);
    expect(item).toMatchObject({
      sk: 'C#0001#00',
      status: 'started',
      attempts: 1,
      startedAt: AT,
      idempotencyKey: 'k-1',
    });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, { ConditionExpression: 'attribute_not_exists(pk)' });
  });

  it('takes over a started call without a lease (or an expired one) and counts the attempt', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(PutCommand).rejects(
      conditionFailed(
        toolCallItem({
          turn: 1,
          index: 0,
          toolUseId: 'tu-audit',
          name: 'audit_billing_logs',
          status: 'started',
        }),
      ),
    );
    ddb.on(UpdateCommand).resolves({
      Attributes: toolCallItem({
        turn: 1,
        index: 0,
        toolUseId: 'tu-audit',
        name: 'audit_billing_logs',
        status: 'started',
        attempts: 2,
      }),
    });

    // Act
    const { item, fresh } = await store.claimToolCall(claim);

    // Assess
    expect(fresh).toBe(false);
    expect(item).toMatchObject({ status: 'started', attempts: 2 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#status = :started AND attribute_not_exists(leaseUntil)',
    });
  });

  it('returns the recorded outcome of a call that already finished', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(PutCommand).rejects(
      conditionFailed(
        toolCallItem({
          turn: 1,
          index: 0,
          toolUseId: 'tu-audit',
          name: 'audit_billing_logs',
          status: 'succeeded',
        }),
      ),
    );

    // Act
    const { item, fresh } = await store.claimToolCall(claim);

    // Assess: the failed put's ALL_OLD item is the outcome; nothing is counted or read again
    expect(fresh).toBe(false);
    expect(item.status).toBe('succeeded');
    expect(ddb).toHaveReceivedCommandWith(PutCommand, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });

  it('returns the outcome of a call that finished between the claim and the attempt count', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const call = { turn: 1, index: 0, toolUseId: 'tu-audit', name: 'audit_billing_logs' };
    ddb.on(PutCommand).rejects(conditionFailed(toolCallItem({ ...call, status: 'started' })));
    ddb.on(UpdateCommand).rejects(conditionFailed(toolCallItem({ ...call, status: 'failed' })));

    // Act
    const { item, fresh } = await store.claimToolCall(claim);

    // Assess
    expect(fresh).toBe(false);
    expect(item.status).toBe('failed');
    expect(ddb).not.toHaveReceivedCommand(GetCommand);
  });

  it('records an outcome once and counts the call on the session', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).resolves({});

    // Act
    await store.completeToolCall({
      tenantId: TENANT,
      sessionId: SESSION,
      turn: 1,
      index: 0,
      status: 'failed',
      errorKind: 'schema',
      result: 'Invalid parameters',
      resultHash: 'h-out',
      latencyMs: 12,
      invocations: 0,
    });

    // Assess
    const [call, session] = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(call?.Update).toMatchObject({
      Key: keys.toolCall(TENANT, SESSION, 1, 0),
      ConditionExpression: '#status = :started',
      ExpressionAttributeValues: expect.objectContaining({
        ':status': 'failed',
        ':kind': 'schema',
        ':hash': 'h-out',
      }),
    });
    expect(call?.Update?.UpdateExpression).toContain('errorKind = :kind');
    expect(session?.Update).toMatchObject({
      Key: keys.session(TENANT, SESSION),
      UpdateExpression: 'ADD toolCalls :one, failedToolCalls :one SET updatedAt = :now',
    });
  });

  it('keeps the first outcome when a retried step records the call again', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).rejects(transactionConditionFailed());

    // Act
    const act = store.completeToolCall({
      tenantId: TENANT,
      sessionId: SESSION,
      turn: 1,
      index: 0,
      status: 'succeeded',
      result: '{}',
      resultHash: 'h',
      latencyMs: 5,
      invocations: 1,
    });

    // Assess
    await expect(act).resolves.toBeUndefined();
  });

  // Inside TransactWriteItems DynamoDB reports a clash with another in-flight transaction as
  // TransactionCanceledException with reason TransactionConflict, which the SDK does not retry. Parallel tool calls
  // of one turn all update the session header in completeToolCall's transaction, so they can conflict.
  test('surfaces a transaction cancelled by a conflicting transaction as StoreUnavailableError', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message:
          'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
      }),
    );

    // Act
    const act = store.completeToolCall({
      tenantId: TENANT,
      sessionId: SESSION,
      turn: 1,
      index: 1,
      status: 'succeeded',
      result: '{}',
      resultHash: 'h',
      latencyMs: 5,
      invocations: 1,
    });

    // Assess
    await expect(act).rejects.toThrow(StoreUnavailableError);
  });
});

describe('ending a session', () => {
  it('finishes a running session with its output and stop reason', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb
      .on(UpdateCommand)
      .resolves({ Attributes: sessionItem({ status: 'completed', output: 'Saved $1,200.' }) });

    // Act
    const session = await store.finishSession({
      tenantId: TENANT,
      sessionId: SESSION,
      status: 'completed',
      output: 'Saved $1,200.',
      stopReason: 'completed',
    });

    // Assess
    expect(session.status).toBe('completed');
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#status = :running OR (#status = :status AND stopReason = :reason)',
    });
  });

  it('refuses to finish a session that ended otherwise, naming its status', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).rejects(conditionFailed(sessionItem({ status: 'failed' })));

    // Act
    const act = store.finishSession({
      tenantId: TENANT,
      sessionId: SESSION,
      status: 'completed',
      output: 'x',
      stopReason: 'completed',
    });

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow('Session acme-audit-0001 is failed; it cannot be finished');
  });

  it('marks a session failed with the error, keeping its last committed turn as the checkpoint', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).resolves({ Attributes: sessionItem({ status: 'failed', turn: 3 }) });

    // Act
    const result = await store.failSession({
      tenantId: TENANT,
      sessionId: SESSION,
      errorType: 'ModelThrottledError',
      message: 'Converse throttled',
    });

    // Assess
    expect(result.failed).toBe(true);
    expect(result.session?.turn).toBe(3);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({
        ':error': { type: 'ModelThrottledError', message: 'Converse throttled', at: AT },
      }),
    });
  });

  it('leaves a completed session alone when asked to fail it, answering with it as it is', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const completed = sessionItem({ status: 'completed', stopReason: 'completed', output: 'done' });
    ddb.on(UpdateCommand).rejects(conditionFailed(completed));

    // Act
    const result = await store.failSession({
      tenantId: TENANT,
      sessionId: SESSION,
      errorType: 'X',
      message: 'y',
    });

    // Assess
    expect(result).toEqual({ failed: false, session: completed });
  });

  it('leaves a missing session alone when asked to fail it', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    ddb.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const result = await store.failSession({
      tenantId: TENANT,
      sessionId: SESSION,
      errorType: 'X',
      message: 'y',
    });

    // Assess
    expect(result).toEqual({ failed: false });
  });
});

describe('parse on read', () => {
  it('names the item key and every issue when a stored session does not fit its schema', async () => {
    // Prepare: a header written by an older version, without counters and with a number as its status
    const { ddb, store } = mockedStore();
    const { tokensInput: _dropped, ...withoutTokens } = sessionItem();
    ddb.on(GetCommand).resolves({ Item: { ...withoutTokens, status: 7 } });

    // Act
    const act = store.getSession(TENANT, SESSION);

    // Assess
    await expect(act).rejects.toThrow(StoreItemError);
    await expect(act).rejects.toThrow(
      /^Item T#acme#S#acme-audit-0001 \/ META does not fit its schema: status: .*; tokensInput: /,
    );
  });

  it('refuses a tool call in a conversation whose status is unknown', async () => {
    // Prepare
    const { ddb, store } = mockedStore();
    const call = {
      ...toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-1', name: 'audit_billing_logs' }),
      status: 'done',
    };
    ddb.on(QueryCommand).resolves({ Items: [sessionItem(), goalItem(), call] });

    // Act
    const act = store.loadConversation(TENANT, SESSION);

    // Assess
    await expect(act).rejects.toThrow(StoreItemError);
    await expect(act).rejects.toThrow(
      'Item T#acme#S#acme-audit-0001 / C#0001#00 does not fit its schema: status:',
    );
  });
});
