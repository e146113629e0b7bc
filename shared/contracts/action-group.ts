/** Bedrock Agents action-group Lambda contract (function-details form): event/response schemas and helpers. */
import * as z from 'zod';
import { breakerSettingsSchema } from '../agent/breaker';

// The contract as documented in "Configure Lambda functions to send information that an Amazon Bedrock
// agent elicits from the user" (Bedrock user guide, agents-lambda). Our run-tool Lambda is the caller;
// every action-group handler is a callee, so a handler also works behind a real Bedrock agent.

export const ACTION_GROUP_MESSAGE_VERSION = '1.0';

/** Session attribute holding the session's tenant; set by run-tool from the session, never by the model. */
export const TENANT_ID_ATTRIBUTE = 'tenantId';
/** Session attribute holding a key that is stable for one tool call across retries and resumes. */
export const IDEMPOTENCY_KEY_ATTRIBUTE = 'idempotencyKey';

export const actionGroupParameterTypes = ['string', 'number', 'integer', 'boolean', 'array'] as const;
export type ActionGroupParameterType = (typeof actionGroupParameterTypes)[number];

export const actionGroupParameterSchema = z.object({
  name: z.string().min(1),
  type: z.enum(actionGroupParameterTypes),
  // Bedrock always sends the value as a string, whatever the declared type.
  value: z.string(),
});
export type ActionGroupParameter = z.infer<typeof actionGroupParameterSchema>;

/** Bedrock session attributes are string-to-string maps. */
const attributesSchema = z.record(z.string(), z.string());

export const actionGroupEventSchema = z.object({
  messageVersion: z.literal(ACTION_GROUP_MESSAGE_VERSION),
  agent: z.object({ name: z.string(), id: z.string(), alias: z.string(), version: z.string() }),
  inputText: z.string(),
  sessionId: z.string().min(1),
  actionGroup: z.string().min(1),
  function: z.string().min(1),
  // Bedrock omits `parameters` when a function declares none.
  parameters: z.array(actionGroupParameterSchema).default([]),
  sessionAttributes: attributesSchema.default({}),
  promptSessionAttributes: attributesSchema.default({}),
});
export type ActionGroupEvent = z.infer<typeof actionGroupEventSchema>;
/** What a caller may send: defaults (empty parameters and attributes) may be left out. */
export type ActionGroupEventInput = z.input<typeof actionGroupEventSchema>;

export const actionGroupResponseStates = ['FAILURE', 'REPROMPT'] as const;
export type ActionGroupResponseState = (typeof actionGroupResponseStates)[number];

export const actionGroupResponseSchema = z.object({
  messageVersion: z.literal(ACTION_GROUP_MESSAGE_VERSION),
  response: z.object({
    actionGroup: z.string().min(1),
    function: z.string().min(1),
    functionResponse: z.object({
      responseState: z.enum(actionGroupResponseStates).optional(),
      responseBody: z.object({ TEXT: z.object({ body: z.string() }) }),
    }),
  }),
  sessionAttributes: attributesSchema.optional(),
  promptSessionAttributes: attributesSchema.optional(),
});
export type ActionGroupResponse = z.infer<typeof actionGroupResponseSchema>;

/** Base error of the action-group contract. */
export class ActionGroupContractError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ActionGroupContractError';
  }
}

/** The Lambda input is not an action-group event (a caller bug: surfaces as a function error). */
export class InvalidActionGroupEventError extends ActionGroupContractError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidActionGroupEventError';
  }
}

/** A parameter does not fit the operation's schema (unknown name, unsupported type, unparsable value). */
export class InvalidActionGroupParameterError extends ActionGroupContractError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidActionGroupParameterError';
  }
}

/** The Lambda output is not an action-group response. */
export class InvalidActionGroupResponseError extends ActionGroupContractError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidActionGroupResponseError';
  }
}

/** The part of an operation's JSON Schema the (de)serializers need; JSON imports fit it as they are. */
export interface ParametersJsonSchema {
  readonly properties?: Readonly<Record<string, { readonly type?: unknown }>>;
}

/** Parses a Lambda input as an action-group event, with every problem named in the message. */
export function parseActionGroupEvent(input: unknown): ActionGroupEvent {
  const parsed = actionGroupEventSchema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidActionGroupEventError(`Invalid action-group event: ${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Parses a Lambda output as an action-group response, with every problem named in the message. */
export function parseActionGroupResponse(output: unknown): ActionGroupResponse {
  const parsed = actionGroupResponseSchema.safeParse(output);
  if (!parsed.success) {
    throw new InvalidActionGroupResponseError(
      `Invalid action-group response: ${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

function declaredType(schema: ParametersJsonSchema, name: string): ActionGroupParameterType {
  const property = schema.properties?.[name];
  if (property === undefined) {
    const known = Object.keys(schema.properties ?? {}).join(', ') || '(none)';
    throw new InvalidActionGroupParameterError(`Unknown parameter "${name}"; declared parameters: ${known}`);
  }
  const type = property.type;
  if (typeof type !== 'string' || !(actionGroupParameterTypes as readonly string[]).includes(type)) {
    throw new InvalidActionGroupParameterError(
      `Parameter "${name}" declares type ${JSON.stringify(type)}; action-group parameters must be one of ${actionGroupParameterTypes.join(', ')}`,
    );
  }
  return type as ActionGroupParameterType;
}

function serialize(name: string, type: ActionGroupParameterType, value: unknown): string {
  const mismatch = () =>
    new InvalidActionGroupParameterError(`Parameter "${name}" must be ${type}, got ${JSON.stringify(value)}`);
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw mismatch();
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw mismatch();
      return String(value);
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw mismatch();
      return String(value);
    case 'boolean':
      if (typeof value !== 'boolean') throw mismatch();
      return String(value);
    case 'array':
      if (!Array.isArray(value)) throw mismatch();
      return JSON.stringify(value);
  }
}

const INTEGER_TEXT = /^-?\d+$/;

function deserialize(name: string, type: ActionGroupParameterType, text: string): unknown {
  const bad = (expected: string, cause?: unknown) =>
    new InvalidActionGroupParameterError(
      `Parameter "${name}" must be ${expected}, got ${JSON.stringify(text)}`,
      cause === undefined ? undefined : { cause },
    );
  switch (type) {
    case 'string':
      return text;
    case 'number': {
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value)) throw bad('a number');
      return value;
    }
    case 'integer': {
      const value = Number(text.trim());
      if (!INTEGER_TEXT.test(text.trim()) || !Number.isSafeInteger(value)) throw bad('an integer');
      return value;
    }
    case 'boolean': {
      const lowered = text.trim().toLowerCase();
      if (lowered !== 'true' && lowered !== 'false') throw bad('true or false');
      return lowered === 'true';
    }
    case 'array': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw bad('a JSON array', error);
      }
      if (!Array.isArray(value)) throw bad('a JSON array');
      return value;
    }
  }
}

/**
 * Turns typed tool input (as the model produced it and ajv validated it) into Bedrock parameters:
 * every value becomes a string, arrays as JSON. Order follows the schema; undefined values are left out.
 */
export function toActionGroupParameters(
  input: Record<string, unknown>,
  schema: ParametersJsonSchema,
): ActionGroupParameter[] {
  for (const name of Object.keys(input)) declaredType(schema, name);
  const parameters: ActionGroupParameter[] = [];
  for (const name of Object.keys(schema.properties ?? {})) {
    const value = input[name];
    if (value === undefined) continue;
    const type = declaredType(schema, name);
    parameters.push({ name, type, value: serialize(name, type, value) });
  }
  return parameters;
}

/** Parses Bedrock parameters back into typed values by the type the schema declares. */
export function fromActionGroupParameters(
  parameters: readonly ActionGroupParameter[],
  schema: ParametersJsonSchema,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const parameter of parameters) {
    if (Object.hasOwn(values, parameter.name)) {
      throw new InvalidActionGroupParameterError(`Parameter "${parameter.name}" is given more than once`);
    }
    values[parameter.name] = deserialize(
      parameter.name,
      declaredType(schema, parameter.name),
      parameter.value,
    );
  }
  return values;
}

/** Builds the function-details response; the body is JSON so the model and our caller can both read it. */
export function buildActionGroupResponse(
  event: Pick<ActionGroupEvent, 'actionGroup' | 'function'>,
  body: unknown,
  state?: ActionGroupResponseState,
): ActionGroupResponse {
  return {
    messageVersion: ACTION_GROUP_MESSAGE_VERSION,
    response: {
      actionGroup: event.actionGroup,
      function: event.function,
      functionResponse: {
        ...(state === undefined ? {} : { responseState: state }),
        responseBody: { TEXT: { body: JSON.stringify(body) ?? 'null' } },
      },
    },
  };
}

/** Reads a response's state and body; the body is parsed as JSON when it is JSON, else kept as text. */
export function readActionGroupResponse(response: ActionGroupResponse): {
  state: ActionGroupResponseState | undefined;
  body: unknown;
} {
  const text = response.response.functionResponse.responseBody.TEXT.body;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Bedrock allows free text in TEXT.body; a callee that is not ours may send it.
  }
  return { state: response.response.functionResponse.responseState, body };
}

/** Builds the event the caller sends, with our session attributes conventions. */
export function buildActionGroupEvent(args: {
  agent: ActionGroupEvent['agent'];
  sessionId: string;
  actionGroup: string;
  function: string;
  parameters: ActionGroupParameter[];
  tenantId: string;
  idempotencyKey: string;
  inputText?: string;
}): ActionGroupEvent {
  return {
    messageVersion: ACTION_GROUP_MESSAGE_VERSION,
    agent: args.agent,
    inputText: args.inputText ?? '',
    sessionId: args.sessionId,
    actionGroup: args.actionGroup,
    function: args.function,
    parameters: args.parameters,
    sessionAttributes: {
      [TENANT_ID_ATTRIBUTE]: args.tenantId,
      [IDEMPOTENCY_KEY_ATTRIBUTE]: args.idempotencyKey,
    },
    promptSessionAttributes: {},
  };
}

// --- OpenAPI: one action group's operations, each a tool the model can call ---

/** Converse tool names: a letter, then letters, digits and underscores, at most 64 characters. */
const TOOL_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;

const jsonSchemaObject = z.record(z.string(), z.unknown());

const openApiOperationSchema = z.object({
  operationId: z.string().regex(TOOL_NAME, 'operationId must be a valid Converse tool name'),
  summary: z.string().optional(),
  description: z.string().min(1),
  requestBody: z.object({
    required: z.boolean().optional(),
    content: z.object({ 'application/json': z.object({ schema: jsonSchemaObject }) }),
  }),
  responses: z.record(z.string(), z.unknown()),
  /** The operation changes the world (writes a report): RunTool keys it per session and normalised arguments. */
  'x-side-effect': z.boolean().optional(),
  /** This tool's circuit-breaker settings over the defaults (shared/agent/breaker.ts). */
  'x-circuit-breaker': breakerSettingsSchema.optional(),
  /** What answers when the tool's breaker is open or the tool fails past its retries. */
  'x-fallback': z
    .union([
      z.strictObject({ tool: z.string().regex(TOOL_NAME, 'a fallback tool is an operationId') }),
      z.strictObject({ static: z.string().min(1) }),
      // The tenant's last successful answer of this tool, kept at most this long (1 minute to 30 days); without
      // one, the static answer beside it if there is one.
      z.strictObject({
        lastKnownGood: z.strictObject({ maxAgeSeconds: z.number().int().min(60).max(2_592_000) }),
        static: z.string().min(1).optional(),
      }),
    ])
    .optional(),
  /** Not offered to the model: the operation only answers as another operation's fallback (a read-only replica). */
  'x-fallback-only': z.boolean().optional(),
});

/** A tool's fallback: another operation of its action group (same input), a fixed answer, or its last good one. */
export type ToolFallback =
  | { tool: string }
  | { static: string }
  | { lastKnownGood: { maxAgeSeconds: number }; static?: string };

const openApiDocumentSchema = z.object({
  openapi: z.string().regex(/^3\.0\.\d+$/, 'must be an OpenAPI 3.0 document'),
  info: z.object({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), openApiOperationSchema)),
});

/** One operation of an action group: the tool name the model sees and the JSON Schema of its input. */
export interface ActionGroupOperation {
  readonly name: string;
  readonly description: string;
  readonly path: string;
  readonly method: string;
  readonly inputSchema: Record<string, unknown>;
  /** From `x-side-effect`: a repeat with the same arguments in a session reuses the first call's idempotency key. */
  readonly sideEffect: boolean;
  readonly breaker?: z.infer<typeof breakerSettingsSchema>;
  readonly fallback?: ToolFallback;
  readonly fallbackOnly?: boolean;
}

function findRef(value: unknown, at: string): string | undefined {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findRef(item, `${at}/${index}`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref') return `${at}/$ref`;
      const found = findRef(item, `${at}/${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Reads the operations of an action group's OpenAPI document. Request schemas must be plain JSON Schema
 * (no $ref) because the same schema is a Converse toolSpec and the ajv validator of the tool input.
 */
export function readActionGroupOperations(document: unknown): ActionGroupOperation[] {
  const parsed = openApiDocumentSchema.safeParse(document);
  if (!parsed.success) {
    throw new ActionGroupContractError(
      `Invalid action-group OpenAPI document: ${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    );
  }
  const operations: ActionGroupOperation[] = [];
  for (const [path, methods] of Object.entries(parsed.data.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const inputSchema = operation.requestBody.content['application/json'].schema;
      const ref = findRef(inputSchema, `${path}/${method}/requestBody`);
      if (ref) throw new ActionGroupContractError(`Request schema of ${operation.operationId} uses ${ref}`);
      if (operations.some((known) => known.name === operation.operationId)) {
        throw new ActionGroupContractError(`operationId ${operation.operationId} is used more than once`);
      }
      operations.push({
        name: operation.operationId,
        description: operation.description,
        path,
        method,
        inputSchema,
        sideEffect: operation['x-side-effect'] === true,
        ...(operation['x-circuit-breaker'] ? { breaker: operation['x-circuit-breaker'] } : {}),
        ...(operation['x-fallback'] ? { fallback: operation['x-fallback'] } : {}),
        ...(operation['x-fallback-only'] ? { fallbackOnly: true } : {}),
      });
    }
  }
  checkFallbacks(operations);
  return operations;
}

/** A tool fallback must name another operation of the same document, itself without a tool fallback (no chains). */
function checkFallbacks(operations: readonly ActionGroupOperation[]): void {
  for (const operation of operations) {
    const fallback = operation.fallback;
    if (fallback === undefined || !('tool' in fallback)) continue;
    const target = operations.find((candidate) => candidate.name === fallback.tool);
    if (!target || target.name === operation.name) {
      throw new ActionGroupContractError(
        `x-fallback of ${operation.name} names ${fallback.tool}, which is not another operation of this action group`,
      );
    }
    if (target.fallback && 'tool' in target.fallback) {
      throw new ActionGroupContractError(
        `x-fallback of ${operation.name} names ${fallback.tool}, which has a tool fallback itself`,
      );
    }
  }
}
