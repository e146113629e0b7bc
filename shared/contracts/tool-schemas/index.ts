/**
 * The action groups' tool schemas (one OpenAPI document per group) and the one Ajv setup that compiles them.
 * Here, not in a function folder, so the billing action group and the agent's tools read the same document.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { type ActionGroupOperation, readActionGroupOperations } from '../action-group';
import billingOpenApi from './billing.openapi.json';

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

/** The billing action group's operations: the tools the model is offered and the functions its Lambda runs. */
export const billingOperations: readonly ActionGroupOperation[] = readActionGroupOperations(billingOpenApi);
