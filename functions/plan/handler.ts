/** Plan: one model turn through Bedrock Converse; returns the tool calls to run or finish/stop. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { bedrockClient } from '../../shared/clients/bedrock';
import { documentClient } from '../../shared/clients/dynamodb';
import { modelTiers, tableConfig } from '../../shared/config';
import { lambdaHandler, parseInput } from '../../shared/lambda';
import { planTurn } from '../../shared/planner';
import { logger, metrics } from '../../shared/powertools';
import { SessionStore } from '../../shared/session-store';

const table = tableConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  bedrock: bedrockClient(),
  tiers: modelTiers(),
};

const inputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  turn: z.number().int().min(0),
});

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(inputSchema, event, 'Plan');
  logger.appendKeys({ tenantId: input.tenantId, sessionId: input.sessionId });
  const { modelId, tier, usage, costUsd, ...result } = await planTurn(deps, input);
  if (usage && modelId) {
    metrics.addDimension('tier', tier ?? 'unknown');
    metrics.addMetric('ModelCalls', MetricUnit.Count, 1);
    metrics.addMetric('InputTokens', MetricUnit.Count, usage.input);
    metrics.addMetric('OutputTokens', MetricUnit.Count, usage.output);
    logger.info('Turn planned', { turn: result.turn, action: result.action, modelId, tier, usage, costUsd });
  } else {
    logger.info('Turn replayed from the stored conversation', { turn: result.turn, action: result.action });
  }
  return result;
});
