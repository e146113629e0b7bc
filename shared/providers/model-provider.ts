/**
 * One interface for every model provider Plan calls: Bedrock Converse and the private SageMaker endpoint. A request
 * is written once, in Converse's shape; each provider maps it onto its own wire format and maps its errors onto the
 * names the ASL retries or fails on (ModelThrottledError, ModelUnavailableError, ModelRequestError).
 */
import type { ContentBlock, ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import type { ModelProviderName } from '../agent/models';
import type { TokenUsage } from '../agent/pricing';

/** What one model call answered: the assistant content in Converse blocks, the usage it billed, how long it took. */
export interface ModelAnswer {
  content: ContentBlock[];
  usage: TokenUsage;
  latencyMs: number;
  stopReason?: string;
}

export interface ModelProvider {
  readonly name: ModelProviderName;
  converse(request: ConverseCommandInput): Promise<ModelAnswer>;
}

/** The providers a Plan function has: Bedrock always; SageMaker where the stage has a private endpoint. */
export type ModelProviders = { bedrock: ModelProvider } & Partial<Record<ModelProviderName, ModelProvider>>;
