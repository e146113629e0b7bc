/** The Lambda client used to invoke action groups, created once per Lambda environment and traced. */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { tracer } from '../powertools';

let shared: LambdaClient | undefined;
export const lambdaClient = (): LambdaClient => {
  shared ??= tracer.captureAWSv3Client(new LambdaClient({}));
  return shared;
};
