/** Reconcile: a default-bus rule's target for executions that ended outside the workflow; fails their sessions. */
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { executionStatusChangeSchema, reconcileExecution } from '../../shared/steps/reconcile';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const change = parseInput(executionStatusChangeSchema, event, 'Reconcile');
  logger.appendKeys({ executionArn: change.detail.executionArn, status: change.detail.status });
  const outcome = await reconcileExecution(deps, change);
  if (outcome.outcome === 'failed') logger.error("Session failed by its execution's end", { ...outcome });
  else logger.info('Execution status change left the session alone', { ...outcome });
  return outcome;
});
