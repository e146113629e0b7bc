/**
 * The model catalog's rules as Bedrock enforces them on a Converse call: the model id (ARNs resolve by the id they
 * name), its lifecycle and invocation, where cache points may go and how many, maxTokens and the context window.
 * The data is shared/agent/models/catalog.json, the same the planner builds requests from; the messages are
 * Bedrock's own as seen in the wild (sources next to each).
 */
import { type CatalogEntry, catalogEntry } from '../../shared/agent/models';
import type { ConverseRequestBody } from './converse-request';
import { ConverseFaultError, ConverseValidationError } from './errors';
import { catalogKeyOf } from './model-id';
import { countTokens, promptPieces } from './tokens';

/** Bedrock's answer to an id it has no model for (ValidationException; bitslovers.com/bedrock-model-lifecycle). */
export const INVALID_MODEL_MESSAGE = 'The provided model identifier is invalid.';

/**
 * Bedrock's answer to a model past its end of life: ResourceNotFoundException (aws-samples/amazon-bedrock-ai-karaoke#21,
 * aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws#708).
 */
export const EOL_MESSAGE =
  'This model version has reached the end of its life. Please refer to the AWS documentation for more details.';

/** A bare model id that needs an inference profile on demand (qiita.com/k5ki, zenn.dev/ncdc: ValidationException). */
export const onDemandUnsupportedMessage = (modelId: string): string =>
  `Invocation of model ID ${modelId} with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.`;

/** Too many cache points (the Anthropic model's error through Bedrock; Wei-Shaw/sub2api#176). */
export const tooManyCheckpointsMessage = (max: number, found: number): string =>
  `The model returned the following errors: A maximum of ${max} blocks with cache_control may be provided. Found ${found}.`;

/** A cachePoint where the model takes none (Nova in toolConfig.tools: NousResearch/hermes-agent#97281). */
export const misplacedCachePointMessage = (pointer: string): string =>
  `The model returned the following errors: Malformed input request: ${pointer}: extraneous key [cachePoint] is not permitted, please reformat your input and try again.`;

/** maxTokens above the model's output limit (vercel/ai#2772). */
export const maxTokensMessage = (limit: number): string =>
  `The maximum tokens you requested exceeds the model limit of ${limit}. Try again with a maximum tokens value that is lower than ${limit}.`;

/** A prompt over the model's context window (aws-samples/assessment-generator#2, continuedev/continue#9592). */
export const INPUT_TOO_LONG_MESSAGE = 'Input is too long for requested model.';

/** The catalog entry of a Converse model id, or the error Bedrock answers before reading the request. */
export const requireInvocableModel = (modelId: string): CatalogEntry => {
  const entry = catalogEntry(catalogKeyOf(modelId));
  if (entry?.provider !== 'bedrock') throw new ConverseValidationError(INVALID_MODEL_MESSAGE);
  if (entry.lifecycle.status === 'EOL')
    throw new ConverseFaultError('ResourceNotFoundException', EOL_MESSAGE);
  if (entry.invocation === 'inference-profile-required')
    throw new ConverseValidationError(onDemandUnsupportedMessage(modelId));
  return entry;
};

/** JSON pointers of every cachePoint in the request, by the Converse field it sits in. */
const cachePointsOf = (
  request: ConverseRequestBody,
): { field: 'system' | 'messages' | 'tools'; at: string }[] => [
  ...(request.toolConfig?.tools ?? []).flatMap((tool, i) =>
    tool.cachePoint ? [{ field: 'tools' as const, at: `#/toolConfig/tools/${i}` }] : [],
  ),
  ...(request.system ?? []).flatMap((block, i) =>
    block.cachePoint ? [{ field: 'system' as const, at: `#/system/${i}` }] : [],
  ),
  ...(request.messages ?? []).flatMap((message, i) =>
    message.content.flatMap((block, j) =>
      block.cachePoint ? [{ field: 'messages' as const, at: `#/messages/${i}/content/${j}` }] : [],
    ),
  ),
];

const checkCachePoints = (entry: CatalogEntry, request: ConverseRequestBody): void => {
  const points = cachePointsOf(request);
  const accepted = new Set(entry.promptCaching?.fields ?? []);
  const misplaced = points.find((point) => !accepted.has(point.field));
  if (misplaced) throw new ConverseValidationError(misplacedCachePointMessage(misplaced.at));
  const max = entry.promptCaching?.maxCheckpoints ?? 0;
  if (points.length > max) throw new ConverseValidationError(tooManyCheckpointsMessage(max, points.length));
};

/** The request's prompt in tokens (system, tools and messages, as the emulator counts them). */
export const promptTokens = (request: ConverseRequestBody): number =>
  promptPieces(request).reduce((sum, piece) => sum + countTokens(piece.text), 0);

/** The rules of the model's entry a parsed request must keep; throws the ValidationException Bedrock answers. */
export const checkAgainstCatalog = (entry: CatalogEntry, request: ConverseRequestBody): void => {
  checkCachePoints(entry, request);
  const maxTokens = request.inferenceConfig?.maxTokens;
  if (maxTokens !== undefined && maxTokens > entry.maxOutputTokens)
    throw new ConverseValidationError(maxTokensMessage(entry.maxOutputTokens));
  if (promptTokens(request) > entry.contextWindow) throw new ConverseValidationError(INPUT_TOO_LONG_MESSAGE);
};
