/** Ids for the toolUse blocks the emulator answers: stable for a retried request, new for every turn. */
import type { ConverseRequestBody } from './converse-request';
import { stableStringify, toolUseIdFrom } from './json';
import type { AnswerBlock } from './tokens';

/**
 * Gives each planned toolUse block an id. Ids come from a hash of the conversation, so a retried request
 * gets the same ids and every turn of a conversation gets new ones (Bedrock requires them unique).
 */
export const withToolUseIds = (
  blocks: ({ text: string } | { toolUse: { name: string; input: Record<string, unknown> } })[],
  request: ConverseRequestBody,
  ...seed: string[]
): AnswerBlock[] => {
  const conversation = stableStringify(request.messages ?? []);
  return blocks.map((block, index) =>
    'text' in block
      ? block
      : { toolUse: { toolUseId: toolUseIdFrom(...seed, String(index), conversation), ...block.toolUse } },
  );
};
