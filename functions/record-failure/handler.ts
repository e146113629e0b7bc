/** RecordFailure: keeps a resumable checkpoint of a failed goal and emits Agent Goal Failed. */
import { z } from 'zod';
import { documentClient } from '../../shared/clients/dynamodb';
import { eventBridgeClient } from '../../shared/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/config';
import { EventPublisher } from '../../shared/events';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { recordFailure } from '../../shared/outcome';
import { logger } from '../../shared/powertools';
import { SessionStore } from '../../shared/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

const inputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'RecordFailure');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const detail = await recordFailure(deps, input);
  logger.error('Goal failed', { error: detail.error, checkpointTurn: detail.checkpointTurn });
  return detail;
});
