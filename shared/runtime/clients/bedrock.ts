/** The Bedrock Runtime client (Converse), created once per Lambda environment and traced. */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { tracer } from '../powertools';

let shared: BedrockRuntimeClient | undefined;
export const bedrockClient = (): BedrockRuntimeClient => {
  shared ??= tracer.captureAWSv3Client(new BedrockRuntimeClient({}));
  return shared;
};
