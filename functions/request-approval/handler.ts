/** RequestApproval: records a tool call waiting for a person (its task token) and emits Agent Action Approval Requested. */
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { requestApproval, requestApprovalInputSchema } from '../../shared/steps/request-approval';
import { ApprovalStore } from '../../shared/store/approval-store';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  approvals: new ApprovalStore(documentClient(), table.tableName, table.sessionTtlDays),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(requestApprovalInputSchema, event, 'RequestApproval');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId, turn: input.turn });
  const requested = await requestApproval(deps, input);
  // The token is a credential for this call's outcome: never logged.
  logger.info('Approval requested', {
    callId: requested.callId,
    function: requested.tool,
    expiresAt: requested.expiresAt,
  });
  return { callId: requested.callId, expiresAt: requested.expiresAt };
});
