/** Intake: EventBridge target for goal and resume events; starts one execution per goal. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventPublisher } from '../../shared/contracts/lifecycle-events';
import { documentClient } from '../../shared/runtime/clients/dynamodb';
import { eventBridgeClient } from '../../shared/runtime/clients/eventbridge';
import { sfnClient } from '../../shared/runtime/clients/sfn';
import { busConfig, intakeConfig, tableConfig } from '../../shared/runtime/config';
import { requiredEnv } from '../../shared/runtime/env';
import { lambdaHandler } from '../../shared/runtime/lambda';
import { logger, metrics } from '../../shared/runtime/powertools';
import { acceptEvent } from '../../shared/steps/intake';
import { SessionStore } from '../../shared/store/session-store';
import { TenantStore } from '../../shared/store/tenant-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  sfn: sfnClient(),
  stateMachineArn: requiredEnv('STATE_MACHINE_ARN'),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
  tenants: new TenantStore(documentClient(), table.tableName),
  rules: intakeConfig(),
};

export const handler = lambdaHandler(async (event: unknown) => {
  const outcome = await acceptEvent(deps, event);
  metrics.addMetric(
    `Goals${outcome.outcome[0]?.toUpperCase()}${outcome.outcome.slice(1)}`,
    MetricUnit.Count,
    1,
  );
  if (outcome.outcome === 'rejected') logger.warn('Goal event rejected', { ...outcome });
  else logger.info(`Goal event ${outcome.outcome}`, { ...outcome });
  return outcome;
});
