/**
 * The action groups' tool schemas: one OpenAPI document per group, read by the billing action group and the agent's
 * tools alike (here, not in a function folder). The validator that compiles them is `./validator` (Plan needs the
 * documents, not Ajv).
 */
import { type ActionGroupOperation, readActionGroupOperations } from '../action-group';
import billingOpenApi from './billing.openapi.json';

/** The billing action group's operations: the tools the model is offered and the functions its Lambda runs. */
export const billingOperations: readonly ActionGroupOperation[] = readActionGroupOperations(billingOpenApi);
