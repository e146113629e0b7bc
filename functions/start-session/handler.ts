/** StartSession: marks the session running for this execution and returns its checkpoint turn. */
import { z } from 'zod';
import { documentClient } from '../../shared/clients/dynamodb';
import { tableConfig } from '../../shared/config';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { logger } from '../../shared/powertools';
import { startSession } from '../../shared/session-start';
import { SessionStore } from '../../shared/session-store';

const table = tableConfig();
const store = new SessionStore(documentClient(), table.tableName, table.sessionTtlDays);

const inputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  mode: z.enum(['start', 'resume']),
  executionArn: z.string().min(1),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'StartSession');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const result = await startSession(store, input);
  logger.info('Session running', { mode: input.mode, turn: result.turn });
  return result;
});
