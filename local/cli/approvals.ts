/**
 * `sovereign-agent approve|deny <sessionId> <callId>`: puts Agent Action Approved/Denied on the stack's bus (the
 * path any person's tooling takes; the approvalDecision function hands it to the waiting Task) and waits until
 * the decision is recorded. An unknown, already decided or expired call is refused here, with the reason.
 */
import { userInfo } from 'node:os';
import type { ApprovalDecision } from '../../shared/contracts/approval-events';
import { ACTION_APPROVED, ACTION_DENIED, APPROVAL_REQUESTED } from '../../shared/contracts/lifecycle-events';
import { ApprovalStore } from '../../shared/store/approval-store';
import type { ApprovalItem, SessionItem } from '../../shared/store/table';
import { LocalError } from '../aws/errors';
import type { BusEventRecord } from '../eventbridge/bus-events';
import { putCliRequest } from './put-request';
import type { LocalClients } from './run-goal';

export class ApprovalCommandError extends LocalError {}

export const approvalStoreOf = (clients: LocalClients): ApprovalStore =>
  new ApprovalStore(clients.doc, clients.tableName, 90);

/** One line per call waiting for a person, with what `approve`/`deny` it takes. */
export const formatPending = (pending: ApprovalItem[]): string[] =>
  pending.map(
    (a) =>
      `awaiting  ${a.callId}: ${a.tool} ${JSON.stringify(a.input)} until ${new Date(a.deadline).toISOString()} ` +
      `(sovereign-agent approve|deny ${a.sessionId} ${a.callId})`,
  );

/** `run`'s progress: one line per Agent Action Approval Requested of the session it has not shown yet. */
export const approvalRequestLines = (
  records: BusEventRecord[],
  sessionId: string,
  seen: Set<string>,
): string[] =>
  records.flatMap(({ event }) => {
    const d = event.detail as Record<string, unknown>;
    const key = `approval:${String(d.eventId)}:${String(d.expiresAt)}`;
    if (event['detail-type'] !== APPROVAL_REQUESTED || d.sessionId !== sessionId || seen.has(key)) return [];
    seen.add(key);
    return [
      `  ${String(d.tool)} awaits approval until ${String(d.expiresAt)}: ` +
        `sovereign-agent approve|deny ${sessionId} ${String(d.callId)} (from another shell, with \`serve\` running)`,
    ];
  });

/** Why `approve`/`deny` cannot decide this call, or undefined when it can. */
export const refusalOf = (
  item: ApprovalItem | undefined,
  ids: { sessionId: string; callId: string },
  now: number,
) => {
  if (!item) return `Session ${ids.sessionId} has no call ${ids.callId} waiting for approval`;
  if (item.status !== 'pending')
    return `Call ${ids.callId} was already ${item.status}${item.decidedBy ? ` by ${item.decidedBy}` : ''}${item.decidedAt ? ` at ${item.decidedAt}` : ''}`;
  if (item.deadline <= now)
    return `The approval of call ${ids.callId} expired at ${new Date(item.deadline).toISOString()}`;
  return undefined;
};

export const decideCall = async (
  env: Record<string, string>,
  clients: LocalClients,
  request: {
    session: SessionItem;
    callId: string;
    decision: ApprovalDecision;
    reason?: string;
    timeoutMs: number;
  },
): Promise<ApprovalItem> => {
  const { session, callId, decision } = request;
  const { tenantId, sessionId } = session;
  const approvals = approvalStoreOf(clients);
  const refusal = refusalOf(
    await approvals.get(tenantId, sessionId, callId),
    { sessionId, callId },
    Date.now(),
  );
  if (refusal) throw new ApprovalCommandError(refusal);
  await putCliRequest(
    env,
    decision === 'approved' ? ACTION_APPROVED : ACTION_DENIED,
    {
      tenantId,
      sessionId,
      callId,
      decidedBy: `cli:${userInfo().username}`,
      ...(request.reason ? { reason: request.reason } : {}),
    },
    (entries) => new ApprovalCommandError(`The bus refused the decision: ${entries}`),
  );
  return waitForDecision(approvals, session, callId, request.timeoutMs);
};

const waitForDecision = async (
  approvals: ApprovalStore,
  session: SessionItem,
  callId: string,
  timeoutMs: number,
): Promise<ApprovalItem> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const item = await approvals.get(session.tenantId, session.sessionId, callId);
    if (item && item.status !== 'pending') return item;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ApprovalCommandError(
    `The decision on call ${callId} is not recorded after ${timeoutMs / 1000} s: see the approvalDecision log in .local/logs`,
  );
};
