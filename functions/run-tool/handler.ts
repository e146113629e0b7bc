/** RunTool: one tool call, validated against its OpenAPI schema and run through its action-group Lambda. */
import { actionGroupFunctions } from '../../shared/agent/tools';
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { lambdaClient } from '../../shared/runtime/clients/lambda';
import {
  breakerConfig,
  busConfig,
  tableConfig,
  toolLimitsConfig,
  toolRetryConfig,
} from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { runTool, runToolInputSchema } from '../../shared/steps/run-tool';
import { ApprovalStore } from '../../shared/store/approval-store';
import { BreakerStore } from '../../shared/store/breaker-store';
import { BudgetLedger } from '../../shared/store/budget-ledger';
import { LastKnownGoodStore } from '../../shared/store/last-known-good';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  lambda: lambdaClient(),
  retry: toolRetryConfig(),
  functions: actionGroupFunctions(),
  breakers: {
    breakers: new BreakerStore(documentClient(), table.tableName),
    lastKnownGood: new LastKnownGoodStore(documentClient(), table.tableName),
    events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
    ...breakerConfig(),
  },
  ledger: new BudgetLedger(documentClient(), table.tableName, table.sessionTtlDays),
  limits: toolLimitsConfig(),
  approvals: new ApprovalStore(documentClient(), table.tableName, table.sessionTtlDays),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(runToolInputSchema, event, 'RunTool');
  logger.appendKeys({ sessionId: input.sessionId, tenantId: input.tenantId, turn: input.turn });
  // The call's trace record ("Tool call") and its metrics are RunTool's own (shared/observability/logs.ts).
  const result = await runTool(deps, input);
  if (result.replayed) logger.info('Tool call replayed from its stored outcome', { ...result });
  return result;
});
