/** The private provider: one InvokeEndpoint call on the stage's SageMaker endpoint in chat-completions format, its errors mapped onto the ASL's names. */
import type { ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { ModelRequestError, ModelThrottledError, ModelUnavailableError } from '../runtime/errors';
import type { ModelAnswer, ModelProvider } from './model-provider';
import { fromChatResponse, toChatRequest } from './openai-chat';

/** Not in SageMaker Runtime's model, but what its front end answers when the account's invocation rate is passed. */
const THROTTLED = new Set(['ThrottlingException']);
/** InvokeEndpoint's server faults and a model still loading (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors). */
const UNAVAILABLE = new Set([
  'ServiceUnavailable',
  'InternalFailure',
  'InternalDependencyException',
  'ModelNotReadyException',
]);

/** ModelError is the container's own 4xx/5xx: its 429 is throttling, its 5xx an outage, the rest a bad request. */
const classifyContainerError = (error: Error & { OriginalStatusCode?: number }, message: string): Error => {
  const status = error.OriginalStatusCode ?? 500;
  if (status === 429) return new ModelThrottledError(message, { cause: error });
  if (status >= 500) return new ModelUnavailableError(message, { cause: error });
  return new ModelRequestError(message, { cause: error });
};

/** Maps SageMaker Runtime errors (after the SDK's own retries) onto the error names the ASL retries or fails on. */
export const classifySageMakerError = (error: unknown, endpointName: string): Error => {
  if (!(error instanceof Error))
    return new ModelRequestError(`InvokeEndpoint failed on ${endpointName}: ${String(error)}`);
  const message = `InvokeEndpoint ${error.name} on ${endpointName}: ${error.message}`;
  if (error.name === 'ModelError') return classifyContainerError(error, message);
  if (THROTTLED.has(error.name)) return new ModelThrottledError(message, { cause: error });
  if (UNAVAILABLE.has(error.name)) return new ModelUnavailableError(message, { cause: error });
  return new ModelRequestError(message, { cause: error });
};

/**
 * Who the call is for, in the X-Amzn-SageMaker-Custom-Attributes header: SageMaker forwards it verbatim to the
 * container and it is not part of the prompt (the chat body's `user` field would be, for TGI, an unknown field).
 */
export const customAttributesOf = (request: ConverseCommandInput): string | undefined => {
  const metadata = request.requestMetadata ?? {};
  const pairs = ['tenantId', 'sessionId', 'turn'].flatMap((key) =>
    metadata[key] !== undefined ? [`${key}=${metadata[key]}`] : [],
  );
  return pairs.length > 0 ? pairs.join(';') : undefined;
};

export class SageMakerChatProvider implements ModelProvider {
  readonly name = 'sagemaker' as const;

  constructor(
    private readonly client: SageMakerRuntimeClient,
    /** The stage's endpoint (PRIVATE_MODEL_ENDPOINT): every private-tier model id is served by it. */
    private readonly endpointName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async converse(request: ConverseCommandInput): Promise<ModelAnswer> {
    const modelId = request.modelId ?? this.endpointName;
    const attributes = customAttributesOf(request);
    const startedAt = this.now();
    let body: Uint8Array | undefined;
    try {
      const response = await this.client.send(
        new InvokeEndpointCommand({
          EndpointName: this.endpointName,
          ContentType: 'application/json',
          Accept: 'application/json',
          Body: new TextEncoder().encode(JSON.stringify(toChatRequest(request))),
          ...(attributes ? { CustomAttributes: attributes } : {}),
        }),
      );
      body = response.Body;
    } catch (error) {
      throw classifySageMakerError(error, this.endpointName);
    }
    const latencyMs = this.now() - startedAt;
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(body ?? new Uint8Array()));
    } catch (error) {
      throw new ModelRequestError(
        `${modelId} on ${this.endpointName} answered with a body that is not JSON`,
        {
          cause: error,
        },
      );
    }
    return { ...fromChatResponse(parsed, modelId), latencyMs };
  }
}
