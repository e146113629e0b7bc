/**
 * The emulator's side of the chat-completions format: a chat request read back into the Converse-shaped request the
 * model scripts and the fixture model answer, and their Converse answer written as a chat-completions response.
 */
import { z } from 'zod';
import { TOOL_ERROR_PREFIX } from '../../shared/providers/openai-chat';
import { type ConverseRequestBody, converseRequestSchema } from '../bedrock/converse-request';
import type { AnswerBlock } from '../bedrock/tokens';

const toolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const chatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }),
  z.object({ role: z.literal('user'), content: z.string() }),
  z.object({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(toolCallSchema).optional(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: z.string() }),
]);

export const chatRequestSchema = z.object({
  messages: z.array(chatMessageSchema).min(1),
  tools: z
    .array(
      z.object({
        type: z.literal('function'),
        function: z.object({
          name: z.string().min(1),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.json()),
        }),
      }),
    )
    .optional(),
  max_tokens: z.number().int().positive().optional(),
  temperature: z.number().min(0).optional(),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;
type ChatMessage = ChatRequest['messages'][number];

/** Who a call is for, from X-Amzn-SageMaker-Custom-Attributes (`tenantId=..;sessionId=..;turn=..`). */
export const readCustomAttributes = (header: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (header ?? '')
      .split(';')
      .map((pair) => pair.split('='))
      .filter((kv): kv is [string, string] => kv.length === 2 && kv[0] !== '' && kv[1] !== ''),
  );

type Block = NonNullable<ConverseRequestBody['messages']>[number]['content'][number];
type Turn = { role: 'user' | 'assistant'; content: Block[] };

const toolResultOf = (m: Extract<ChatMessage, { role: 'tool' }>): Block => {
  const failed = m.content.startsWith(TOOL_ERROR_PREFIX);
  const text = failed ? m.content.slice(TOOL_ERROR_PREFIX.length) : m.content;
  return {
    toolResult: {
      toolUseId: m.tool_call_id,
      content: [{ text }],
      status: failed ? 'error' : 'success',
    },
  };
};

const assistantBlocks = (m: Extract<ChatMessage, { role: 'assistant' }>): Block[] => [
  ...(m.content ? [{ text: m.content }] : []),
  ...(m.tool_calls ?? []).map((call) => ({
    toolUse: {
      toolUseId: call.id,
      name: call.function.name,
      input: JSON.parse(call.function.arguments === '' ? '{}' : call.function.arguments) as Record<
        string,
        never
      >,
    },
  })),
];

/** Tool messages and the user text after them form one Converse user turn, as Plan sent them. */
const converseTurns = (messages: ChatMessage[]): Turn[] => {
  const turns: Turn[] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const blocks =
      m.role === 'assistant'
        ? assistantBlocks(m)
        : m.role === 'tool'
          ? [toolResultOf(m)]
          : [{ text: m.content }];
    const last = turns.at(-1);
    if (last?.role === role && role === 'user') last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  }
  return turns;
};

/** The Converse-shaped request the scripts, the fixture model and the token counter read. */
export const converseRequestOf = (
  chat: ChatRequest,
  metadata: Record<string, string>,
): ConverseRequestBody => {
  const system = chat.messages.flatMap((m) => (m.role === 'system' ? [{ text: m.content }] : []));
  return converseRequestSchema.parse({
    ...(system.length > 0 ? { system } : {}),
    messages: converseTurns(chat.messages),
    ...(chat.tools
      ? {
          toolConfig: {
            tools: chat.tools.map((t) => ({
              toolSpec: {
                name: t.function.name,
                ...(t.function.description ? { description: t.function.description } : {}),
                inputSchema: { json: t.function.parameters },
              },
            })),
          },
        }
      : {}),
    inferenceConfig: {
      ...(chat.max_tokens !== undefined ? { maxTokens: chat.max_tokens } : {}),
      ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
    },
    requestMetadata: metadata,
  });
};

const FINISH_REASONS: Record<string, string> = {
  tool_use: 'tool_calls',
  end_turn: 'stop',
  max_tokens: 'length',
  content_filtered: 'content_filter',
};

/** A Converse answer as an OpenAI-compatible chat completion (what LMI and TGI return on /invocations). */
export const chatResponseOf = (input: {
  id: string;
  model: string;
  content: AnswerBlock[];
  stopReason: string;
  promptTokens: number;
  completionTokens: number;
  created: number;
}) => {
  const text = input.content.flatMap((b) => ('text' in b ? [b.text] : [])).join('\n');
  const calls = input.content.flatMap((b) =>
    'toolUse' in b
      ? [
          {
            id: b.toolUse.toolUseId,
            type: 'function' as const,
            function: { name: b.toolUse.name, arguments: JSON.stringify(b.toolUse.input) },
          },
        ]
      : [],
  );
  return {
    id: input.id,
    object: 'chat.completion',
    created: input.created,
    model: input.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' ? null : text,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
        },
        logprobs: null,
        finish_reason: FINISH_REASONS[input.stopReason] ?? 'stop',
      },
    ],
    usage: {
      prompt_tokens: input.promptTokens,
      completion_tokens: input.completionTokens,
      total_tokens: input.promptTokens + input.completionTokens,
    },
  };
};
