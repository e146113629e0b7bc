/** The approval events' details: what Agent Action Approval Requested carries, and what a decision must carry. */
import * as z from 'zod';
import { ACTION_APPROVED, ACTION_DENIED } from './lifecycle-events';

/** Agent Action Approved / Agent Action Denied: which call, who decided, and why (shown to the model on a denial). */
export const approvalDecisionDetailSchema = z
  .object({
    tenantId: z.string().min(1),
    sessionId: z.string().min(1),
    /** The tool call's id (the model's toolUseId), as the Requested event and `status` show it. */
    callId: z.string().min(1),
    decidedBy: z.string().min(1).max(256),
    reason: z.string().max(1024).optional(),
  })
  .strict();
export type ApprovalDecisionDetail = z.infer<typeof approvalDecisionDetailSchema>;

export const approvalDecisionSchema = z.enum(['approved', 'denied']);
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

export const decisionOfDetailType = (detailType: string): ApprovalDecision | undefined =>
  detailType === ACTION_APPROVED ? 'approved' : detailType === ACTION_DENIED ? 'denied' : undefined;

/** Agent Action Approval Requested. */
export interface ApprovalRequestedDetail {
  eventId: string;
  tenantId: string;
  sessionId: string;
  turn: number;
  callId: string;
  tool: string;
  actionGroup: string;
  input: Record<string, unknown>;
  /** ISO time after which the call is refused as expired. */
  expiresAt: string;
}
