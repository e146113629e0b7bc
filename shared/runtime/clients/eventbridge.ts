/** The EventBridge client used to publish lifecycle and alert events. */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { tracer } from '../powertools';

let shared: EventBridgeClient | undefined;
export const eventBridgeClient = (): EventBridgeClient => {
  shared ??= tracer.captureAWSv3Client(new EventBridgeClient({}));
  return shared;
};
