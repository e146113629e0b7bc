/** Plan: the stop rules, then one model turn through Bedrock Converse or the private SageMaker endpoint; returns the tool calls to run, or finish/stop. */
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { BedrockConverseProvider } from '../../shared/providers/bedrock-converse';
import { SageMakerChatProvider } from '../../shared/providers/sagemaker-chat';
import { bedrockClient } from '../../shared/runtime/clients/bedrock';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { sageMakerRuntimeClient } from '../../shared/runtime/clients/sagemaker-runtime';
import {
  breakerConfig,
  busConfig,
  guardrailConfig,
  historyEventBudget,
  logPromptsConfig,
  modelTiers,
  privateModelEndpoint,
  promptCachingConfig,
  tableConfig,
} from '../../shared/runtime/config';
import { lambdaHandler, parseInput } from '../../shared/runtime/lambda';
import { logger } from '../../shared/runtime/powertools';
import { planInputSchema, planTurn } from '../../shared/steps/plan';
import { BreakerStore } from '../../shared/store/breaker-store';
import { BudgetLedger } from '../../shared/store/budget-ledger';
import { SessionStore } from '../../shared/store/session-store';

const table = tableConfig();
const guardrailOption = () => {
  const guardrail = guardrailConfig();
  return guardrail ? { guardrail } : {};
};
const bus = busConfig();
const events = new EventPublisher(eventBridgeClient(), bus.busName, bus.source);
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  providers: {
    bedrock: new BedrockConverseProvider(bedrockClient()),
    sagemaker: new SageMakerChatProvider(sageMakerRuntimeClient(), privateModelEndpoint()),
  },
  tiers: modelTiers(),
  promptCaching: promptCachingConfig(),
  breakers: {
    breakers: new BreakerStore(documentClient(), table.tableName),
    events,
    ...breakerConfig(),
  },
  historyEventBudget: historyEventBudget(),
  logPrompts: logPromptsConfig(),
  ...guardrailOption(),
  budget: { ledger: new BudgetLedger(documentClient(), table.tableName, table.sessionTtlDays), events },
};

export const handler = lambdaHandler(async (event: unknown) => {
  const input = parseInput(planInputSchema, event, 'Plan');
  logger.appendKeys({ sessionId: input.sessionId, tenantId: input.tenantId });
  // The model call's trace record and metrics are Plan's own (shared/observability/logs.ts).
  const { modelId, tier, usage, costUsd, ...result } = await planTurn(deps, input);
  if (usage && modelId) {
    logger.info('Turn planned', { action: result.action, toolCalls: result.toolCalls.length });
  } else {
    logger.info('Turn replayed from the stored conversation', { turn: result.turn, action: result.action });
  }
  return result;
});
