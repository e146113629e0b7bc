/**
 * Session store over the single table: sessions, messages (turns) and tool-call records. Every write that can
 * race is conditional or transactional; callers pass the tenant of the session, never a model-produced value.
 */

import type { ContentBlock } from '@aws-sdk/client-bedrock-runtime';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Constraints, DataClassification } from '../contracts/goal-events';
import { SessionNotFoundError, SessionStateError, StoreUnavailableError } from '../runtime/errors';
import { keys, MESSAGE_PREFIX, SESSION_INDEX, sessionPk, TOOL_CALL_PREFIX, tenantPk } from './keys';

export type SessionStatus = 'pending' | 'running' | 'completed' | 'stopped' | 'failed';
export const TERMINAL_STATUSES: readonly SessionStatus[] = ['completed', 'stopped', 'failed'];

export interface SessionLimits {
  maxTurns: number;
  tokenBudget: number;
  usdBudget: number;
  latencyToleranceMs: number;
  dataClassification: DataClassification;
}

export interface SessionItem {
  pk: string;
  sk: 'META';
  entity: 'session';
  tenantId: string;
  sessionId: string;
  agent: string;
  goal: string;
  context?: Record<string, unknown>;
  requested?: Constraints;
  limits: SessionLimits;
  status: SessionStatus;
  /** Last committed model turn (0 before the first Converse call). */
  turn: number;
  tokensInput: number;
  tokensOutput: number;
  tokensCacheRead: number;
  tokensCacheWrite: number;
  costUsd: number;
  toolCalls: number;
  models: Record<string, number>;
  runs: number;
  eventId: string;
  executionArn?: string;
  output?: string;
  stopReason?: string;
  error?: { type: string; message: string; at: string };
  createdAt: string;
  updatedAt: string;
  expiresAt: number;
  gsi1pk: string;
  gsi1sk: string;
}

/** A session that ended without failing (Finalize's work). */
export type EndedSession = SessionItem & { status: 'completed' | 'stopped' };

export interface MessageItem {
  pk: string;
  sk: string;
  entity: 'message';
  turn: number;
  role: 'user' | 'assistant';
  content: ContentBlock[];
  modelId?: string;
  tier?: string;
  routeReason?: string;
  usage?: { input: number; output: number; cacheRead: number; cacheWrite: number };
  costUsd?: number;
  latencyMs?: number;
  stopReason?: string;
  createdAt: string;
  expiresAt: number;
}

export type ToolCallStatus = 'started' | 'succeeded' | 'failed';
export type ToolErrorKind = 'schema' | 'unknown_tool' | 'tool' | 'invocation';

export interface ToolCallItem {
  pk: string;
  sk: string;
  entity: 'toolCall';
  turn: number;
  index: number;
  toolUseId: string;
  name: string;
  actionGroup?: string;
  input: unknown;
  inputHash: string;
  status: ToolCallStatus;
  errorKind?: ToolErrorKind;
  /** The text fed back to the model as the toolResult. */
  result?: string;
  resultHash?: string;
  /** RunTool step attempts that claimed this call (more than 1 after a crash or a Step Functions retry). */
  attempts: number;
  /** Action-group Lambda invocations made for it (retries with full jitter included); 0 if never invoked. */
  invocations?: number;
  latencyMs?: number;
  idempotencyKey: string;
  startedAt: string;
  finishedAt?: string;
  expiresAt: number;
}

export interface Conversation {
  session: SessionItem;
  messages: MessageItem[];
  toolCalls: ToolCallItem[];
}

const cancellationCodes = (error: unknown): string[] =>
  error instanceof Error && error.name === 'TransactionCanceledException'
    ? ((error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? []).map(
        (r) => r.Code ?? 'None',
      )
    : [];

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error &&
    (error.name === 'ConditionalCheckFailedException' ||
      (error.name === 'TransactionCanceledException' &&
        (cancellationCodes(error).includes('ConditionalCheckFailed') ||
          error.message.includes('ConditionalCheckFailed')))));

/** A transaction cancelled only by conflicts or throttling (no condition failed) is worth retrying. */
const TRANSIENT_CANCELLATIONS = new Set([
  'None',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);
const isTransientCancellation = (error: unknown): boolean => {
  const codes = cancellationCodes(error);
  return (
    codes.length > 0 && codes.every((c) => TRANSIENT_CANCELLATIONS.has(c)) && codes.some((c) => c !== 'None')
  );
};

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);

/** SDK retries are exhausted when we see these; Step Functions retries the step on StoreUnavailableError. */
const wrap = (error: unknown, what: string): never => {
  if (error instanceof Error && (RETRYABLE.has(error.name) || isTransientCancellation(error))) {
    throw new StoreUnavailableError(`DynamoDB unavailable while ${what}: ${error.message}`, { cause: error });
  }
  throw error;
};

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

  /** Creates the session and its goal message in one transaction; false when the session already exists. */
  async createSession(input: NewSession): Promise<boolean> {
    const at = this.now().toISOString();
    const expiresAt = this.expiresAt();
    const session: SessionItem = {
      ...keys.session(input.tenantId, input.sessionId),
      sk: 'META',
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
      expiresAt,
      ...keys.sessionIndex(input.tenantId, at, input.sessionId),
    };
    const goal: MessageItem = {
      ...keys.message(input.tenantId, input.sessionId, 0),
      entity: 'message',
      turn: 0,
      role: 'user',
      content: input.goalMessage,
      createdAt: at,
      expiresAt,
    };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: session,
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: { TableName: this.tableName, Item: goal, ConditionExpression: 'attribute_not_exists(pk)' },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      return wrap(error, 'creating the session');
    }
  }

  async getSession(tenantId: string, sessionId: string): Promise<SessionItem | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: keys.session(tenantId, sessionId),
          ConsistentRead: true,
        }),
      );
      return out.Item as SessionItem | undefined;
    } catch (error) {
      return wrap(error, 'reading the session');
    }
  }

  async requireSession(tenantId: string, sessionId: string): Promise<SessionItem> {
    const session = await this.getSession(tenantId, sessionId);
    if (!session) throw new SessionNotFoundError(`Session ${sessionId} of tenant ${tenantId} does not exist`);
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
        items.push(...((out.Items ?? []) as Record<string, unknown>[]));
        startKey = out.LastEvaluatedKey;
      } while (startKey);
    } catch (error) {
      return wrap(error, 'loading the conversation');
    }
    const session = items.find((i) => i.sk === 'META') as SessionItem | undefined;
    if (!session) throw new SessionNotFoundError(`Session ${sessionId} of tenant ${tenantId} does not exist`);
    const bySk = (a: { sk: string }, b: { sk: string }) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0);
    const messages = items.filter((i) => String(i.sk).startsWith(MESSAGE_PREFIX)) as unknown as MessageItem[];
    const toolCalls = items.filter((i) =>
      String(i.sk).startsWith(TOOL_CALL_PREFIX),
    ) as unknown as ToolCallItem[];
    return { session, messages: messages.sort(bySk), toolCalls: toolCalls.sort(bySk) };
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
        }),
      );
      return out.Attributes as SessionItem;
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'starting the run');
    }
    // The condition failed: either this execution already began the run (a retried step) or the state is wrong.
    const session = await this.requireSession(tenantId, sessionId);
    if (session.status === 'running' && session.executionArn === executionArn) return session;
    throw new SessionStateError(
      `Session ${sessionId} is ${session.status}; a ${mode} needs ${allowed.join(' or ')}`,
    );
  }

  /**
   * Commits one model turn: the assistant message and the session counters, in one transaction conditioned on
   * the previous turn, so a retried Plan step cannot count a turn twice.
   */
  async commitTurn(input: {
    tenantId: string;
    sessionId: string;
    message: Omit<MessageItem, 'pk' | 'sk' | 'entity' | 'createdAt' | 'expiresAt'>;
  }): Promise<boolean> {
    const { tenantId, sessionId, message } = input;
    const at = this.now().toISOString();
    const usage = message.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
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
              Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
            },
            {
              Update: {
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
              },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      return wrap(error, 'committing the turn');
    }
  }

  async getMessage(tenantId: string, sessionId: string, turn: number): Promise<MessageItem | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: keys.message(tenantId, sessionId, turn),
          ConsistentRead: true,
        }),
      );
      return out.Item as MessageItem | undefined;
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
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { item, fresh: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the tool call');
    }
    // An earlier attempt created it: count this attempt unless it already finished.
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
        }),
      );
      return { item: out.Attributes as ToolCallItem, fresh: false };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the tool call');
    }
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return { item: out.Item as ToolCallItem, fresh: false };
    } catch (error) {
      return wrap(error, 'reading the tool call');
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
      if (isConditionFailure(error)) return; // an earlier attempt recorded it; the first outcome stands
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
        }),
      );
      return out.Attributes as EndedSession;
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'finishing the session');
      const session = await this.requireSession(input.tenantId, input.sessionId);
      throw new SessionStateError(`Session ${input.sessionId} is ${session.status}; it cannot be finished`);
    }
  }

  /** Marks the session failed; its last committed turn (`turn`) is the checkpoint a resume continues from. */
  async failSession(input: {
    tenantId: string;
    sessionId: string;
    errorType: string;
    message: string;
  }): Promise<SessionItem | undefined> {
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
        }),
      );
      return out.Attributes as SessionItem;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      return wrap(error, 'recording the failure');
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
          ExpressionAttributeValues: { ':pk': tenantPk(tenantId), ':prefix': 'SESSION#' },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return ((out.Items ?? []) as SessionItem[]).reverse();
    } catch (error) {
      return wrap(error, 'listing sessions');
    }
  }
}
