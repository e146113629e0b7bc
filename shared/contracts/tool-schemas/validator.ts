/** The Ajv setups that compile the action groups' tool schemas (RunTool and the action groups; never Plan). */
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

// Defaults fill optional parameters (lookback_days); strict mode refuses a keyword Ajv does not know when the
// schema is compiled, so a typo in an OpenAPI document fails at cold start rather than letting input through.
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: true });
addFormats(ajv);

// A second instance with Ajv's own coercion ("array": scalar types and scalar <-> one-item array). RunTool only
// proposes coercions with it: tool-input keeps the safe ones and re-validates with the strict instance above.
// No defaults here, so the difference between input and coerced copy is exactly the coercions.
const coercingAjv = new Ajv({ allErrors: true, useDefaults: false, coerceTypes: 'array', strict: true });
addFormats(coercingAjv);

/** Compiles a tool's input schema. Ajv caches by schema object, so each operation is compiled once per process. */
export const compileToolSchema = <T = unknown>(schema: Record<string, unknown>): ValidateFunction<T> =>
  ajv.compile<T>(schema);

/** Compiles a tool's input schema with Ajv's type coercion on (`coerceTypes: "array"`): it edits its input. */
export const compileCoercingToolSchema = (schema: Record<string, unknown>): ValidateFunction =>
  coercingAjv.compile(schema);

/** Ajv's own one-line text of a validator's errors, with the data named `dataVar`. */
export const schemaErrorsText = (validate: ValidateFunction, dataVar: string): string =>
  ajv.errorsText(validate.errors, { dataVar });
