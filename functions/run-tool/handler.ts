/** RunTool: one tool call, validated against its OpenAPI schema and run through its action-group Lambda. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { documentClient } from '../../shared/clients/dynamodb';
import { lambdaClient } from '../../shared/clients/lambda';
import { tableConfig, toolRetryConfig } from '../../shared/config';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { logger, metrics } from '../../shared/powertools';
import { SessionStore } from '../../shared/session-store';
import { runTool } from '../../shared/tool-runner';

const table = tableConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  lambda: lambdaClient(),
  retry: toolRetryConfig(),
};

const inputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(1),
  call: z.object({ toolUseId: z.string().min(1), name: z.string().min(1), index: z.number().int().min(0) }),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'RunTool');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId, tool: input.call.name });
  const result = await runTool(deps, input);
  metrics.addMetric(
    result.status === 'succeeded' ? 'ToolCallsSucceeded' : 'ToolCallsFailed',
    MetricUnit.Count,
    1,
  );
  logger.info('Tool call finished', { ...result, turn: input.turn });
  return result;
});
