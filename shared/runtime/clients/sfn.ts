/** The Step Functions client used by intake to start executions. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { tracer } from '../powertools';

let shared: SFNClient | undefined;
export const sfnClient = (): SFNClient => {
  shared ??= tracer.captureAWSv3Client(new SFNClient({}));
  return shared;
};
