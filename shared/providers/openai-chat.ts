/**
 * Pure mapping between a Converse request/answer and the OpenAI-compatible chat-completions body that SageMaker's
 * LLM containers accept on /invocations: LMI (DJL Serving) treats a body with `messages` as a chat-completions
 * request (https://docs.djl.ai/docs/serving/serving/docs/lmi/user_guides/chat_input_output_schema.html, read
 * 2026-12-02), TGI's Messages API takes the same shape, and so do the JumpStart LLMs built on them.
 */
import type {
  ContentBlock,
  ConverseCommandInput,
  Message,
  ToolResultContentBlock,
} from '@aws-sdk/client-bedrock-runtime';
import * as z from 'zod';
import type { TokenUsage } from '../agent/pricing';
import { ModelRequestError } from '../runtime/errors';
import { zodIssues } from '../runtime/zod-issues';

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters: unknown };
}

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  tools?: ChatTool[];
  max_tokens?: number;
  temperature?: number;
}

/**
 * Chat has no status on a tool message: a failed tool call's result says so in its first words, so the model
 * reads the failure (and the local emulator restores Converse's `status: 'error'` from it).
 */
export const TOOL_ERROR_PREFIX = 'Tool error: ';

const textOf = (blocks: { text?: string | undefined }[]): string =>
  blocks.flatMap((b) => (b.text !== undefined ? [b.text] : [])).join('\n');

const toolResultText = (content: ToolResultContentBlock[] | undefined): string =>
  (content ?? [])
    .map((block) => (block.json !== undefined ? JSON.stringify(block.json) : (block.text ?? '')))
    .join('\n');

/** A user message: its tool results first (each a `tool` message answering its call), then any text. */
const userMessages = (content: ContentBlock[]): ChatMessage[] => {
  const out: ChatMessage[] = content.flatMap((block): ChatMessage[] => {
    const result = block.toolResult;
    if (!result) return [];
    const text = toolResultText(result.content);
    return [
      {
        role: 'tool',
        tool_call_id: result.toolUseId ?? '',
        content: result.status === 'error' ? `${TOOL_ERROR_PREFIX}${text}` : text,
      },
    ];
  });
  const text = textOf(content);
  if (text !== '') out.push({ role: 'user', content: text });
  return out;
};

const assistantMessage = (content: ContentBlock[]): ChatMessage => {
  const calls: ChatToolCall[] = content.flatMap((block) =>
    block.toolUse
      ? [
          {
            id: block.toolUse.toolUseId ?? '',
            type: 'function' as const,
            function: {
              name: block.toolUse.name ?? '',
              arguments: JSON.stringify(block.toolUse.input ?? {}),
            },
          },
        ]
      : [],
  );
  const text = textOf(content);
  return {
    role: 'assistant',
    content: text === '' ? null : text,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
};

const chatMessages = (messages: Message[]): ChatMessage[] =>
  messages.flatMap((m) =>
    m.role === 'assistant' ? [assistantMessage(m.content ?? [])] : userMessages(m.content ?? []),
  );

/** Converse request -> chat-completions body; cache points are dropped (the containers have no such field). */
export const toChatRequest = (request: ConverseCommandInput): ChatCompletionRequest => {
  const system = textOf(request.system ?? []);
  const tools: ChatTool[] = (request.toolConfig?.tools ?? []).flatMap((tool) =>
    tool.toolSpec
      ? [
          {
            type: 'function' as const,
            function: {
              name: tool.toolSpec.name ?? '',
              ...(tool.toolSpec.description ? { description: tool.toolSpec.description } : {}),
              parameters: tool.toolSpec.inputSchema?.json ?? { type: 'object' },
            },
          },
        ]
      : [],
  );
  const inference = request.inferenceConfig;
  return {
    messages: [
      ...(system === '' ? [] : [{ role: 'system' as const, content: system }]),
      ...chatMessages(request.messages ?? []),
    ],
    ...(tools.length > 0 ? { tools } : {}),
    ...(inference?.maxTokens !== undefined ? { max_tokens: inference.maxTokens } : {}),
    ...(inference?.temperature !== undefined ? { temperature: inference.temperature } : {}),
  };
};

const chatResponseSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().min(1),
                function: z.object({ name: z.string().min(1), arguments: z.string() }),
              }),
            )
            .nullish(),
        }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().int().min(0), completion_tokens: z.number().int().min(0) }),
});
export type ChatCompletionResponse = z.infer<typeof chatResponseSchema>;

/** finish_reason -> Converse's stopReason; a reason Converse has no name for passes through as it is. */
const STOP_REASONS: Record<string, string> = {
  tool_calls: 'tool_use',
  stop: 'end_turn',
  length: 'max_tokens',
  content_filter: 'content_filtered',
};

const parseArguments = (raw: string, name: string, modelId: string): Record<string, unknown> => {
  let input: unknown;
  try {
    input = JSON.parse(raw === '' ? '{}' : raw);
  } catch (error) {
    throw new ModelRequestError(
      `${modelId} called ${name} with arguments that are not JSON: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ModelRequestError(`${modelId} called ${name} with arguments that are not a JSON object`);
  }
  return input as Record<string, unknown>;
};

/** Chat-completions body -> the answer in Converse blocks; a malformed body or tool call is a ModelRequestError. */
export const fromChatResponse = (
  body: unknown,
  modelId: string,
): { content: ContentBlock[]; usage: TokenUsage; stopReason?: string } => {
  const parsed = chatResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new ModelRequestError(
      `${modelId} answered outside the chat-completions schema: ${zodIssues(parsed.error).join('; ')}`,
    );
  }
  const [choice] = parsed.data.choices as [ChatCompletionResponse['choices'][number]];
  const text = choice.message.content ?? '';
  const content: ContentBlock[] = [
    ...(text.trim() === '' ? [] : [{ text }]),
    ...(choice.message.tool_calls ?? []).map((call) => ({
      toolUse: {
        toolUseId: call.id,
        name: call.function.name,
        input: parseArguments(call.function.arguments, call.function.name, modelId) as never,
      },
    })),
  ];
  const reason = choice.finish_reason ?? undefined;
  const { usage } = parsed.data;
  return {
    content,
    usage: { input: usage.prompt_tokens, output: usage.completion_tokens, cacheRead: 0, cacheWrite: 0 },
    ...(reason ? { stopReason: STOP_REASONS[reason] ?? reason } : {}),
  };
};
