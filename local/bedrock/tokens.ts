/** Token counting (cl100k_base via js-tiktoken, offline) and the prompt cache of the Bedrock emulator. */
import { catalogEntry } from '../../shared/agent/models';
import type { ConverseRequestBody } from './converse-request';
import { sha256, stableStringify } from './json';
import { catalogKeyOf } from './model-id';

// js-tiktoken is an ES module package with CommonJS builds; the type-only import with resolution-mode lets
// this CommonJS project use its types while Node loads the CommonJS build through require.
type TiktokenLite = typeof import('js-tiktoken/lite', { with: { 'resolution-mode': 'import' }});
type Encoder = InstanceType<TiktokenLite['Tiktoken']>;
type Ranks = ConstructorParameters<TiktokenLite['Tiktoken']>[0];

let encoder: Encoder | undefined;

/** Loading the ranks takes about a quarter of a second, so it happens once, on first use. */
const getEncoder = (): Encoder => {
  if (!encoder) {
    const { Tiktoken }: TiktokenLite = require('js-tiktoken/lite');
    const ranks: Ranks = require('js-tiktoken/ranks/cl100k_base');
    encoder = new Tiktoken(ranks);
  }
  return encoder;
};

/**
 * Longest run (of non-space or of space characters) handed to BPE in one piece. js-tiktoken's BPE is quadratic in
 * the length of a pre-tokenizer piece, and an unbroken run is one piece: 20,000 characters took 20 s and a 1 MB one
 * held the emulator (and every session on it) for minutes. Normal text has no such run, so its count stays exact;
 * a longer run is cut into chunks of this size, which changes its count by a token or so per chunk. Chunks of one
 * run often repeat (padding, a repeated character), so their tokens are remembered.
 */
export const MAX_RUN_CHARS = 64;

const LONG_RUN = new RegExp(`\\S{${MAX_RUN_CHARS + 1},}|\\s{${MAX_RUN_CHARS + 1},}`, 'gu');

/** Cuts `run` into MAX_RUN_CHARS pieces, never between the two halves of a surrogate pair. */
const chunksOf = (run: string): string[] => {
  const chunks: string[] = [];
  for (let start = 0; start < run.length; ) {
    let end = Math.min(start + MAX_RUN_CHARS, run.length);
    const last = run.charCodeAt(end - 1);
    if (end < run.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks.push(run.slice(start, end));
    start = end;
  }
  return chunks;
};

const chunkTokens = new Map<string, number[]>();
const MAX_REMEMBERED_CHUNKS = 10_000;

const encodeChunk = (chunk: string): number[] => {
  let tokens = chunkTokens.get(chunk);
  if (tokens === undefined) {
    if (chunkTokens.size >= MAX_REMEMBERED_CHUNKS) chunkTokens.clear();
    tokens = getEncoder().encode(chunk);
    chunkTokens.set(chunk, tokens);
  }
  return tokens;
};

/** Tokens of `text` with every run longer than MAX_RUN_CHARS encoded chunk by chunk: linear time on any input. */
const encode = (text: string): number[] => {
  const enc = getEncoder();
  const tokens: number[] = [];
  let from = 0;
  const add = (piece: number[]): void => {
    for (const token of piece) tokens.push(token);
  };
  const addText = (piece: string): void => {
    if (piece !== '') add(enc.encode(piece));
  };
  for (const match of text.matchAll(LONG_RUN)) {
    addText(text.slice(from, match.index));
    for (const chunk of chunksOf(match[0])) add(encodeChunk(chunk));
    from = match.index + match[0].length;
  }
  addText(text.slice(from));
  return tokens;
};

// The emulator counts the whole conversation at every turn: a long tool result is counted once, not every turn.
const longTextCounts = new Map<string, number>();
const LONG_TEXT_CHARS = 4096;
const MAX_REMEMBERED_TEXTS = 256;

export const countTokens = (text: string): number => {
  if (text === '') return 0;
  if (text.length < LONG_TEXT_CHARS) return encode(text).length;
  let count = longTextCounts.get(text);
  if (count === undefined) {
    if (longTextCounts.size >= MAX_REMEMBERED_TEXTS) longTextCounts.clear();
    count = encode(text).length;
    longTextCounts.set(text, count);
  }
  return count;
};

/** The first `maxTokens` tokens of `text`, decoded back to a string. */
export const truncateToTokens = (text: string, maxTokens: number): string =>
  getEncoder().decode(encode(text).slice(0, Math.max(0, maxTokens)));

/** Output blocks as the emulator answers them. */
export type AnswerBlock =
  | { text: string }
  | { toolUse: { toolUseId: string; name: string; input: Record<string, unknown> } };

export const countBlockTokens = (block: AnswerBlock): number =>
  'text' in block
    ? countTokens(block.text)
    : countTokens(stableStringify({ name: block.toolUse.name, input: block.toolUse.input }));

export const countOutputTokens = (content: AnswerBlock[]): number =>
  content.reduce((sum, block) => sum + countBlockTokens(block), 0);

/** One piece of the prompt in the order a model reads it; a checkpoint ends at a cachePoint block. */
interface PromptPiece {
  text: string;
  cachePointAfter?: { ttlMs: number };
}

const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;

/**
 * The prompt as an ordered list of pieces: tool specs, then system blocks, then message blocks. That is
 * the order Anthropic models render a request in, so a cache point in the tools caches the tools only and
 * one after the system prompt caches tools and system (Bedrock user guide, "Prompt caching").
 */
export const promptPieces = (request: ConverseRequestBody): PromptPiece[] => {
  const pieces: PromptPiece[] = [];
  const markCachePoint = (ttl: '5m' | '1h' | undefined): void => {
    const last = pieces.at(-1);
    if (last) last.cachePointAfter = { ttlMs: TTL_MS[ttl ?? '5m'] };
  };
  for (const tool of request.toolConfig?.tools ?? []) {
    if (tool.toolSpec) pieces.push({ text: stableStringify(tool.toolSpec) });
    else if (tool.cachePoint) markCachePoint(tool.cachePoint.ttl);
  }
  for (const block of request.system ?? []) {
    if (block.text !== undefined) pieces.push({ text: block.text });
    else if (block.cachePoint) markCachePoint(block.cachePoint.ttl);
  }
  for (const message of request.messages ?? []) {
    for (const block of message.content) {
      if (block.text !== undefined) pieces.push({ text: block.text });
      else if (block.toolUse)
        pieces.push({ text: stableStringify({ name: block.toolUse.name, input: block.toolUse.input }) });
      else if (block.toolResult) pieces.push({ text: stableStringify(block.toolResult.content) });
      else if (block.cachePoint) markCachePoint(block.cachePoint.ttl);
      else pieces.push({ text: stableStringify(block) });
    }
  }
  return pieces;
};

export interface InputUsage {
  inputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
}

/**
 * Smallest prefix, in tokens, that forms a cache checkpoint: the model's catalog entry (minTokensPerCheckpoint, from
 * the Bedrock prompt-caching guide). A cache point placed earlier is ignored, as Bedrock ignores it; a model without
 * prompt caching forms none.
 */
export const minimumCacheTokens = (modelId: string): number =>
  catalogEntry(catalogKeyOf(modelId))?.promptCaching?.minTokensPerCheckpoint ?? Number.POSITIVE_INFINITY;

/**
 * Prefix cache keyed by model id and content hash of the prompt up to a cache point. Like Bedrock, a
 * request reads the longest cached prefix, writes the rest up to its last cache point, and reports only
 * the uncached remainder as inputTokens; a hit renews the entry's time to live.
 */
export class PromptCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  measure(modelId: string, request: ConverseRequestBody): InputUsage {
    const pieces = promptPieces(request);
    let total = 0;
    let hash = sha256('prompt-cache', modelId);
    const checkpoints: { key: string; tokens: number; ttlMs: number }[] = [];
    const minimum = minimumCacheTokens(modelId);
    for (const piece of pieces) {
      total += countTokens(piece.text);
      hash = sha256(hash, piece.text);
      if (piece.cachePointAfter && total >= minimum)
        checkpoints.push({ key: hash, tokens: total, ttlMs: piece.cachePointAfter.ttlMs });
    }
    const now = this.now();
    let read = 0;
    for (const checkpoint of checkpoints) {
      const expiresAt = this.entries.get(checkpoint.key);
      if (expiresAt !== undefined && expiresAt > now) read = checkpoint.tokens;
    }
    const lastCheckpoint = checkpoints.at(-1);
    const write = lastCheckpoint ? lastCheckpoint.tokens - read : 0;
    for (const checkpoint of checkpoints) this.entries.set(checkpoint.key, now + checkpoint.ttlMs);
    return { inputTokens: total - read - write, cacheReadInputTokens: read, cacheWriteInputTokens: write };
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Cuts an answer to `maxTokens` output tokens the way a model stops mid-answer: text is cut at the token
 * limit, a toolUse block that does not fit whole is dropped. `truncated` means stopReason max_tokens.
 */
export const fitToMaxTokens = (
  content: AnswerBlock[],
  maxTokens: number | undefined,
): { content: AnswerBlock[]; outputTokens: number; truncated: boolean } => {
  const outputTokens = countOutputTokens(content);
  if (maxTokens === undefined || outputTokens <= maxTokens)
    return { content, outputTokens, truncated: false };
  const kept: AnswerBlock[] = [];
  let used = 0;
  for (const block of content) {
    const tokens = countBlockTokens(block);
    if (used + tokens <= maxTokens) {
      kept.push(block);
      used += tokens;
    } else {
      if ('text' in block && maxTokens - used > 0) {
        const text = truncateToTokens(block.text, maxTokens - used);
        kept.push({ text });
        used += countTokens(text);
      }
      break;
    }
  }
  return { content: kept, outputTokens: used, truncated: true };
};
