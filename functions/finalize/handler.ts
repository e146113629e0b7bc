/** Finalize: persists the outcome and emits Agent Goal Completed or Agent Goal Stopped. */

import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { finalizeInputSchema, finalizeSession } from '../../shared/steps/finalize';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(finalizeInputSchema, event, 'Finalize');
  logger.appendKeys({ sessionId: input.sessionId, tenantId: input.tenantId, turn: input.turn });
  const result = await finalizeSession(deps, input);
  logger.info('Session finished', { status: result.status, reason: result.reason, costUsd: result.costUsd });
  return result;
});
