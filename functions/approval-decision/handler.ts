/** ApprovalDecision: hands a person's Approved/Denied decision to the waiting call's task token (SendTaskSuccess). */
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { sfnClient } from '../../shared/runtime/clients/sfn';
import { tableConfig } from '../../shared/runtime/config';
import { lambdaHandler } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { decideApproval, parseDecisionEvent } from '../../shared/steps/approval-decision';
import { ApprovalStore } from '../../shared/store/approval-store';

const table = tableConfig();
const deps = {
  approvals: new ApprovalStore(documentClient(), table.tableName, table.sessionTtlDays),
  sfn: sfnClient(),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseDecisionEvent(event);
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const result = await decideApproval(deps, input);
  const fields = { callId: input.callId, decision: input.decision, decidedBy: input.decidedBy, ...result };
  // A refused decision is the sender's problem, not a failure to retry: logged, never thrown.
  if (result.outcome === 'refused') logger.warn('Approval decision refused', fields);
  else logger.info('Approval decision sent', fields);
  return result;
});
