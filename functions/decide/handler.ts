/** Decide: continue planning, finish, or stop on a limit. */
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { decide, decideInputSchema } from '../../shared/steps/decide';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const store = new SessionStore(documentClient(), table.tableName, table.sessionTtlDays);

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(decideInputSchema, event, 'Decide');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const decision = await decide(store, input);
  logger.info('Decided', { turn: decision.turn, next: decision.next, reason: decision.reason });
  return decision;
});
