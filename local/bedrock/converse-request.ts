/** The Converse request body as the emulator accepts it: zod shape plus the conversation rules Bedrock enforces. */
import Ajv from 'ajv';
import { z } from 'zod';
import { ConverseValidationError } from './errors';

// Shapes follow the Converse API reference (API_runtime_Converse, Message, ContentBlock, ToolConfiguration,
// CachePointBlock). Objects are loose so fields a newer SDK adds do not break the emulator; every union
// (ContentBlock, SystemContentBlock, Tool, ToolChoice) must set exactly one member, as the SDK serializes it.

const jsonObject = z.record(z.string(), z.json());

const exactlyOneMember =
  (union: string) =>
  (value: Record<string, unknown>, ctx: z.core.$RefinementCtx): void => {
    const set = Object.keys(value).filter((key) => value[key] !== undefined);
    if (set.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a ${union} must set exactly one member, found ${set.length === 0 ? 'none' : set.join(', ')}`,
      });
    }
  };

export const cachePointSchema = z.looseObject({
  type: z.literal('default'),
  ttl: z.enum(['5m', '1h']).optional(),
});

const toolUseSchema = z.looseObject({
  toolUseId: z.string(),
  name: z.string(),
  input: jsonObject,
});

const toolResultContentSchema = z
  .looseObject({
    text: z.string().optional(),
    json: z.json().optional(),
  })
  .superRefine(exactlyOneMember('ToolResultContentBlock'));

const toolResultSchema = z.looseObject({
  toolUseId: z.string(),
  content: z.array(toolResultContentSchema),
  status: z.enum(['success', 'error']).optional(),
});

const contentBlockSchema = z
  .looseObject({
    text: z.string().optional(),
    toolUse: toolUseSchema.optional(),
    toolResult: toolResultSchema.optional(),
    cachePoint: cachePointSchema.optional(),
  })
  .superRefine(exactlyOneMember('ContentBlock'));

const messageSchema = z.looseObject({
  role: z.enum(['user', 'assistant']),
  content: z.array(contentBlockSchema),
});

const systemBlockSchema = z
  .looseObject({
    text: z.string().optional(),
    cachePoint: cachePointSchema.optional(),
  })
  .superRefine(exactlyOneMember('SystemContentBlock'));

const toolSpecSchema = z.looseObject({
  name: z.string(),
  description: z.string().min(1).optional(),
  inputSchema: z.looseObject({ json: jsonObject }),
});

const toolSchema = z
  .looseObject({
    toolSpec: toolSpecSchema.optional(),
    cachePoint: cachePointSchema.optional(),
  })
  .superRefine(exactlyOneMember('Tool'));

const toolChoiceSchema = z
  .looseObject({
    auto: z.looseObject({}).optional(),
    any: z.looseObject({}).optional(),
    tool: z.looseObject({ name: z.string() }).optional(),
  })
  .superRefine(exactlyOneMember('ToolChoice'));

export const converseRequestSchema = z.looseObject({
  messages: z.array(messageSchema).optional(),
  system: z.array(systemBlockSchema).optional(),
  inferenceConfig: z
    .looseObject({
      maxTokens: z.number().int().min(1).optional(),
      temperature: z.number().min(0).max(1).optional(),
      topP: z.number().min(0).max(1).optional(),
      stopSequences: z.array(z.string().min(1)).max(2500).optional(),
    })
    .optional(),
  toolConfig: z
    .looseObject({
      tools: z.array(toolSchema).min(1),
      toolChoice: toolChoiceSchema.optional(),
    })
    .optional(),
  requestMetadata: z.record(z.string(), z.string()).optional(),
  guardrailConfig: z
    .looseObject({
      guardrailIdentifier: z.string(),
      guardrailVersion: z.string(),
      trace: z.enum(['enabled', 'disabled', 'enabled_full']).optional(),
    })
    .optional(),
  additionalModelRequestFields: z.json().optional(),
  additionalModelResponseFieldPaths: z.array(z.string()).optional(),
});

export type ConverseRequestBody = z.infer<typeof converseRequestSchema>;
export type ConverseMessage = z.infer<typeof messageSchema>;
export type ConverseContentBlock = z.infer<typeof contentBlockSchema>;
export type ConverseToolSpec = z.infer<typeof toolSpecSchema>;
export type ConverseToolResult = z.infer<typeof toolResultSchema>;
export type CachePoint = z.infer<typeof cachePointSchema>;

/** ToolSpecification.name and ToolUseBlock.name in the API reference: 1-64 chars of [a-zA-Z0-9_-]. */
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/** ToolUseBlock.toolUseId: 1-64 chars of [a-zA-Z0-9_-]. */
const TOOL_USE_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/** requestMetadata (ConverseRequest): at most 16 entries; key 1-256, value 0-256 chars of this class. */
const METADATA_KEY_PATTERN = /^[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}$/;
const METADATA_VALUE_PATTERN = /^[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}$/;
const METADATA_MAX_ENTRIES = 16;

// strict:false because Bedrock accepts keywords ajv does not know (e.g. `example`); the compile only
// catches schemas that are not JSON Schema at all, which Bedrock rejects too.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false });

/**
 * Why a tool input schema does not compile (undefined when it does), by the schema's JSON text. An agent sends the
 * same tools on every turn: compiling the billing agent's four anew cost about 20 ms of the stack's main thread per
 * call (ajv was its largest JavaScript cost in a 10-goal profile), and ajv's own cache, keyed by object identity,
 * kept every parsed copy. The answer depends on the schema alone, so it is computed once per distinct schema.
 */
const schemaErrors = new Map<string, string | undefined>();
const SCHEMA_CACHE_LIMIT = 1000;

const schemaError = (schema: Record<string, unknown>): string | undefined => {
  const key = JSON.stringify(schema);
  if (schemaErrors.has(key)) return schemaErrors.get(key);
  let error: string | undefined;
  try {
    ajv.compile(schema);
  } catch (compileError) {
    error = (compileError as Error).message;
  }
  // Compiled once, the schema need not stay in ajv's cache (it is keyed by this object, which is not seen again).
  ajv.removeSchema(schema);
  if (schemaErrors.size >= SCHEMA_CACHE_LIMIT) schemaErrors.clear();
  schemaErrors.set(key, error);
  return error;
};

const invalid = (message: string, options?: { cause?: unknown }): ConverseValidationError =>
  new ConverseValidationError(message, options);

const describeZodIssue = (issue: z.core.$ZodIssue): string => {
  const path = issue.path.map(String).join('.');
  return `1 validation error detected: Value at '${path || '(body)'}' failed to satisfy constraint: ${issue.message}`;
};

/**
 * Parses a Converse request body and enforces the conversation rules Bedrock checks before the model runs.
 * Throws ConverseValidationError (answered as 400 ValidationException) with a message that names the place.
 */
export const validateConverseRequest = (modelId: string, body: unknown): ConverseRequestBody => {
  if (modelId.length < 1 || modelId.length > 2048) {
    throw invalid('The provided model identifier is invalid.');
  }
  const parsed = converseRequestSchema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw invalid(
      first ? describeZodIssue(first) : 'Malformed input request, please reformat your input and try again.',
    );
  }
  const request = parsed.data;
  checkSystem(request);
  const toolNames = checkToolConfig(request);
  checkMessages(request, toolNames);
  checkRequestMetadata(request.requestMetadata);
  return request;
};

const checkSystem = (request: ConverseRequestBody): void => {
  (request.system ?? []).forEach((block, i) => {
    if (block.text !== undefined && block.text.trim() === '') {
      throw invalid(
        `The text field in the SystemContentBlock object at system.${i} is blank. Add text to the text field, and try again.`,
      );
    }
  });
};

const checkToolConfig = (request: ConverseRequestBody): Set<string> | undefined => {
  const config = request.toolConfig;
  if (!config) return undefined;
  const names = new Set<string>();
  config.tools.forEach((tool, i) => {
    const spec = tool.toolSpec;
    if (!spec) return;
    if (!TOOL_NAME_PATTERN.test(spec.name)) {
      throw invalid(
        `1 validation error detected: Value '${spec.name}' at 'toolConfig.tools.${i}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length 1-64`,
      );
    }
    if (names.has(spec.name)) {
      throw invalid(
        `The tool name '${spec.name}' at toolConfig.tools.${i} is used by more than one tool. Tool names must be unique.`,
      );
    }
    names.add(spec.name);
    const schema = spec.inputSchema.json;
    if (schema.type !== undefined && schema.type !== 'object') {
      throw invalid(
        `The inputSchema of tool '${spec.name}' (toolConfig.tools.${i}) must describe an object: its type is '${String(schema.type)}'.`,
      );
    }
    const error = schemaError(schema);
    if (error !== undefined) {
      throw invalid(
        `The inputSchema of tool '${spec.name}' (toolConfig.tools.${i}) is not a valid JSON schema: ${error}`,
      );
    }
  });
  if (names.size === 0) {
    throw invalid(
      'The toolConfig.tools list holds no toolSpec: add at least one tool specification or remove toolConfig.',
    );
  }
  const forced = config.toolChoice?.tool?.name;
  if (forced !== undefined && !names.has(forced)) {
    throw invalid(
      `toolConfig.toolChoice.tool.name '${forced}' does not match any tool in toolConfig.tools (${[...names].join(', ')}).`,
    );
  }
  return names;
};

// A message-level helper keeps the rules in the order Bedrock reports them: structure first, then pairing.
const checkMessages = (request: ConverseRequestBody, toolNames: Set<string> | undefined): void => {
  const messages = request.messages ?? [];
  if (messages.length === 0 || messages[0]?.role !== 'user') {
    throw invalid(
      'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
    );
  }
  const seenToolUseIds = new Set<string>();
  messages.forEach((message, i) => {
    if (i > 0 && messages[i - 1]?.role === message.role) {
      throw invalid(
        'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.',
      );
    }
    if (message.content.length === 0) {
      throw invalid(
        `The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`,
      );
    }
    message.content.forEach((block, j) => {
      const at = `messages.${i}.content.${j}`;
      if (block.text !== undefined && block.text.trim() === '') {
        throw invalid(
          `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`,
        );
      }
      if ((block.toolUse || block.toolResult) && !toolNames) {
        throw invalid(
          'The toolConfig field must be defined when using toolUse and toolResult content blocks.',
        );
      }
      if (block.toolUse) {
        if (message.role !== 'assistant')
          throw invalid(
            `The toolUse block at ${at} is in a user message; only assistant messages may hold toolUse blocks.`,
          );
        const { toolUseId, name } = block.toolUse;
        if (!TOOL_NAME_PATTERN.test(name)) {
          throw invalid(
            `1 validation error detected: Value '${name}' at '${at}.member.toolUse.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length 1-64`,
          );
        }
        if (!TOOL_USE_ID_PATTERN.test(toolUseId)) {
          throw invalid(
            `1 validation error detected: Value '${toolUseId}' at '${at}.member.toolUse.toolUseId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length 1-64`,
          );
        }
        if (seenToolUseIds.has(toolUseId)) {
          throw invalid(
            `The toolUseId '${toolUseId}' at ${at} is used by more than one toolUse block. toolUse ids must be unique.`,
          );
        }
        seenToolUseIds.add(toolUseId);
      }
      if (block.toolResult && message.role !== 'user') {
        throw invalid(
          `The toolResult block at ${at} is in an assistant message; only user messages may hold toolResult blocks.`,
        );
      }
    });
    checkToolPairing(messages, i);
  });
};

/** Every toolResult of message i answers a toolUse of message i-1, and every toolUse of i-1 gets one. */
const checkToolPairing = (messages: ConverseMessage[], i: number): void => {
  const message = messages[i];
  if (!message) return;
  if (message.role === 'assistant') {
    const uses = toolUseIdsOf(message);
    if (uses.length > 0 && i === messages.length - 1) {
      throw invalid(
        `Expected toolResult blocks at messages.${i + 1}.content for the following Ids: ${uses.join(', ')}. The conversation ends with toolUse blocks at messages.${i} that have no toolResult.`,
      );
    }
    return;
  }
  const previous = i > 0 ? messages[i - 1] : undefined;
  const expected = previous ? toolUseIdsOf(previous) : [];
  const results = message.content.flatMap((block) => (block.toolResult ? [block.toolResult.toolUseId] : []));
  if (results.length > expected.length) {
    throw invalid(
      `The number of toolResult blocks at messages.${i}.content exceeds the number of toolUse blocks of previous turn.`,
    );
  }
  const answered = new Set<string>();
  for (const id of results) {
    if (!expected.includes(id)) {
      throw invalid(
        `The toolResult block with toolUseId '${id}' at messages.${i}.content does not match any toolUse block of the previous assistant message (messages.${i - 1}).`,
      );
    }
    if (answered.has(id)) {
      throw invalid(
        `The toolUseId '${id}' is answered by more than one toolResult block at messages.${i}.content.`,
      );
    }
    answered.add(id);
  }
  const missing = expected.filter((id) => !answered.has(id));
  if (missing.length > 0) {
    throw invalid(
      `Expected toolResult blocks at messages.${i}.content for the following Ids: ${missing.join(', ')}`,
    );
  }
};

const toolUseIdsOf = (message: ConverseMessage): string[] =>
  message.content.flatMap((block) => (block.toolUse ? [block.toolUse.toolUseId] : []));

const checkRequestMetadata = (metadata: Record<string, string> | undefined): void => {
  if (!metadata) return;
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_MAX_ENTRIES) {
    throw invalid(
      `1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: Member must have at most ${METADATA_MAX_ENTRIES} entries (found ${entries.length})`,
    );
  }
  for (const [key, value] of entries) {
    if (!METADATA_KEY_PATTERN.test(key)) {
      throw invalid(
        `1 validation error detected: Key '${key}' at 'requestMetadata' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{1,256}`,
      );
    }
    if (!METADATA_VALUE_PATTERN.test(value)) {
      throw invalid(
        `1 validation error detected: Value '${value}' at 'requestMetadata.${key}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\\s:_@$#=/+,-.]{0,256}`,
      );
    }
  }
};
