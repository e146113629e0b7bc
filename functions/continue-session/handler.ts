/** ContinueAsNew: starts the session's next execution before this one's history reaches its limit. */
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { sfnClient } from '../../shared/runtime/clients/sfn';
import { tableConfig } from '../../shared/runtime/config';
import { requiredEnv } from '../../shared/runtime/env';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { continueSession, continueSessionInputSchema } from '../../shared/steps/continue-session';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  sfn: sfnClient(),
  stateMachineArn: requiredEnv('STATE_MACHINE_ARN'),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(continueSessionInputSchema, event, 'ContinueAsNew');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const result = await continueSession(deps, input);
  logger.info('Session continues in a new execution', { ...result });
  return result;
});
