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
import { microsToUsd, usdToMicros } from '../agent/pricing/micros';
import { RESUMABLE_STOPS } from '../agent/stop-reasons';
import type { Constraints } from '../contracts/goal-events';
import { SessionNotFoundError, SessionStateError, StoreUnavailableError } from '../runtime/errors';
import type { TransactUpdate } from './breaker-store';
import { type Settlement, sessionSettlementClauses } from './budget-ledger';
import { conditionFailureItem, isConditionFailure, wrapStoreError as wrap } from './dynamodb-errors';
import {
  keys,
  MESSAGE_PREFIX,
  type MessageItem,
  messageItemSchema,
  parseItem,
  RESULT_PART_PREFIX,
  SESSION_INDEX,
  SESSION_INDEX_PREFIX,
  SESSION_SK,
  type SessionItem,
  type SessionLimits,
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
export type EndedSession = SessionItem & { status: 'completed' | 'stopped' | 'paused' };

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
  /** sha256 of the goal as accepted: a redelivery matches it, another goal under the same id does not. */
  goalHash?: string;
}

export type CreateResult = { created: true } | { created: false; existing: SessionItem };

/** A turn commit that lost: the message another attempt committed for this turn, or the session that refused it. */
export type CommitResult =
  | { committed: true }
  | { committed: false; message?: MessageItem; session?: SessionItem };

/** A claim of a tool call: `leased` when this attempt now owns the call (a new claim or a takeover) and runs it. */
export interface ToolCallClaim {
  item: ToolCallItem;
  fresh: boolean;
  leased: boolean;
}

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
  resume: `a resume needs failed, paused, or stopped by ${RESUMABLE_STOPS.join(' or ')}`,
  continue: 'a continue needs it running under the previous execution',
};

export type FailResult = { failed: true; session: SessionItem } | { failed: false; session?: SessionItem };

export interface FinishInput {
  tenantId: string;
  sessionId: string;
  /** paused: the tenant was paused (stop reason tenant_paused); resumable like a resumable stop. */
  status: 'completed' | 'stopped' | 'paused';
  output: string;
  stopReason: string;
}

/** The session made tool calls and every one failed (or its outcome is unknown): its answer rests on none. */
/** Whether a recorded call counts towards failedToolCalls (and so towards the tools_unavailable stop). */
const countsAsFailed = (call: { status: string; errorKind?: string }): boolean =>
  call.status !== 'succeeded' && call.errorKind !== 'denied' && call.errorKind !== 'expired';

export const allToolCallsFailed = (session: Pick<SessionItem, 'toolCalls' | 'failedToolCalls'>): boolean =>
  session.toolCalls > 0 && (session.failedToolCalls ?? 0) >= session.toolCalls;

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
      costMicros: 0,
      // The budget ledger's remainders and live reservations (store/budget-ledger.ts), and the per-model and
      // per-provider maps a turn's commit adds to.
      remainingMicros: usdToMicros(input.limits.usdBudget),
      remainingTokens: input.limits.tokenBudget,
      reservations: {},
      modelUsage: {},
      providers: {},
      toolCalls: 0,
      models: {},
      runs: 0,
      eventId: input.eventId,
      ...(input.goalHash ? { goalHash: input.goalHash } : {}),
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
            // Everything but the parts of large tool results (R#...), which sort after the rest and Plan never needs.
            KeyConditionExpression: 'pk = :pk AND sk < :parts',
            ExpressionAttributeValues: {
              ':pk': sessionPk(tenantId, sessionId),
              ':parts': RESULT_PART_PREFIX,
            },
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
                ConditionExpression: 'errorKind IN (:circuit, :limit, :budget)',
                ExpressionAttributeValues: {
                  ':circuit': 'circuit_open',
                  ':limit': 'limit',
                  ':budget': 'budget',
                },
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
      resume: `(#status = :failed OR #status = :paused OR (#status = :stopped AND stopReason IN (${resumable.join(', ')})))`,
      continue: '#status = :running AND executionArn = :previous',
    }[mode];
    return {
      TableName: this.tableName,
      Key: keys.session(tenantId, sessionId),
      UpdateExpression:
        'SET #status = :running, executionArn = :arn, updatedAt = :now, runs = runs + :one, runStartTurn = turn, ' +
        // A session created before the budget ledger gets its maps here, before its first reservation.
        'reservations = if_not_exists(reservations, :emptyMap), modelUsage = if_not_exists(modelUsage, :emptyMap), ' +
        'providers = if_not_exists(providers, :emptyMap)' +
        // The cleared calls were counted as made and as failed: they run again and count again.
        (cleared > 0
          ? ', toolCalls = toolCalls - :cleared, failedToolCalls = if_not_exists(failedToolCalls, :cleared) - :cleared'
          : '') +
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
        ':emptyMap': {},
        ...(cleared > 0 ? { ':cleared': cleared } : {}),
        ...(mode === 'start' ? { ':pending': 'pending' } : {}),
        ...(mode === 'resume'
          ? {
              ':failed': 'failed',
              ':paused': 'paused',
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
   * (`runs` moves on). A `raise` sets the new limits in the same write and moves the ledger's remainders by the
   * raise (conditioned on the limits it was computed from, so a redelivery cannot apply it twice). A refusal
   * returns the session as it was (absent when there is none).
   */
  async claimResume(input: {
    tenantId: string;
    sessionId: string;
    runs: number;
    eventId: string;
    raise?: { from: SessionLimits; usdBudget?: number; tokenBudget?: number };
  }): Promise<{ claimed: true; session: SessionItem } | { claimed: false; session?: SessionItem }> {
    const resumable = RESUMABLE_STOPS.map((_, i) => `:stop${i}`);
    const raise = raiseClauses(input.raise);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression: `SET resumeRequestedForRun = :runs, resumeEventId = :event${raise.set}`,
          ConditionExpression:
            'attribute_exists(pk) AND runs = :runs AND ' +
            `(#status = :failed OR #status = :paused OR (#status = :stopped AND stopReason IN (${resumable.join(', ')}))) AND ` +
            '(attribute_not_exists(resumeRequestedForRun) OR resumeRequestedForRun <> :runs OR resumeEventId = :event)' +
            raise.condition,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':runs': input.runs,
            ':event': input.eventId,
            ':failed': 'failed',
            ':paused': 'paused',
            ':stopped': 'stopped',
            ...Object.fromEntries(RESUMABLE_STOPS.map((r, i) => [`:stop${i}`, r])),
            ...raise.values,
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
   * Commits one model turn: the assistant message and the session counters, in one transaction conditioned on
   * the previous turn, so a retried Plan step cannot count a turn twice. The turn's reservation is settled in the
   * same transaction (`settlement`: its cost added, the rest given back), with the tenant day's side in
   * `extraUpdates`, so the budget ledger adds no request per turn. A lost race returns what won.
   */
  async commitTurn(input: {
    tenantId: string;
    sessionId: string;
    message: Omit<MessageItem, 'pk' | 'sk' | 'entity' | 'createdAt' | 'expiresAt'>;
    settlement?: Settlement;
    /** Whether the session's modelUsage already has an entry for the turn's model (Plan read the session). */
    modelSeen?: boolean;
    extraUpdates?: TransactUpdate[];
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
            { Update: this.countTurn(tenantId, sessionId, message, at, input) },
            ...(input.extraUpdates ?? []).map((update) => ({ Update: update })),
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

  /**
   * The session side of a turn commit, if the turn is the next one: the new turn, its tokens and cost (USD and
   * micro-dollars), its model's and provider's counts, its model's usage, and its reservation settled.
   */
  private countTurn(
    tenantId: string,
    sessionId: string,
    message: Pick<MessageItem, 'turn' | 'modelId' | 'usage' | 'costUsd' | 'costMicros' | 'provider'>,
    at: string,
    ledger: { settlement?: Settlement; modelSeen?: boolean },
  ) {
    const usage = message.usage ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    const spend = usageClauses(message, usage, ledger);
    return {
      TableName: this.tableName,
      Key: keys.session(tenantId, sessionId),
      UpdateExpression:
        `SET turn = :turn, updatedAt = :now, ${spend.set} ` +
        `ADD tokensInput :in, tokensOutput :out, tokensCacheRead :cr, tokensCacheWrite :cw, costUsd :cost, ${spend.add}` +
        spend.remove,
      ConditionExpression: 'turn = :previous AND #status = :running',
      ExpressionAttributeNames: { '#status': 'status', ...spend.names },
      ExpressionAttributeValues: {
        ':turn': message.turn,
        ':previous': message.turn - 1,
        ':running': 'running',
        ':now': at,
        ':in': usage.input,
        ':out': usage.output,
        ':cr': usage.cacheRead,
        ':cw': usage.cacheWrite,
        ':cost': message.costUsd ?? 0,
        ...spend.values,
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
   * The turn's message and more items (RunTool: the session header, for its budget, and the called tool's breaker)
   * in one BatchGetItem, strongly consistent. Keys DynamoDB leaves unprocessed (throttling) are asked for again, a
   * few times. `others` come back in the order asked (undefined where there is no item).
   */
  async getMessageAnd(
    tenantId: string,
    sessionId: string,
    turn: number,
    others: TableKey[],
  ): Promise<{ message?: MessageItem; others: (Record<string, unknown> | undefined)[] }> {
    const messageKey = keys.message(tenantId, sessionId, turn);
    const found: Record<string, unknown>[] = [];
    let pending: Record<string, unknown>[] = [
      { ...messageKey },
      ...others.map((k) => ({ pk: k.pk, sk: k.sk })),
    ];
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
    return {
      ...(message ? { message: parseItem(messageItemSchema, message, messageKey) } : {}),
      others: others.map(at),
    };
  }

  /** A session header read by another request (getMessageAnd), parsed with its schema. */
  parseSession(item: unknown): SessionItem {
    return this.session(item);
  }

  /**
   * Claims a tool call for one attempt until `leaseUntil` (epoch ms): creates its record (status started), or
   * returns the existing one. A record in a terminal status is the outcome of an earlier attempt: replay it. A
   * started record whose lease is live belongs to a running attempt: `leased` is false and the caller must not run
   * it. One whose lease expired (or that has none) is taken over by a conditional write on the lease it was seen
   * with, so of two racing takers exactly one wins; the winner's attempt is counted.
   */
  async claimToolCall(
    input: Omit<ToolCallItem, 'pk' | 'sk' | 'entity' | 'status' | 'attempts' | 'startedAt' | 'expiresAt'> & {
      tenantId: string;
      sessionId: string;
      leaseUntil: number;
    },
  ): Promise<ToolCallClaim> {
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
      return { item, fresh: true, leased: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'claiming the tool call');
      existing = parseItem(toolCallItemSchema, conditionFailureItem(error), key);
    }
    const live = existing.leaseUntil !== undefined && existing.leaseUntil > this.now().getTime();
    if (existing.status !== 'started' || live) return { item: existing, fresh: false, leased: false };
    return this.takeOver(key, existing, input.leaseUntil);
  }

  /** An earlier attempt's lease on a started call expired (it crashed): take the call over and count this attempt. */
  private async takeOver(key: TableKey, seen: ToolCallItem, leaseUntil: number): Promise<ToolCallClaim> {
    const seenLease = seen.leaseUntil === undefined ? {} : { ':seen': seen.leaseUntil };
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET attempts = attempts + :one, leaseUntil = :lease',
          ConditionExpression: `#status = :started AND ${
            seen.leaseUntil === undefined ? 'attribute_not_exists(leaseUntil)' : 'leaseUntil = :seen'
          }`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':one': 1, ':started': 'started', ':lease': leaseUntil, ...seenLease },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { item: parseItem(toolCallItemSchema, out.Attributes, key), fresh: false, leased: true };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'taking over the tool call');
      // Another attempt took it over or finished it first: its record stands.
      const item = parseItem(toolCallItemSchema, conditionFailureItem(error) ?? seen, key);
      return { item, fresh: false, leased: false };
    }
  }

  /**
   * Records a tool call's outcome once, and counts it on the session. A result too large for the call's item
   * comes with its full text in `parts`, written in the same transaction as the outcome (keys.resultPart), so a
   * losing attempt writes no parts either.
   */
  async completeToolCall(input: {
    tenantId: string;
    sessionId: string;
    turn: number;
    index: number;
    status: 'succeeded' | 'failed' | 'unknown';
    errorKind?: ToolErrorKind;
    result: string;
    resultHash: string;
    latencyMs: number;
    invocations: number;
    parts?: string[];
    /** The breaker state the call saw and the fallback that answered, when there was one. */
    breaker?: ToolCallItem['breaker'];
    fallback?: ToolCallItem['fallback'];
    /** More writes of the same transaction (the breaker window's count: once per call, with its record). */
    extraUpdates?: TransactUpdate[];
    /** The call's reservation, settled with its outcome (its cost added, the rest given back). */
    settlement?: Settlement;
  }): Promise<void> {
    const at = this.now().toISOString();
    const parts = input.parts ?? [];
    const settle = input.settlement ? sessionSettlementClauses(input.settlement) : undefined;
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
                  (parts.length > 0 ? ', resultParts = :parts' : '') +
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
                  ...(parts.length > 0 ? { ':parts': parts.length } : {}),
                  ...seen,
                },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.session(input.tenantId, input.sessionId),
                // A call that did not succeed (failed or unknown) is counted too: Finalize tells "every tool call
                // failed" from these two counters alone. A call a person denied (or let expire) did not fail: the
                // tool was there, and a goal whose every call was refused completes.
                UpdateExpression:
                  `ADD toolCalls :one${countsAsFailed(input) ? ', failedToolCalls :one' : ''}` +
                  // The call's cost in micro-dollars and, derived, in USD (DynamoDB adds decimals exactly).
                  (settle ? `, ${settle.add}, costUsd :settledUsd` : '') +
                  ' SET updatedAt = :now' +
                  (settle ? ` REMOVE ${settle.remove}` : ''),
                ...(settle ? { ExpressionAttributeNames: settle.names } : {}),
                ExpressionAttributeValues: {
                  ':one': 1,
                  ':now': at,
                  ...(settle && input.settlement
                    ? { ...settle.values, ':settledUsd': microsToUsd(input.settlement.actualMicros) }
                    : {}),
                },
              },
            },
            ...this.resultPartPuts(input, parts),
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

  /** One Put per part of a large result (keys.resultPart), for completeToolCall's transaction. */
  private resultPartPuts(
    call: { tenantId: string; sessionId: string; turn: number; index: number },
    parts: string[],
  ) {
    return parts.map((text, part) => ({
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.resultPart(call.tenantId, call.sessionId, call.turn, call.index, part),
          entity: 'resultPart',
          part,
          text,
          expiresAt: this.expiresAt(),
        },
      },
    }));
  }

  /** The full text of a result stored in parts (completeToolCall's `parts`), joined in order. */
  async getResultText(tenantId: string, sessionId: string, turn: number, index: number): Promise<string> {
    const first = keys.resultPart(tenantId, sessionId, turn, index, 0);
    try {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': first.pk,
            ':prefix': first.sk.slice(0, first.sk.lastIndexOf('#') + 1),
          },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? [])
        .map((i) => ({ sk: String(i.sk), text: String(i.text) }))
        .sort(bySk)
        .map((i) => i.text)
        .join('');
    } catch (error) {
      return wrap(error, 'reading the result parts');
    }
  }

  /** Ends a running session as completed or stopped. Idempotent for a retried Finalize step. */
  async finishSession(input: FinishInput): Promise<EndedSession> {
    const result = await this.endSession(input);
    if ('ended' in result) return result.ended;
    throw new SessionStateError(`Session ${input.sessionId} is ${result.lost.status}; it cannot be finished`);
  }

  /**
   * Ends a running session as completed unless every tool call it made failed (its counters say so, in the
   * update's condition: no read first). Then the session is returned as it is, for the caller to stop it instead.
   */
  async completeSession(
    input: Omit<FinishInput, 'status' | 'stopReason'>,
  ): Promise<{ ended: EndedSession } | { toolsAllFailed: SessionItem }> {
    const result = await this.endSession(
      { ...input, status: 'completed', stopReason: 'completed' },
      'toolCalls = :zero OR attribute_not_exists(failedToolCalls) OR failedToolCalls < toolCalls',
    );
    if ('ended' in result) return result;
    if (allToolCallsFailed(result.lost)) return { toolsAllFailed: result.lost };
    throw new SessionStateError(`Session ${input.sessionId} is ${result.lost.status}; it cannot be finished`);
  }

  /** The ending update: from running (with `runningAlso` as an extra condition), or a replay of the same end. */
  private async endSession(
    input: FinishInput,
    runningAlso = '',
  ): Promise<{ ended: EndedSession } | { lost: SessionItem }> {
    const running = runningAlso ? `(#status = :running AND (${runningAlso}))` : '#status = :running';
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression:
            'SET #status = :status, #output = :output, stopReason = :reason, updatedAt = :now',
          ConditionExpression: `${running} OR (#status = :status AND stopReason = :reason)`,
          ExpressionAttributeNames: { '#status': 'status', '#output': 'output' },
          ExpressionAttributeValues: {
            ':status': input.status,
            ':output': input.output,
            ':reason': input.stopReason,
            ':running': 'running',
            ':now': this.now().toISOString(),
            ...(runningAlso ? { ':zero': 0 } : {}),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: ALL_OLD,
        }),
      );
      return { ended: { ...this.session(out.Attributes), status: input.status } };
    } catch (error) {
      if (!isConditionFailure(error)) return wrap(error, 'finishing the session');
      const old = conditionFailureItem(error);
      if (!old) throw notFound(input.tenantId, input.sessionId);
      return { lost: this.session(old) };
    }
  }

  /**
   * Claims the count of a started execution for one intake delivery: true for the first claim only (a conditional
   * write), so concurrent deliveries that StartExecution all answered with the same execution count it once.
   */
  async countStart(tenantId: string, sessionId: string, executionArn: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(tenantId, sessionId),
          UpdateExpression: 'SET startCountedFor = :arn',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(startCountedFor)',
          ExpressionAttributeValues: { ':arn': executionArn },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      return wrap(error, 'counting the started execution');
    }
  }

  /**
   * Records that a lifecycle event was published (a conditional list append), so a replayed step sends none.
   * Already recorded (a concurrent attempt) is fine: the id is the same.
   */
  async recordPublishedEvent(tenantId: string, sessionId: string, eventId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(tenantId, sessionId),
          UpdateExpression: 'SET publishedEvents = list_append(if_not_exists(publishedEvents, :none), :ids)',
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(publishedEvents, :id)',
          ExpressionAttributeValues: { ':none': [], ':ids': [eventId], ':id': eventId },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      wrap(error, 'recording the published event');
    }
  }

  /**
   * Counts a model call whose answer could not be used (no turn is committed for it): its tokens, cost and model
   * go on the session's counters with atomic ADDs, and its reservation is settled, so what was spent is never lost.
   * With `extraUpdates` (the tenant day's side) it is one transaction.
   */
  async recordModelUsage(input: {
    tenantId: string;
    sessionId: string;
    modelId: string;
    usage: { input: number; output: number; cacheRead: number; cacheWrite: number };
    costUsd: number;
    costMicros?: number;
    provider?: string;
    settlement?: Settlement;
    modelSeen?: boolean;
    extraUpdates?: TransactUpdate[];
  }): Promise<void> {
    const { usage } = input;
    const spend = usageClauses(input, usage, input);
    const update = {
      TableName: this.tableName,
      Key: keys.session(input.tenantId, input.sessionId),
      UpdateExpression:
        `SET updatedAt = :now, ${spend.set} ` +
        `ADD tokensInput :in, tokensOutput :out, tokensCacheRead :cr, tokensCacheWrite :cw, costUsd :cost, ${spend.add}` +
        spend.remove,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: spend.names,
      ExpressionAttributeValues: {
        ':now': this.now().toISOString(),
        ':in': usage.input,
        ':out': usage.output,
        ':cr': usage.cacheRead,
        ':cw': usage.cacheWrite,
        ':cost': input.costUsd,
        ...spend.values,
      },
    };
    const extra = input.extraUpdates ?? [];
    try {
      if (extra.length === 0) await this.client.send(new UpdateCommand(update));
      else
        await this.client.send(
          new TransactWriteCommand({
            TransactItems: [{ Update: update }, ...extra.map((u) => ({ Update: u }))],
          }),
        );
    } catch (error) {
      if (isConditionFailure(error)) throw notFound(input.tenantId, input.sessionId);
      wrap(error, 'recording the model usage');
    }
  }

  /**
   * Marks the session failed; its last committed turn (`turn`) is the checkpoint a resume continues from. A
   * session that already completed or stopped is left alone and returned as it is (absent if there is none). With
   * `underExecution` (the reconciler: an execution that ended outside the workflow) only a session still running
   * under that execution is failed: one RecordFailure already failed, or a newer execution runs, is left alone.
   */
  async failSession(input: {
    tenantId: string;
    sessionId: string;
    errorType: string;
    message: string;
    /** The workflow state that failed, when the state machine recorded it. */
    step?: string;
    underExecution?: string;
  }): Promise<FailResult> {
    const at = this.now().toISOString();
    const guard =
      input.underExecution === undefined
        ? {
            // A paused session ended too (at a turn boundary, state saved): a late failure leaves it paused.
            expression: '#status <> :completed AND #status <> :stopped AND #status <> :paused',
            values: { ':completed': 'completed', ':stopped': 'stopped', ':paused': 'paused' },
          }
        : {
            // A session whose execution ended while calls waited for approval failed with it too.
            expression: '#status IN (:running, :awaiting) AND executionArn = :arn',
            values: { ':running': 'running', ':awaiting': 'awaiting_approval', ':arn': input.underExecution },
          };
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(input.tenantId, input.sessionId),
          UpdateExpression: 'SET #status = :failed, #error = :error, updatedAt = :now',
          ConditionExpression: `attribute_exists(pk) AND ${guard.expression}`,
          ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ...guard.values,
            ':error': {
              type: input.errorType,
              message: input.message,
              at,
              ...(input.step ? { step: input.step } : {}),
            },
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

/**
 * A model call's clauses on the session (a committed turn or an unusable answer): its model's call count, its
 * provider's, its model's usage entry (set whole the first time, added to after), and its micro-dollars: the
 * reservation settled when there is one, else only the cost added.
 */
const usageClauses = (
  call: { modelId?: string; costMicros?: number; provider?: string },
  usage: { input: number; output: number; cacheRead: number; cacheWrite: number },
  ledger: { settlement?: Settlement; modelSeen?: boolean },
) => {
  const micros = ledger.settlement?.actualMicros ?? call.costMicros ?? 0;
  const fields = { calls: 1, ...usage, costMicros: micros };
  const set = ['models.#model = if_not_exists(models.#model, :zero) + :one'];
  if (call.provider) set.push('providers.#provider = if_not_exists(providers.#provider, :zero) + :one');
  if (ledger.modelSeen)
    set.push(
      ...Object.keys(fields).map((f) => `modelUsage.#model.#mu_${f} = modelUsage.#model.#mu_${f} + :mu_${f}`),
    );
  else set.push('modelUsage.#model = :modelUsage');
  const settle = ledger.settlement ? sessionSettlementClauses(ledger.settlement) : undefined;
  return {
    set: set.join(', '),
    add: settle ? settle.add : 'costMicros :settledMicros',
    remove: settle ? ` REMOVE ${settle.remove}` : '',
    names: {
      '#model': call.modelId ?? 'unknown',
      ...(call.provider ? { '#provider': call.provider } : {}),
      // Field names go through placeholders: `input` is a DynamoDB reserved word.
      ...(ledger.modelSeen ? Object.fromEntries(Object.keys(fields).map((f) => [`#mu_${f}`, f])) : {}),
      ...(settle?.names ?? {}),
    },
    values: {
      ':zero': 0,
      ':one': 1,
      ...(ledger.modelSeen
        ? Object.fromEntries(Object.entries(fields).map(([f, v]) => [`:mu_${f}`, v]))
        : { ':modelUsage': fields }),
      ...(settle?.values ?? { ':settledMicros': micros }),
    },
  };
};

/**
 * The claim's clauses for raised limits: the new budgets, and the remainders moved by the difference (a session
 * without remainders yet starts from the old budget), conditioned on the limits the raise was computed from.
 */
const raiseClauses = (raise?: { from: SessionLimits; usdBudget?: number; tokenBudget?: number }) => {
  if (!raise || (raise.usdBudget === undefined && raise.tokenBudget === undefined))
    return { set: '', condition: '', values: {} };
  const set: string[] = [];
  const condition: string[] = [];
  const values: Record<string, unknown> = {};
  if (raise.usdBudget !== undefined) {
    const from = usdToMicros(raise.from.usdBudget);
    set.push(
      'limits.usdBudget = :usdBudget',
      'remainingMicros = if_not_exists(remainingMicros, :fromMicros) + :raiseMicros',
    );
    condition.push('limits.usdBudget = :fromUsd');
    Object.assign(values, {
      ':usdBudget': raise.usdBudget,
      ':fromUsd': raise.from.usdBudget,
      ':fromMicros': from,
      ':raiseMicros': usdToMicros(raise.usdBudget) - from,
    });
  }
  if (raise.tokenBudget !== undefined) {
    set.push(
      'limits.tokenBudget = :tokenBudget',
      'remainingTokens = if_not_exists(remainingTokens, :fromTokens) + :raiseTokens',
    );
    condition.push('limits.tokenBudget = :fromTokens');
    Object.assign(values, {
      ':tokenBudget': raise.tokenBudget,
      ':fromTokens': raise.from.tokenBudget,
      ':raiseTokens': raise.tokenBudget - raise.from.tokenBudget,
    });
  }
  return { set: `, ${set.join(', ')}`, condition: ` AND ${condition.join(' AND ')}`, values };
};

const notFound = (tenantId: string, sessionId: string): SessionNotFoundError =>
  new SessionNotFoundError(`Session ${sessionId} of tenant ${tenantId} does not exist`);
