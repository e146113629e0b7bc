/** The Bedrock provider: one Converse call, its errors mapped onto the ASL's names, its usage read. */
import {
  type BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
} from '@aws-sdk/client-bedrock-runtime';
import type { TokenUsage } from '../agent/pricing';
import { ModelRequestError, ModelThrottledError, ModelUnavailableError } from '../runtime/errors';
import type { ModelAnswer, ModelProvider } from './model-provider';

const THROTTLED = new Set(['ThrottlingException', 'ServiceQuotaExceededException']);
const UNAVAILABLE = new Set([
  'ModelTimeoutException',
  'ServiceUnavailableException',
  'InternalServerException',
  'ModelNotReadyException',
  'ModelErrorException',
]);

/** Maps Bedrock errors (after the SDK's own retries) onto the error names the ASL retries or fails on. */
export const classifyModelError = (error: unknown, modelId: string): Error => {
  if (!(error instanceof Error))
    return new ModelRequestError(`Converse failed for ${modelId}: ${String(error)}`);
  const message = `Converse ${error.name} for ${modelId}: ${error.message}`;
  if (THROTTLED.has(error.name)) return new ModelThrottledError(message, { cause: error });
  if (UNAVAILABLE.has(error.name)) return new ModelUnavailableError(message, { cause: error });
  return new ModelRequestError(message, { cause: error });
};

export class BedrockConverseProvider implements ModelProvider {
  readonly name = 'bedrock' as const;

  constructor(
    private readonly client: BedrockRuntimeClient,
    private readonly now: () => number = Date.now,
  ) {}

  async converse(request: ConverseCommandInput): Promise<ModelAnswer> {
    const modelId = request.modelId ?? '';
    const startedAt = this.now();
    let response: ConverseCommandOutput;
    try {
      response = await this.client.send(new ConverseCommand(request));
    } catch (error) {
      throw classifyModelError(error, modelId);
    }
    const latencyMs = this.now() - startedAt;
    const usage: TokenUsage = {
      input: response.usage?.inputTokens ?? 0,
      output: response.usage?.outputTokens ?? 0,
      cacheRead: response.usage?.cacheReadInputTokens ?? 0,
      cacheWrite: response.usage?.cacheWriteInputTokens ?? 0,
    };
    return {
      content: response.output?.message?.content ?? [],
      usage,
      latencyMs,
      ...(response.stopReason ? { stopReason: response.stopReason } : {}),
    };
  }
}
