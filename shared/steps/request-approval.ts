/**
 * The RequestApproval step (a `.waitForTaskToken` Task): records a tool call that waits for a person with its task
 * token and deadline, sets the session awaiting_approval, and emits Agent Action Approval Requested. The Task then
 * waits, without polling, for ApprovalDecision's SendTaskSuccess or its own timeout (the approval's expiry).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { toolUsesOf } from '../agent/conversation';
import { getProfile } from '../agent/profiles';
import { toolsForAgent } from '../agent/tools';
import type { ApprovalRequestedDetail } from '../contracts/approval-events';
import { APPROVAL_REQUESTED, type EventPublisher } from '../contracts/lifecycle-events';
import { SessionStateError } from '../runtime/errors';
import type { ApprovalStore } from '../store/approval-store';
import type { SessionStore } from '../store/session-store';

export const requestApprovalInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(1),
  call: z.object({
    toolUseId: z.string().min(1),
    name: z.string().min(1),
    index: z.number().int().min(0),
    approvalTimeoutSeconds: z.number().int().min(1),
  }),
  taskToken: z.string().min(1),
});
export type RequestApprovalInput = z.infer<typeof requestApprovalInputSchema>;

export interface RequestApprovalDeps {
  store: SessionStore;
  approvals: ApprovalStore;
  events: EventPublisher;
  now?: () => number;
}

/** The stored tool use the approval is for (its input is what the person approves), and the agent's tool. */
const callToApprove = async (deps: RequestApprovalDeps, input: RequestApprovalInput) => {
  const { tenantId, sessionId, turn, call } = input;
  const message = await deps.store.getMessage(tenantId, sessionId, turn);
  const use = message ? toolUsesOf(message).find((u) => u.toolUseId === call.toolUseId) : undefined;
  if (!message || !use)
    throw new SessionStateError(`Turn ${turn} of session ${sessionId} has no tool call ${call.toolUseId}`);
  const agent = message.agent ?? (await deps.store.requireSession(tenantId, sessionId)).agent;
  const tool = toolsForAgent(getProfile(agent).actionGroups).find((t) => t.name === call.name);
  if (!tool) throw new SessionStateError(`Agent ${agent} has no tool ${call.name} to approve`);
  return { tool, toolInput: (use.input ?? {}) as Record<string, unknown> };
};

export const requestApproval = async (
  deps: RequestApprovalDeps,
  input: RequestApprovalInput,
): Promise<ApprovalRequestedDetail> => {
  const { tenantId, sessionId, turn, call } = input;
  const { tool, toolInput } = await callToApprove(deps, input);
  const deadline = (deps.now ?? Date.now)() + call.approvalTimeoutSeconds * 1000;
  const approval = await deps.approvals.request({
    tenantId,
    sessionId,
    turn,
    index: call.index,
    callId: call.toolUseId,
    tool: tool.name,
    actionGroup: tool.actionGroup,
    input: toolInput,
    taskToken: input.taskToken,
    deadline,
  });
  const detail: ApprovalRequestedDetail = {
    // One id per call: a retried request (a new token) is the same request to whoever listens.
    eventId: createHash('sha256')
      .update(JSON.stringify([tenantId, sessionId, call.toolUseId, APPROVAL_REQUESTED]))
      .digest('hex'),
    tenantId,
    sessionId,
    turn,
    callId: call.toolUseId,
    tool: tool.name,
    actionGroup: tool.actionGroup,
    input: toolInput,
    expiresAt: new Date(approval.deadline).toISOString(),
  };
  await deps.events.publish(APPROVAL_REQUESTED, { ...detail });
  return detail;
};
