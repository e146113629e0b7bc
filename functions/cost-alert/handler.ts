/** Cost alert: EventBridge target for cost and tenant events; publishes alerts to SNS and pauses or resumes tenants. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SnsAlertSink } from '../../shared/contracts/alerts';
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { snsClient } from '../../shared/runtime/clients/sns';
import { busConfig, tableConfig } from '../../shared/runtime/config';
import { requiredEnv } from '../../shared/runtime/env';
import { lambdaHandler } from '../../shared/runtime/lambda';
import { logger, metrics } from '../../shared/runtime/powertools';
import { handleCostEvent } from '../../shared/steps/cost-alert';
import { TenantStore } from '../../shared/store/tenant-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  tenants: new TenantStore(documentClient(), table.tableName),
  alerts: new SnsAlertSink(snsClient(), requiredEnv('ALERT_TOPIC_ARN')),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const outcome = await handleCostEvent(deps, event);
  if (outcome.alerted) metrics.addMetric('CostAlertsPublished', MetricUnit.Count, 1);
  if (outcome.tenant === 'paused') metrics.addMetric('TenantsPaused', MetricUnit.Count, 1);
  logger.info('Cost event handled', { ...outcome });
  return outcome;
});
