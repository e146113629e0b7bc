/** The SageMaker Runtime client (InvokeEndpoint on the private model's endpoint), created once per Lambda environment and traced. */
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { tracer } from '../powertools';

let shared: SageMakerRuntimeClient | undefined;
export const sageMakerRuntimeClient = (): SageMakerRuntimeClient => {
  shared ??= tracer.captureAWSv3Client(new SageMakerRuntimeClient({}));
  return shared;
};
