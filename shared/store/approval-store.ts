/**
 * Approvals of tool calls: the waiting call's task token and deadline, the person's decision, and the session's
 * count of waiting calls (status awaiting_approval while it is above 0). Every change is settled by a condition.
 */
import {
  type DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ApprovalDecision } from '../contracts/approval-events';
import { SessionStateError } from '../runtime/errors';
import {
  cancellationReasonCode,
  conditionFailureItem,
  isConditionFailure,
  wrapStoreError,
} from './dynamodb-errors';
import { readItem } from './read-item';
import {
  APPROVAL_PREFIX,
  type ApprovalItem,
  type ApprovalStatus,
  approvalItemSchema,
  keys,
  parseItem,
  sessionPk,
} from './table';

export interface ApprovalRequest {
  tenantId: string;
  sessionId: string;
  turn: number;
  index: number;
  callId: string;
  tool: string;
  actionGroup: string;
  input: Record<string, unknown>;
  taskToken: string;
  deadline: number;
}

/** What a decision found: recorded (its token to send), or why it was refused. */
export type DecideResult =
  | { outcome: 'decided'; item: ApprovalItem }
  | { outcome: 'unknown' }
  | { outcome: 'already_decided' | 'expired'; item: ApprovalItem };

export class ApprovalStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get(tenantId: string, sessionId: string, callId: string): Promise<ApprovalItem | undefined> {
    return readItem(
      this.client,
      this.tableName,
      keys.approval(tenantId, sessionId, callId),
      approvalItemSchema,
      'reading an approval',
    );
  }

  /**
   * Records the waiting call and, in the same transaction, counts it on the session and sets awaiting_approval
   * (a session that is not running or awaiting refuses). A retried request (a new attempt of the Task, a new
   * token) only replaces the token of the still-pending item: the session counted it once.
   */
  async request(input: ApprovalRequest): Promise<ApprovalItem> {
    const at = this.now().toISOString();
    const item: ApprovalItem = {
      ...keys.approval(input.tenantId, input.sessionId, input.callId),
      entity: 'approval',
      ...input,
      status: 'pending',
      requestedAt: at,
      expiresAt: Math.floor(this.now().getTime() / 1000) + this.ttlDays * 86_400,
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
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.session(input.tenantId, input.sessionId),
                UpdateExpression: 'SET #status = :awaiting, updatedAt = :now ADD pendingApprovals :one',
                ConditionExpression: '#status IN (:running, :awaiting)',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':awaiting': 'awaiting_approval',
                  ':running': 'running',
                  ':now': at,
                  ':one': 1,
                },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
          ],
        }),
      );
      return item;
    } catch (error) {
      if (cancellationReasonCode(error, 0) === 'ConditionalCheckFailed') return this.renewToken(input);
      if (isConditionFailure(error)) {
        const session = conditionFailureItem(error, 1);
        throw new SessionStateError(
          `Session ${input.sessionId} is ${String(session?.status ?? 'missing')}; only a running session waits for approvals`,
        );
      }
      return wrapStoreError(error, 'requesting an approval');
    }
  }

  /**
   * A call asked again (a retried Task, or a resumed run whose call had no outcome yet): the item waits anew with
   * the new token and deadline, and any decision the old token never delivered is dropped, so a person decides
   * for this run. The session is set awaiting_approval again; it counts the call again only when RunTool had
   * closed it (counted it down). Conditioned on the item as read, so a concurrent change retries the step.
   */
  private async renewToken(input: ApprovalRequest): Promise<ApprovalItem> {
    const old = await this.get(input.tenantId, input.sessionId, input.callId);
    if (!old)
      throw new SessionStateError(`The approval of call ${input.callId} changed while it was renewed`);
    const at = this.now().toISOString();
    const recount = old.closedAt !== undefined;
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: keys.approval(input.tenantId, input.sessionId, input.callId),
                UpdateExpression:
                  'SET taskToken = :token, deadline = :deadline, #status = :pending, requestedAt = :at ' +
                  'REMOVE decidedBy, decidedAt, reason, closedAt',
                ConditionExpression: recount ? 'closedAt = :closed' : 'attribute_not_exists(closedAt)',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':token': input.taskToken,
                  ':deadline': input.deadline,
                  ':pending': 'pending',
                  ':at': at,
                  ...(recount ? { ':closed': old.closedAt } : {}),
                },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.session(input.tenantId, input.sessionId),
                UpdateExpression: `SET #status = :awaiting, updatedAt = :at ADD pendingApprovals :count`,
                ConditionExpression: '#status IN (:running, :awaiting)',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: {
                  ':awaiting': 'awaiting_approval',
                  ':running': 'running',
                  ':at': at,
                  ':count': recount ? 1 : 0,
                },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new SessionStateError(`The approval of call ${input.callId} changed while it was renewed`);
      return wrapStoreError(error, 'renewing an approval');
    }
    const { decidedBy: _by, decidedAt: _at, reason: _reason, closedAt: _closed, ...kept } = old;
    return {
      ...kept,
      taskToken: input.taskToken,
      deadline: input.deadline,
      status: 'pending',
      requestedAt: at,
    };
  }

  /**
   * Records a person's decision while the call is pending and before its deadline; a repeat of the same decision
   * by the same person (a redelivered event) is recorded again, so its token is sent again.
   */
  async decide(input: {
    tenantId: string;
    sessionId: string;
    callId: string;
    decision: ApprovalDecision;
    decidedBy: string;
    reason?: string;
  }): Promise<DecideResult> {
    const now = this.now();
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.approval(input.tenantId, input.sessionId, input.callId),
          UpdateExpression:
            'SET #status = :decision, decidedBy = :by, decidedAt = :at' +
            (input.reason ? ', reason = :reason' : ''),
          ConditionExpression:
            'attribute_exists(pk) AND deadline > :nowMs AND ' +
            '(#status = :pending OR (#status = :decision AND decidedBy = :by AND attribute_not_exists(closedAt)))',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':decision': input.decision,
            ':by': input.decidedBy,
            ':at': now.toISOString(),
            ':nowMs': now.getTime(),
            ':pending': 'pending',
            ...(input.reason ? { ':reason': input.reason } : {}),
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'decided', item: parseItem(approvalItemSchema, out.Attributes ?? {}) };
    } catch (error) {
      if (!isConditionFailure(error)) return wrapStoreError(error, 'recording an approval decision');
      const old = conditionFailureItem(error);
      if (!old) return { outcome: 'unknown' };
      const item = parseItem(approvalItemSchema, old);
      return item.status === 'pending' || item.status === 'expired'
        ? { outcome: 'expired', item }
        : { outcome: 'already_decided', item };
    }
  }

  /** The Task's token closed before the decision reached it: the decision stands as expired. */
  async markExpired(tenantId: string, sessionId: string, callId: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.approval(tenantId, sessionId, callId),
          UpdateExpression: 'SET #status = :expired',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(closedAt)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':expired': 'expired' },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      wrapStoreError(error, 'expiring an approval');
    }
  }

  /**
   * RunTool takes the outcome once: closes the approval (expired when the Task timed out) and counts it down on the
   * session in one transaction, then puts a session with no call left waiting back to running. A repeat (a retried
   * RunTool) finds it closed and counts nothing. Returns the approval as closed.
   */
  async close(tenantId: string, sessionId: string, callId: string, timedOut: boolean): Promise<ApprovalItem> {
    const at = this.now().toISOString();
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: keys.approval(tenantId, sessionId, callId),
                UpdateExpression: `SET closedAt = :at${timedOut ? ', #status = :expired' : ''}`,
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(closedAt)',
                ...(timedOut ? { ExpressionAttributeNames: { '#status': 'status' } } : {}),
                ExpressionAttributeValues: { ':at': at, ...(timedOut ? { ':expired': 'expired' } : {}) },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.session(tenantId, sessionId),
                UpdateExpression: 'SET updatedAt = :at ADD pendingApprovals :minusOne',
                ConditionExpression: 'pendingApprovals > :zero',
                ExpressionAttributeValues: { ':at': at, ':minusOne': -1, ':zero': 0 },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!(cancellationReasonCode(error, 0) === 'ConditionalCheckFailed'))
        return wrapStoreError(error, 'closing an approval');
    }
    await this.resumeIfNoneWaiting(tenantId, sessionId, at);
    const closed = await this.get(tenantId, sessionId, callId);
    if (!closed) throw new SessionStateError(`Session ${sessionId} has no approval for call ${callId}`);
    return closed;
  }

  private async resumeIfNoneWaiting(tenantId: string, sessionId: string, at: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.session(tenantId, sessionId),
          UpdateExpression: 'SET #status = :running, updatedAt = :at',
          ConditionExpression: '#status = :awaiting AND pendingApprovals = :zero',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':running': 'running',
            ':awaiting': 'awaiting_approval',
            ':zero': 0,
            ':at': at,
          },
        }),
      );
    } catch (error) {
      // Another call still waits (or another RunTool already resumed it): nothing to do.
      if (isConditionFailure(error)) return;
      wrapStoreError(error, 'resuming a session after its approvals');
    }
  }

  /** The session's approvals, oldest call first (`status` shows the pending ones). */
  async list(tenantId: string, sessionId: string, status?: ApprovalStatus): Promise<ApprovalItem[]> {
    try {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': sessionPk(tenantId, sessionId), ':prefix': APPROVAL_PREFIX },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? [])
        .map((i) => parseItem(approvalItemSchema, i))
        .filter((i) => status === undefined || i.status === status)
        .sort((a, b) => a.turn - b.turn || a.index - b.index);
    } catch (error) {
      return wrapStoreError(error, 'listing approvals');
    }
  }
}
