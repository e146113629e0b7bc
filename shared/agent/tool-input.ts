/**
 * Checks the model's parameters for a tool against the tool's OpenAPI schema: safe coercions first, then schema
 * defaults, and every remaining problem named by its JSON pointer and what the schema expected.
 */
import type { ErrorObject } from 'ajv';
import { compileCoercingToolSchema, compileToolSchema } from '../contracts/tool-schemas/validator';
import type { ToolDefinition } from './tools';

/** One coercion applied before validation: where (JSON pointer), the model's value and the value used. */
export interface Coercion {
  pointer: string;
  from: unknown;
  to: unknown;
}

export type ValidationResult =
  | { ok: true; input: Record<string, unknown>; coercions: Coercion[] }
  | { ok: false; errors: string[]; coercions: Coercion[] };

const escapePointer = (token: string): string => token.replaceAll('~', '~0').replaceAll('/', '~1');

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The safe subset of Ajv's coercions: a numeric string to a number or integer ("30" -> 30), "true"/"false" to a
 * boolean, and a single value to a one-item array (of that value, or of its safe coercion). Refused: everything
 * else Ajv would do (null -> 0, "" or false; a boolean -> 1/0 or "true"; a number -> string; a one-item array
 * unwrapped to its value): those guess at what the model meant.
 */
export const isSafeCoercion = (from: unknown, to: unknown): boolean => {
  if (typeof from === 'string' && typeof to === 'number') return from.trim() !== '' && Number(from) === to;
  if (typeof to === 'boolean') return from === String(to);
  if (Array.isArray(to) && !Array.isArray(from) && to.length === 1) {
    return to[0] === from || isSafeCoercion(from, to[0]);
  }
  return false;
};

/** Every place where Ajv's coercing copy differs from the model's input (values compared, not object identity). */
const differences = (from: unknown, to: unknown, pointer = ''): Coercion[] => {
  if (isRecord(from) && isRecord(to)) {
    return Object.keys(from).flatMap((key) =>
      key in to ? differences(from[key], to[key], `${pointer}/${escapePointer(key)}`) : [],
    );
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
    return from.flatMap((item, i) => differences(item, to[i], `${pointer}/${i}`));
  }
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ pointer, from, to }];
};

const tokensOf = (pointer: string): string[] =>
  pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));

const setAt = (root: unknown, pointer: string, value: unknown): void => {
  const tokens = tokensOf(pointer);
  const last = tokens.pop();
  if (last === undefined) return;
  let node = root as Record<string, unknown>;
  for (const token of tokens) node = node[token] as Record<string, unknown>;
  node[last] = value;
};

/** The model's input with recorded coercions applied (a copy): what was validated, before schema defaults. */
export const applyCoercions = (input: unknown, coercions: readonly Coercion[]): unknown => {
  const copy: unknown = structuredClone(input ?? {});
  for (const c of coercions) setAt(copy, c.pointer, c.to);
  return copy;
};

/** The safe coercions Ajv's coercing validator proposes for this input (the input is not changed). */
const safeCoercions = (tool: ToolDefinition, input: unknown): Coercion[] => {
  const coerced: unknown = structuredClone(input);
  compileCoercingToolSchema(tool.inputSchema)(coerced);
  return differences(input, coerced).filter((c) => c.pointer !== '' && isSafeCoercion(c.from, c.to));
};

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

const valueAt = (root: unknown, pointer: string): unknown =>
  tokensOf(pointer).reduce<unknown>(
    (node, token) => (node !== null && typeof node === 'object' ? (node as never)[token] : undefined),
    root,
  );

/** One schema error as `<JSON pointer>: <what the schema expected>`. */
const formatError = (error: ErrorObject, input: unknown): string => {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${at}/${escapePointer(String(params.additionalProperty))}: unknown parameter`;
    case 'required':
      return `${at}/${escapePointer(String(params.missingProperty))}: missing required parameter`;
    case 'type':
      return `${at || '/'}: expected ${String(params.type)}, got ${describe(valueAt(input, at))}`;
    case 'enum':
      return `${at}: expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${at}: expected a number ${String(params.comparison)} ${String(params.limit)}`;
    default:
      return `${at || '/'}: ${error.message ?? error.keyword}`;
  }
};

/**
 * Validates the model's input for a tool: applies the safe coercions, fills schema defaults (into a copy: the
 * model's input is never changed) and names each remaining problem by its JSON pointer.
 */
export const validateToolInput = (tool: ToolDefinition, input: unknown): ValidationResult => {
  const original: unknown = input ?? {};
  const coercions = isRecord(original) ? safeCoercions(tool, original) : [];
  const copy = applyCoercions(original, coercions);
  const validate = compileToolSchema(tool.inputSchema);
  if (validate(copy)) return { ok: true, input: copy as Record<string, unknown>, coercions };
  return { ok: false, errors: (validate.errors ?? []).map((e) => formatError(e, copy)), coercions };
};
