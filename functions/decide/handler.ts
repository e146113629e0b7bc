/** Decide: continue planning, finish, or stop on a limit. */
import { z } from 'zod';
import { documentClient } from '../../shared/clients/dynamodb';
import { tableConfig } from '../../shared/config';
import { decide } from '../../shared/decide';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { logger } from '../../shared/powertools';
import { SessionStore } from '../../shared/session-store';

const table = tableConfig();
const store = new SessionStore(documentClient(), table.tableName, table.sessionTtlDays);

const stopReason = z.enum([
  'completed',
  'max_turns',
  'token_budget',
  'usd_budget',
  'loop_detected',
  'schema_violations',
]);
const inputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
  action: z.enum(['tools', 'finish', 'stop']),
  planReason: stopReason.nullable(),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'Decide');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const decision = await decide(store, input);
  logger.info('Decided', { turn: decision.turn, next: decision.next, reason: decision.reason });
  return decision;
});
