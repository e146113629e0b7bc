/** RecordFailure: keeps a resumable checkpoint of a failed goal and emits Agent Goal Failed. */

import { EventPublisher, GOAL_FAILED } from '../../shared/contracts/lifecycle-events';
import { stepFailureFields } from '../../shared/observability/error-kind';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { recordFailure, recordFailureInputSchema } from '../../shared/steps/record-failure';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(recordFailureInputSchema, event, 'RecordFailure');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const detail = await recordFailure(deps, input);
  if (detail.event === GOAL_FAILED) {
    logger.error('Goal failed', {
      error: detail.error,
      checkpointTurn: detail.checkpointTurn,
      ...stepFailureFields(detail.error.type, detail.error.message),
    });
  } else {
    // Finalize had ended the session; its own event was published again (or there is no session at all).
    logger.warn('Failure after the session ended', { error: detail.error, status: detail.status });
  }
  return detail;
});
