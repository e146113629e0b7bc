/**
 * Session store over the single table: sessions, messages (turns) and tool-call records. Every write that can
 * race is conditional or transactional and returns the item it lost to (ALL_OLD) instead of reading it again;
 * every item read is parsed with its schema (table.ts). Callers pass the session's tenant, never a model value.
 */
import type { ContentBlock } from '@aws-sdk/client-bedrock-runtime';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Constraints } from '../contracts/goal-events';
import { SessionNotFoundError, SessionStateError, StoreUnavailableError } from '../runtime/errors';
import type { TransactUpdate } from './breaker-store';
import { conditionFailureItem, isConditionFailure, wrapStoreError as wrap } from './dynamodb-errors';
import {
  keys,
  MESSAGE_PREFIX,
  type MessageItem,
  messageItemSchema,
  parseItem,
  SESSION_INDEX,
  SESSION_INDEX_PREFIX,
  SESSION_SK,
  type SessionItem,
  type SessionLimits,
  type SessionStatus,
  sessionItemSchema,
  sessionPk,
  type TableKey,
  TOOL_CALL_PREFIX,
  type ToolCallItem,
  type ToolErrorKind,
  tenantPk,
  toolCallItemSchema,
} from './table';

export type {
  MessageItem,
  SessionItem,
  SessionLimits,
  SessionStatus,
  ToolCallItem,
  ToolCallStatus,
  ToolErrorKind,
} from './table';
export { TERMINAL_STATUSES } from './table';

/** A session that ended without failing (Finalize's work). */
export type EndedSession = SessionItem & { status: 'completed' | 'stopped' };

export interface Conversation {
  session: SessionItem;
  messages: MessageItem[];
  toolCalls: ToolCallItem[];
}

export interface NewSession {
  tenantId: string;
  sessionId: string;
  agent: string;
  goal: string;
  context?: Record<string, unknown>;
  requested?: Constraints;
  limits: SessionLimits;
  eventId: string;
  goalMessage: ContentBlock[];
}

export type CreateResult = { created: true } | { created: false; existing: SessionItem };

/** A turn commit that lost: the message another attempt committed for this turn, or the session that refused it. */
export type CommitResult =
  | { committed: true }
  | { committed: false; message?: MessageItem; session?: SessionItem };

export type FailResult = { failed: true; session: SessionItem } | { failed: false; session?: SessionItem };

const bySk = (a: { sk: string }, b: { sk: string }) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0);

const ALL_OLD = 'ALL_OLD' as const;

export class SessionStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private expiresAt(): number {
    return Math.floor(this.now().getTime() / 1000) + this.ttlDays * 86_400;
  }

  private newSessionItem(input: NewSession, at: string): SessionItem {
    return {
      ...keys.session(input.tenantId, input.sessionId),
      entity: 'session',
      tenantId: input.tenantId,
      sessionId: input.sessionId,
      agent: input.agent,
      goal: input.goal,
      ...(input.context ? { context: input.context } : {}),
      ...(input.requested ? { requested: input.requested } : {}),
      limits: input.limits,
      status: 'pending',
      turn: 0,
      tokensInput: 0,
      tokensOutput: 0,
      tokensCacheRead: 0,
      tokensCacheWrite: 0,
      costUsd: 0,
      toolCalls: 0,
      models: {},
      runs: 0,
      eventId: input.eventId,
      createdAt: at,
      updatedAt: at,
      expiresAt: this.expiresAt(),
      ...keys.sessionIndex(input.tenantId, at, input.sessionId),
    };
  }

  /** Creates the session and its goal message in one transaction; an existing session comes back instead. */
  async createSession(input: NewSession): Promise<CreateResult> {
    const at = this.now().toISOString();
    const session = this.newSessionItem(input, at);
    const goal: MessageItem = {
      ...keys.message(input.tenantId, input.sessionId, 0),
      entity: 'message',
      turn: 0,
      role: 'user',
      content: input.goalMessage,
      createdAt: at,
      expiresAt: session.expiresAt,
    };
    const ifNew = {
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: ALL_OLD,
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.tableName, Item: session, ...ifNew } },
            { Put: { TableName: this.tableName, Item: goal, ...ifNew } },
          ],
        }),
      );
      return { created: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'creating the session');
      const existing = conditionFailureItem(error, 0);
      if (existing) return { created: false, existing: this.session(existing) };
      // Only the goal message existed: a partition left without its header is not a session to reuse.
      throw new SessionStateError(`Session ${input.sessionId} has a goal message but no header`, {
        cause: error,
      });
    }
  }

  private session(item: unknown): SessionItem {
    return parseItem(sessionItemSchema, item);
  }

  async getSession(tenantId: string, sessionId: string): Promise<SessionItem | undefined> {
    const key = keys.session(tenantId, sessionId);
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : parseItem(sessionItemSchema, out.Item, key);
    } catch (error) {
      return wrap(error, 'reading the session');
    }
  }

  async requireSession(tenantId: string, sessionId: string): Promise<SessionItem> {
    const session = await this.getSession(tenantId, sessionId);
    if (!session) throw notFound(tenantId, sessionId);
    return session;
  }

  /** Everything under the session's partition in one paginated Query: header, messages and tool calls. */
  async loadConversation(tenantId: string, sessionId: string): Promise<Conversation> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': sessionPk(tenantId, sessionId) },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        items.push(...(out.Items ?? []));
        startKey = out.LastEvaluatedKey;
      } while (startKey);
    } catch (error) {
      return wrap(error, 'loading the conversation');
    }
    const skOf = (item: Record<string, unknown>) => String(item.sk);
    const header = items.find((i) => skOf(i) === SESSION_SK);
    if (!header) throw notFound(tenantId, sessionId);
    const messages = items
      .filter((i) => skOf(i).startsWith(MESSAGE_PREFIX))
      .map((i) => parseItem(messageItemSchema, i));
    const toolCalls = items
      .filter((i) => skOf(i).startsWith(TOOL_CALL_PREFIX))
      .map((i) => parseItem(toolCallItemSchema, i));
    return { session: this.session(header), messages: messages.sort(bySk), toolCalls: toolCalls.sort(bySk) };
  }

  /**
   * Moves the session to running for a new run. A start needs status pending; a resume needs failed (or a
   * running session whose execution died). Returns the updated session.
   */
  async beginRun(
    tenantId: string,
    sessionId: string,
    mode: 'start' | 'resume',
    executionArn: string,
  ): Promise<SessionItem> {
    const allowed: SessionStatus[] = mode === 'start' ? ['pending'] : ['failed', 'running'];
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(tenantId, sessionId),
          UpdateExpression:
            'SET #status = :running, executionArn = :arn, updatedAt = :now, runs = runs + :one REMOVE #error',
          ConditionExpression:
            'attribute_exists(pk) AND (#status = :a OR #status = :b) AND (attribute_not_exists(executionArn) OR executionArn <> :arn)',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':running': 'running',
            ':arn': executionArn,
            ':now': this.now().toISOString(),
            ':one': 1,
            ':a': allowed[0],
            ':b': allowed[1] ?? allowed[0],
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return this.session(out.Attributes);
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'starting the run');
      // Either this execution already began the run (a retried step) or the state is wrong.
      const old = conditionFailureItem(error);
      if (!old) throw notFound(tenantId, sessionId);
      const session = this.session(old);
      if (session.status === 'running' && session.executionArn === executionArn) return session;
      throw new SessionStateError(
        `Session ${sessionId} is ${session.status}; a ${mode} needs ${allowed.join(' or ')}`,
      );
    }
  }

  /**
   * Commits one model turn: the assistant message and the session counters, in one transaction conditioned on
   * the previous turn, so a retried Plan step cannot count a turn twice. A lost race returns what won.
   */
  async commitTurn(input: {
    tenantId: string;
    sessionId: string;
    message: Omit<MessageItem, 'pk' | 'sk' | 'entity' | 'createdAt' | 'expiresAt'>;
  }): Promise<CommitResult> {
    const { tenantId, sessionId, message } = input;
    const at = this.now().toISOString();
    const item: MessageItem = {
      ...keys.message(tenantId, sessionId, message.turn),
      entity: 'message',
      ...message,
      createdAt: at,
      expiresAt: this.expiresAt(),
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: item,
                ConditionExpression: 'attribute_not_exists(pk)',
                ReturnValuesOnConditionCheckFailure: ALL_OLD,
              },
            },
            { Update: this.countTurn(tenantId, sessionId, message, at) },
          ],
        }),
      );
      return { committed: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'committing the turn');
      const winner = conditionFailureItem(error, 0);
      const session = conditionFailureItem(error, 1);
      return {
        committed: false,
        ...(winner ? { message: parseItem(messageItemSchema, winner) } : {}),
        ...(session ? { session: this.session(session) } : {}),
      };
    }
  }

  /** The session side of a turn commit: the new turn and its tokens, cost and model, if the turn is the next one. */
  private countTurn(
    tenantId: string,
    sessionId: string,
    message: Pick<MessageItem, 'turn' | 'modelId' | 'usage' | 'costUsd'>,
    at: string,
  ) {
    const usage = message.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    return {
      TableName: this.tableName,
      Key: keys.session(tenantId, sessionId),
      UpdateExpression:
        'SET turn = :turn, updatedAt = :now, models.#model = if_not_exists(models.#model, :zero) + :one ' +
        'ADD tokensInput :in, tokensOutput :out, tokensCacheRead :cr, tokensCacheWrite :cw, costUsd :cost',
      ConditionExpression: 'turn = :previous AND #status = :running',
      ExpressionAttributeNames: { '#model': message.modelId ?? 'unknown', '#status': 'status' },
      ExpressionAttributeValues: {
        ':turn': message.turn,
        ':previous': message.turn - 1,
        ':running': 'running',
        ':now': at,
        ':zero': 0,
        ':one': 1,
        ':in': usage.input,
        ':out': usage.output,
        ':cr': usage.cacheRead,
        ':cw': usage.cacheWrite,
        ':cost': message.costUsd ?? 0,
      },
      ReturnValuesOnConditionCheckFailure: ALL_OLD,
    };
  }

  async getMessage(tenantId: string, sessionId: string, turn: number): Promise<MessageItem | undefined> {
    const key = keys.message(tenantId, sessionId, turn);
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return out.Item === undefined ? undefined : parseItem(messageItemSchema, out.Item, key);
    } catch (error) {
      return wrap(error, 'reading the message');
    }
  }

  /**
   * The turn's message and one more item (RunTool: the called tool's breaker) in one BatchGetItem, strongly
   * consistent. Keys DynamoDB leaves unprocessed (throttling) are asked for again, a few times.
   */
  async getMessageAnd(
    tenantId: string,
    sessionId: string,
    turn: number,
    other: TableKey,
  ): Promise<{ message?: MessageItem; other?: Record<string, unknown> }> {
    const messageKey = keys.message(tenantId, sessionId, turn);
    const found: Record<string, unknown>[] = [];
    let pending: Record<string, unknown>[] = [{ ...messageKey }, { ...other }];
    try {
      for (let round = 0; pending.length > 0; round += 1) {
        if (round === 3) throw new StoreUnavailableError('DynamoDB left keys unprocessed three times');
        const out = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        found.push(...(out.Responses?.[this.tableName] ?? []));
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      return wrap(error, 'reading the message');
    }
    const at = (key: TableKey) => found.find((item) => item.pk === key.pk && item.sk === key.sk);
    const message = at(messageKey);
    const rest = at(other);
    return {
      ...(message ? { message: parseItem(messageItemSchema, message, messageKey) } : {}),
      ...(rest ? { other: rest } : {}),
    };
  }

  /**
   * Claims a tool call: creates its record (status started), or returns the existing record. A record in a
   * terminal status is the outcome of an earlier attempt and must be replayed, not re-run.
   */
  async claimToolCall(
    input: Omit<ToolCallItem, 'pk' | 'sk' | 'entity' | 'status' | 'attempts' | 'startedAt' | 'expiresAt'> & {
      tenantId: string;
      sessionId: string;
    },
  ): Promise<{ item: ToolCallItem; fresh: boolean }> {
    const { tenantId, sessionId, ...rest } = input;
    const key = keys.toolCall(tenantId, sessionId, rest.turn, rest.index);
    const item: ToolCallItem = {
      ...key,
      entity: 'toolCall',
      ...rest,
      status: 'started',
      attempts: 1,
      startedAt: this.now().toISOString(),
      expiresAt: this.expiresAt(),
    };
    let existing: ToolCallItem;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { item, fresh: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the tool call');
      existing = parseItem(toolCallItemSchema, conditionFailureItem(error), key);
    }
    if (existing.status !== 'started') return { item: existing, fresh: false };
    return { item: await this.countAttempt(key, existing), fresh: false };
  }

  /** An earlier attempt claimed the call and has not finished it: count this attempt (unless it just finished). */
  private async countAttempt(
    key: ReturnType<typeof keys.toolCall>,
    seen: ToolCallItem,
  ): Promise<ToolCallItem> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET attempts = attempts + :one',
          ConditionExpression: '#status = :started',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':one': 1, ':started': 'started' },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return parseItem(toolCallItemSchema, out.Attributes, key);
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the tool call');
      return parseItem(toolCallItemSchema, conditionFailureItem(error) ?? seen, key);
    }
  }

  /** Records a tool call's outcome once, and counts it on the session. */
  async completeToolCall(input: {
    tenantId: string;
    sessionId: string;
    turn: number;
    index: number;
    status: 'succeeded' | 'failed';
    errorKind?: ToolErrorKind;
    result: string;
    resultHash: string;
    latencyMs: number;
    invocations: number;
    /** The breaker state the call saw and the fallback that answered, when there was one. */
    breaker?: ToolCallItem['breaker'];
    fallback?: ToolCallItem['fallback'];
    /** More writes of the same transaction (the breaker window's count: once per call, with its record). */
    extraUpdates?: TransactUpdate[];
  }): Promise<void> {
    const at = this.now().toISOString();
    const seen = {
      ...(input.breaker ? { ':breaker': input.breaker } : {}),
      ...(input.fallback ? { ':fallback': input.fallback } : {}),
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: keys.toolCall(input.tenantId, input.sessionId, input.turn, input.index),
                UpdateExpression:
                  'SET #status = :status, #result = :result, resultHash = :hash, latencyMs = :latency, ' +
                  'invocations = :invocations, finishedAt = :now' +
                  (input.errorKind ? ', errorKind = :kind' : '') +
                  (input.breaker ? ', breaker = :breaker' : '') +
                  (input.fallback ? ', fallback = :fallback' : ''),
                ConditionExpression: '#status = :started',
                ExpressionAttributeNames: { '#status': 'status', '#result': 'result' },
                ExpressionAttributeValues: {
                  ':status': input.status,
                  ':result': input.result,
                  ':hash': input.resultHash,
                  ':latency': input.latencyMs,
                  ':invocations': input.invocations,
                  ':now': at,
                  ':started': 'started',
                  ...(input.errorKind ? { ':kind': input.errorKind } : {}),
                  ...seen,
                },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.session(input.tenantId, input.sessionId),
                UpdateExpression: 'ADD toolCalls :one SET updatedAt = :now',
                ExpressionAttributeValues: { ':one': 1, ':now': at },
              },
            },
            ...(input.extraUpdates ?? []).map((update) => ({ Update: update })),
          ],
        }),
      );
    } catch (error) {
      // An earlier attempt recorded it: the first outcome stands, and the call was counted once.
      if (isConditionFailure(error)) return;
      wrap(error, 'recording the tool call');
    }
  }

  /** Ends a running session as completed or stopped. Idempotent for a retried Finalize step. */
  async finishSession(input: {
    tenantId: string;
    sessionId: string;
    status: 'completed' | 'stopped';
    output: string;
    stopReason: string;
  }): Promise<EndedSession> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression:
            'SET #status = :status, #output = :output, stopReason = :reason, updatedAt = :now',
          ConditionExpression: '#status = :running OR (#status = :status AND stopReason = :reason)',
          ExpressionAttributeNames: { '#status': 'status', '#output': 'output' },
          ExpressionAttributeValues: {
            ':status': input.status,
            ':output': input.output,
            ':reason': input.stopReason,
            ':running': 'running',
            ':now': this.now().toISOString(),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { ...this.session(out.Attributes), status: input.status };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'finishing the session');
      const old = conditionFailureItem(error);
      if (!old) throw notFound(input.tenantId, input.sessionId);
      const session = this.session(old);
      throw new SessionStateError(`Session ${input.sessionId} is ${session.status}; it cannot be finished`);
    }
  }

  /**
   * Marks the session failed; its last committed turn (`turn`) is the checkpoint a resume continues from. A
   * session that already completed or stopped is left alone and returned as it is (absent if there is none).
   */
  async failSession(input: {
    tenantId: string;
    sessionId: string;
    errorType: string;
    message: string;
  }): Promise<FailResult> {
    const at = this.now().toISOString();
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression: 'SET #status = :failed, #error = :error, updatedAt = :now',
          ConditionExpression: 'attribute_exists(pk) AND #status <> :completed AND #status <> :stopped',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':completed': 'completed',
            ':stopped': 'stopped',
            ':error': { type: input.errorType, message: input.message, at },
            ':now': at,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { failed: true, session: this.session(out.Attributes) };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'recording the failure');
      const old = conditionFailureItem(error);
      return old ? { failed: false, session: this.session(old) } : { failed: false };
    }
  }

  /** A tenant's sessions, oldest first (GSI1). */
  async listTenantSessions(tenantId: string, limit = 50): Promise<SessionItem[]> {
    try {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: SESSION_INDEX,
          KeyConditionExpression: 'gsi1pk = :pk AND begins_with(gsi1sk, :prefix)',
          ExpressionAttributeValues: { ':pk': tenantPk(tenantId), ':prefix': SESSION_INDEX_PREFIX },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => this.session(item)).reverse();
    } catch (error) {
      return wrap(error, 'listing sessions');
    }
  }
}

const notFound = (tenantId: string, sessionId: string): SessionNotFoundError =>
  new SessionNotFoundError(`Session ${sessionId} of tenant ${tenantId} does not exist`);
