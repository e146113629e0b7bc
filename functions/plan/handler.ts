/** Plan: the stop rules, then one model turn through Bedrock Converse; returns the tool calls to run, or finish/stop. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { bedrockClient } from '../../shared/runtime/clients/bedrock';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import {
  historyEventBudget,
  modelTiers,
  promptCachingConfig,
  tableConfig,
} from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger, metrics } from '../../shared/runtime/powertools';
import { planInputSchema, planTurn } from '../../shared/steps/plan';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  bedrock: bedrockClient(),
  tiers: modelTiers(),
  promptCaching: promptCachingConfig(),
  historyEventBudget: historyEventBudget(),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(planInputSchema, event, 'Plan');
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
