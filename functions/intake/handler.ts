/** Intake: EventBridge target for goal and resume events; starts one execution per goal. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { documentClient } from '../../shared/clients/dynamodb';
import { eventBridgeClient } from '../../shared/clients/eventbridge';
import { sfnClient } from '../../shared/clients/sfn';
import { busConfig, tableConfig } from '../../shared/config';
import { requiredEnv } from '../../shared/env';
import { EventPublisher } from '../../shared/events';
import { acceptEvent } from '../../shared/intake';
import { lambdaHandler } from '../../shared/lambda';
import { logger, metrics } from '../../shared/powertools';
import { SessionStore } from '../../shared/session-store';

const table = tableConfig();
const bus = busConfig();
const deps = {
  store: new SessionStore(documentClient(), table.tableName, table.sessionTtlDays),
  sfn: sfnClient(),
  stateMachineArn: requiredEnv('STATE_MACHINE_ARN'),
  events: new EventPublisher(eventBridgeClient(), bus.busName, bus.source),
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
