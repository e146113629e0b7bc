/**
 * Session store over the single table: sessions, messages (turns) and tool-call records. Every write that can
 * race is conditional or transactional and returns the item it lost to (ALL_OLD) instead of reading it again;
 * every item read is parsed with its schema (table.ts). Callers pass the session's tenant, never a model value.
 */
import type { ContentBlock } from '@aws-sdk/client-bedrock-runtime';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { RESUMABLE_STOPS } from '../agent/stop-reasons';
import type { Constraints } from '../contracts/goal-events';
import { SessionNotFoundError, SessionStateError } from '../runtime/errors';
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
  sessionItemSchema,
  sessionPk,
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

/** How an execution begins its run: the first one, a resume of a failed or resumably stopped session, a continue-as-new. */
export type RunMode = 'start' | 'resume' | 'continue';

export interface BeginRunOptions {
  /** continue: the execution the session runs under now, which this one takes over from. */
  previousExecutionArn?: string;
  /** resume: tool calls of the last turn an open breaker or a limit refused before invoking them. */
  clearCalls?: { turn: number; index: number }[];
}

const NEEDS: Record<RunMode, string> = {
  start: 'a start needs pending',
  resume: `a resume needs failed, or stopped by ${RESUMABLE_STOPS.join(' or ')}`,
  continue: 'a continue needs it running under the previous execution',
};

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
   * Moves the session to running for a new execution and counts the run; `runStartTurn` marks where this
   * execution began (continue-as-new counts its history from there). A start needs pending; a resume needs failed
   * or stopped with a resumable stop reason (a running session is never resumed: the reconciler fails it first);
   * a continue needs running under `previousExecutionArn`. A resume may clear the last turn's never-invoked calls
   * (`clearCalls`) in the same transaction, so Plan runs them again and they are counted once.
   */
  async beginRun(
    tenantId: string,
    sessionId: string,
    mode: RunMode,
    executionArn: string,
    options: BeginRunOptions = {},
  ): Promise<SessionItem> {
    const update = this.beginRunUpdate(tenantId, sessionId, mode, executionArn, options);
    const clear = mode === 'resume' ? (options.clearCalls ?? []) : [];
    try {
      if (clear.length === 0) {
        const out = await this.client.send(new UpdateCommand({ ...update, ReturnValues: 'ALL_NEW' }));
        return this.session(out.Attributes);
      }
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Update: update },
            ...clear.map((call) => ({
              Delete: {
                TableName: this.tableName,
                Key: keys.toolCall(tenantId, sessionId, call.turn, call.index),
                ConditionExpression: 'errorKind IN (:circuit, :limit)',
                ExpressionAttributeValues: { ':circuit': 'circuit_open', ':limit': 'limit' },
              },
            })),
          ],
        }),
      );
      return await this.requireSession(tenantId, sessionId);
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'starting the run');
      // Either this execution already began the run (a retried step) or the state is wrong.
      const old = conditionFailureItem(error);
      if (!old) throw notFound(tenantId, sessionId);
      const session = this.session(old);
      if (session.status === 'running' && session.executionArn === executionArn) return session;
      throw new SessionStateError(`Session ${sessionId} is ${session.status}; ${NEEDS[mode]}`);
    }
  }

  /** The session update of beginRun: the mode's condition, the new execution, the run counted, the stop cleared. */
  private beginRunUpdate(
    tenantId: string,
    sessionId: string,
    mode: RunMode,
    executionArn: string,
    options: BeginRunOptions,
  ) {
    const cleared = mode === 'resume' ? (options.clearCalls ?? []).length : 0;
    const resumable = RESUMABLE_STOPS.map((_, i) => `:stop${i}`);
    const allowed = {
      start: '#status = :pending',
      resume: `(#status = :failed OR (#status = :stopped AND stopReason IN (${resumable.join(', ')})))`,
      continue: '#status = :running AND executionArn = :previous',
    }[mode];
    return {
      TableName: this.tableName,
      Key: keys.session(tenantId, sessionId),
      UpdateExpression:
        'SET #status = :running, executionArn = :arn, updatedAt = :now, runs = runs + :one, runStartTurn = turn' +
        (cleared > 0 ? ', toolCalls = toolCalls - :cleared' : '') +
        ' REMOVE #error' +
        (mode === 'resume' ? ', #output, stopReason' : ''),
      ConditionExpression: `attribute_exists(pk) AND ${allowed} AND (attribute_not_exists(executionArn) OR executionArn <> :arn)`,
      ExpressionAttributeNames: {
        '#status': 'status',
        '#error': 'error',
        ...(mode === 'resume' ? { '#output': 'output' } : {}),
      },
      ExpressionAttributeValues: {
        ':running': 'running',
        ':arn': executionArn,
        ':now': this.now().toISOString(),
        ':one': 1,
        ...(cleared > 0 ? { ':cleared': cleared } : {}),
        ...(mode === 'start' ? { ':pending': 'pending' } : {}),
        ...(mode === 'resume'
          ? {
              ':failed': 'failed',
              ':stopped': 'stopped',
              ...Object.fromEntries(RESUMABLE_STOPS.map((r, i) => [`:stop${i}`, r])),
            }
          : {}),
        ...(mode === 'continue' ? { ':previous': options.previousExecutionArn ?? '' } : {}),
      },
      ReturnValuesOnConditionCheckFailure: ALL_OLD,
    };
  }

  /**
   * Claims the resume of run `runs` for one resume event: of two resume requests at once, one wins; the same event
   * delivered again (or intake retried) keeps its claim. The claim lapses by itself once the resumed run begins
   * (`runs` moves on). A refusal returns the session as it was (absent when there is none).
   */
  async claimResume(input: {
    tenantId: string;
    sessionId: string;
    runs: number;
    eventId: string;
  }): Promise<{ claimed: true; session: SessionItem } | { claimed: false; session?: SessionItem }> {
    const resumable = RESUMABLE_STOPS.map((_, i) => `:stop${i}`);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression: 'SET resumeRequestedForRun = :runs, resumeEventId = :event',
          ConditionExpression:
            'attribute_exists(pk) AND runs = :runs AND ' +
            `(#status = :failed OR (#status = :stopped AND stopReason IN (${resumable.join(', ')}))) AND ` +
            '(attribute_not_exists(resumeRequestedForRun) OR resumeRequestedForRun <> :runs OR resumeEventId = :event)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':runs': input.runs,
            ':event': input.eventId,
            ':failed': 'failed',
            ':stopped': 'stopped',
            ...Object.fromEntries(RESUMABLE_STOPS.map((r, i) => [`:stop${i}`, r])),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { claimed: true, session: this.session(out.Attributes) };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the resume');
      const old = conditionFailureItem(error);
      return old ? { claimed: false, session: this.session(old) } : { claimed: false };
    }
  }

  /**
   * Marks the session failed (resumable) for an execution that ended outside the workflow (aborted, timed out, a
   * runtime error): only while the session is still running under that execution. A session RecordFailure already
   * failed, or that a newer execution now runs, is left alone and returned as it is.
   */
  async failExecution(input: {
    tenantId: string;
    sessionId: string;
    executionArn: string;
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
          ConditionExpression: 'attribute_exists(pk) AND #status = :running AND executionArn = :arn',
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':running': 'running',
            ':arn': input.executionArn,
            ':error': { type: input.errorType, message: input.message, at },
            ':now': at,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { failed: true, session: this.session(out.Attributes) };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, "failing the execution's session");
      const old = conditionFailureItem(error);
      return old ? { failed: false, session: this.session(old) } : { failed: false };
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
  }): Promise<void> {
    const at = this.now().toISOString();
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
                  (input.errorKind ? ', errorKind = :kind' : ''),
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
