/** Finalize: persists the outcome and emits Agent Goal Completed or Agent Goal Stopped. */
import { z } from 'zod';
import { documentClient } from '../../shared/clients/dynamodb';
import { eventBridgeClient } from '../../shared/clients/eventbridge';
import { busConfig, tableConfig } from '../../shared/config';
import { EventPublisher } from '../../shared/events';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { finalizeSession } from '../../shared/outcome';
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
  turn: z.number().int().min(0),
  next: z.literal('finalize'),
  reason: z
    .enum(['completed', 'max_turns', 'token_budget', 'usd_budget', 'loop_detected', 'schema_violations'])
    .nullable(),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'Finalize');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const result = await finalizeSession(deps, input);
  logger.info('Session finished', { status: result.status, reason: result.reason, costUsd: result.costUsd });
  return result;
});
