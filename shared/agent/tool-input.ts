/** Checks the model's parameters for a tool against the tool's OpenAPI schema, with schema defaults filled in. */
import type { ErrorObject } from 'ajv';
import { compileToolSchema } from '../contracts/tool-schemas/validator';
import type { ToolDefinition } from './tools';

const formatError = (error: ErrorObject): string => {
  const where = error.instancePath === '' ? 'input' : error.instancePath.slice(1).replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown parameter "${String(error.params.additionalProperty)}"`;
  }
  if (error.keyword === 'required')
    return `${where}: missing required parameter "${String(error.params.missingProperty)}"`;
  return `${where}: ${error.message ?? error.keyword}`;
};

export type ValidationResult = { ok: true; input: Record<string, unknown> } | { ok: false; errors: string[] };

/** Validates (and fills schema defaults into a copy of) the model's input for a tool. */
export const validateToolInput = (tool: ToolDefinition, input: unknown): ValidationResult => {
  const validate = compileToolSchema(tool.inputSchema);
  const copy: unknown = structuredClone(input ?? {});
  if (validate(copy)) return { ok: true, input: copy as Record<string, unknown> };
  return { ok: false, errors: (validate.errors ?? []).map(formatError) };
};
