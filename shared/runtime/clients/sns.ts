/** The SNS client the cost alert publishes with. */
import { SNSClient } from '@aws-sdk/client-sns';
import { tracer } from '../powertools';

let shared: SNSClient | undefined;
export const snsClient = (): SNSClient => {
  shared ??= tracer.captureAWSv3Client(new SNSClient({}));
  return shared;
};
