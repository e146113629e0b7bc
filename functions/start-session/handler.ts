/** StartSession: marks the session running for this execution and returns its checkpoint turn. */
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { tableConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { startSession, startSessionInputSchema } from '../../shared/steps/start-session';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const store = new SessionStore(documentClient(), table.tableName, table.sessionTtlDays);

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(startSessionInputSchema, event, 'StartSession');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const result = await startSession(store, input);
  logger.info('Session running', { mode: input.mode, turn: result.turn });
  return result;
});
