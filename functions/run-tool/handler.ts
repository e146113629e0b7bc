/** RunTool: one tool call, validated against its OpenAPI schema and run through its action-group Lambda. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { actionGroupFunctions } from '../../shared/agent/tools';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { lambdaClient } from '../../shared/runtime/clients/lambda';
import { tableConfig, toolRetryConfig } from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger, metrics } from '../../shared/runtime/powertools';
import { runTool, runToolInputSchema } from '../../shared/steps/run-tool';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  lambda: lambdaClient(),
  retry: toolRetryConfig(),
  functions: actionGroupFunctions(),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(runToolInputSchema, event, 'RunTool');
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
