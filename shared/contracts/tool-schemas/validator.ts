/** The one Ajv setup that compiles the action groups' tool schemas (RunTool and the action groups; never Plan). */
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

// Defaults fill optional parameters (lookback_days); strict mode refuses a keyword Ajv does not know when the
// schema is compiled, so a typo in an OpenAPI document fails at cold start rather than letting input through.
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: true });
addFormats(ajv);

/** Compiles a tool's input schema. Ajv caches by schema object, so each operation is compiled once per process. */
export const compileToolSchema = <T = unknown>(schema: Record<string, unknown>): ValidateFunction<T> =>
  ajv.compile<T>(schema);

/** Ajv's own one-line text of a validator's errors, with the data named `dataVar`. */
export const schemaErrorsText = (validate: ValidateFunction, dataVar: string): string =>
  ajv.errorsText(validate.errors, { dataVar });
