/**
 * The ApprovalDecision step (a rule on Agent Action Approved / Agent Action Denied): records the person's decision
 * on a pending call and hands it to the waiting RequestApproval Task with SendTaskSuccess `{decision}`. A call that
 * is unknown, already decided or expired is refused with a log line saying which; nothing is sent.
 */
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import {
  type ApprovalDecision,
  approvalDecisionDetailSchema,
  decisionOfDetailType,
} from '../contracts/approval-events';
import { busEnvelopeSchema } from '../contracts/goal-events';
import { StepInputError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';
import type { ApprovalStore } from '../store/approval-store';

export interface ApprovalDecisionDeps {
  approvals: ApprovalStore;
  sfn: SFNClient;
}

/** What became of a decision: handed to the waiting Task, or refused and why. */
export type DecisionOutcome =
  | { outcome: 'sent'; decision: ApprovalDecision }
  | { outcome: 'refused'; reason: 'unknown' | 'already_decided' | 'expired'; message: string };

/** The decision event's detail-type and detail, validated (a malformed event is a bug of its sender). */
export const parseDecisionEvent = (event: unknown) => {
  const envelope = busEnvelopeSchema.safeParse(event);
  const decision = envelope.success ? decisionOfDetailType(envelope.data['detail-type']) : undefined;
  const detail = approvalDecisionDetailSchema.safeParse(envelope.success ? envelope.data.detail : undefined);
  if (!envelope.success || !decision || !detail.success) {
    const issues = [
      ...(envelope.success ? [] : zodIssues(envelope.error)),
      ...(envelope.success && !decision
        ? [`detail-type: ${envelope.data['detail-type']} is not a decision`]
        : []),
      ...(detail.success ? [] : zodIssues(detail.error).map((i) => `detail.${i}`)),
    ];
    throw new StepInputError(`ApprovalDecision received an invalid event: ${issues.join('; ')}`, issues);
  }
  return { decision, ...detail.data };
};

const isNamed = (error: unknown, name: string): boolean => error instanceof Error && error.name === name;

export const decideApproval = async (
  deps: ApprovalDecisionDeps,
  input: ReturnType<typeof parseDecisionEvent>,
): Promise<DecisionOutcome> => {
  const { tenantId, sessionId, callId, decision } = input;
  const decided = await deps.approvals.decide(input);
  if (decided.outcome === 'unknown') {
    return {
      outcome: 'refused',
      reason: 'unknown',
      message: `Session ${sessionId} has no call ${callId} waiting for approval`,
    };
  }
  if (decided.outcome === 'already_decided') {
    const { item } = decided;
    return {
      outcome: 'refused',
      reason: 'already_decided',
      message: `Call ${callId} was already ${item.status} by ${item.decidedBy ?? 'someone'} at ${item.decidedAt ?? '?'}`,
    };
  }
  if (decided.outcome === 'expired') {
    return {
      outcome: 'refused',
      reason: 'expired',
      message: `The approval of call ${callId} expired at ${new Date(decided.item.deadline).toISOString()}`,
    };
  }
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: decided.item.taskToken,
        output: JSON.stringify({ decision, decidedBy: input.decidedBy }),
      }),
    );
  } catch (error) {
    // The Task timed out (or its execution ended) between the recorded decision and this call.
    if (!isNamed(error, 'TaskTimedOut')) throw error;
    await deps.approvals.markExpired(tenantId, sessionId, callId);
    return {
      outcome: 'refused',
      reason: 'expired',
      message: `The approval of call ${callId} expired before the decision reached it`,
    };
  }
  return { outcome: 'sent', decision };
};
