/** The billing action group: checks a tool call against its OpenAPI schema (shared/contracts/tool-schemas/billing.openapi.json) and the session's tenant, then runs it. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import {
  type ActionGroupEvent,
  type ActionGroupOperation,
  type ActionGroupResponse,
  buildActionGroupResponse,
  fromActionGroupParameters,
  IDEMPOTENCY_KEY_ATTRIBUTE,
  InvalidActionGroupParameterError,
  parseActionGroupEvent,
  TENANT_ID_ATTRIBUTE,
} from '../../../shared/contracts/action-group';
import { billingOperations } from '../../../shared/contracts/tool-schemas';
import { compileToolSchema, schemaErrorsText } from '../../../shared/contracts/tool-schemas/validator';
import { exceptionFields } from '../../../shared/observability/error-kind';
import { auditBillingLogs } from './audit';
import { getContractTerms } from './contract-terms';
import { loadTenantDataset, type TenantDataset } from './dataset';
import {
  BillingError,
  InvalidToolInputError,
  MissingIdempotencyKeyError,
  MissingSessionTenantError,
  TenantMismatchError,
  UnknownFunctionError,
} from './errors';
import { createOptimizationReport } from './report';
import { listUnderutilizedResources } from './utilization';

export interface BillingDeps {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  logger: Logger;
  now?: () => Date;
}

interface TenantInput {
  tenant_id: string;
}
interface LookbackInput extends TenantInput {
  lookback_days: number;
}
interface ReportInput extends TenantInput {
  title: string;
  findings: string[];
}

interface ToolContext {
  event: ActionGroupEvent;
  dataset: TenantDataset;
  deps: Required<BillingDeps>;
}

interface BoundTool {
  operation: ActionGroupOperation;
  call: (
    raw: Record<string, unknown>,
    sessionTenant: string,
    event: ActionGroupEvent,
    deps: Required<BillingDeps>,
  ) => unknown;
}

/** Binds a tool to its operation's JSON Schema: input validated (and typed) by ajv, tenant checked. */
function bind<I extends TenantInput>(
  name: string,
  run: (input: I, context: ToolContext) => unknown,
): BoundTool {
  const operation = billingOperations.find((candidate) => candidate.name === name);
  if (!operation) throw new Error(`billing.openapi.json has no operation ${name}`);
  const validate = compileToolSchema<I>(operation.inputSchema);
  const call: BoundTool['call'] = (raw, sessionTenant, event, deps) => {
    if (!validate(raw)) {
      throw new InvalidToolInputError(`Invalid input for ${name}: ${schemaErrorsText(validate, 'input')}`);
    }
    if (raw.tenant_id !== sessionTenant) {
      throw new TenantMismatchError(
        `${name} may only act for the session's tenant "${sessionTenant}"; tenant_id "${raw.tenant_id}" was given.`,
      );
    }
    return run(raw, { event, dataset: loadTenantDataset(sessionTenant), deps });
  };
  return { operation, call };
}

function sessionTenantOf(event: ActionGroupEvent): string {
  const tenantId = event.sessionAttributes[TENANT_ID_ATTRIBUTE];
  if (tenantId === undefined || tenantId.trim() === '') {
    throw new MissingSessionTenantError(
      `sessionAttributes.${TENANT_ID_ATTRIBUTE} is missing: billing tools only act for the session's tenant, which the caller must set.`,
    );
  }
  return tenantId;
}

const tools: Readonly<Record<string, BoundTool>> = {
  audit_billing_logs: bind<TenantInput>('audit_billing_logs', (_input, { dataset }) =>
    auditBillingLogs(dataset),
  ),
  // The read-only replica: the same audit of the same dataset, saying where it came from and as of when.
  audit_billing_logs_replica: bind<TenantInput>(
    'audit_billing_logs_replica',
    (_input, { dataset, deps }) => ({
      ...auditBillingLogs(dataset),
      source: 'replica',
      asOf: deps.now().toISOString(),
    }),
  ),
  list_underutilized_resources: bind<LookbackInput>('list_underutilized_resources', (input, { dataset }) =>
    listUnderutilizedResources(dataset, input.lookback_days),
  ),
  get_contract_terms: bind<TenantInput>('get_contract_terms', (_input, { dataset }) =>
    getContractTerms(dataset),
  ),
  create_optimization_report: bind<ReportInput>(
    'create_optimization_report',
    (input, { event, dataset, deps }) => {
      const idempotencyKey = event.sessionAttributes[IDEMPOTENCY_KEY_ATTRIBUTE];
      if (idempotencyKey === undefined || idempotencyKey.trim() === '') {
        throw new MissingIdempotencyKeyError(
          `create_optimization_report stores a report and needs sessionAttributes.${IDEMPOTENCY_KEY_ATTRIBUTE}, stable per tool call.`,
        );
      }
      return createOptimizationReport(deps, {
        dataset,
        sessionId: event.sessionId,
        idempotencyKey,
        title: input.title,
        findings: input.findings,
      });
    },
  ),
};

// An operation without a tool would be offered to the model and then fail: refuse to start instead.
// (bind() already refuses a tool without an operation.)
const unimplemented = billingOperations.filter((operation) => !Object.hasOwn(tools, operation.name));
if (unimplemented.length > 0) {
  throw new Error(
    `billing.openapi.json operations without a billing tool: ${unimplemented.map((o) => o.name).join(', ')}`,
  );
}

/** Runs one tool call; domain errors come back as FAILURE/REPROMPT responses, others throw. */
export async function invokeBillingTool(
  event: ActionGroupEvent,
  deps: Required<BillingDeps>,
): Promise<ActionGroupResponse> {
  try {
    const tool = Object.hasOwn(tools, event.function) ? tools[event.function] : undefined;
    if (!tool) {
      throw new UnknownFunctionError(
        `Unknown function "${event.function}" in action group ${event.actionGroup}; known functions: ${Object.keys(tools).join(', ')}`,
      );
    }
    // The caller's contract first: without the session tenant nothing may run, whatever the input.
    const sessionTenant = sessionTenantOf(event);
    let raw: Record<string, unknown>;
    try {
      raw = fromActionGroupParameters(event.parameters, tool.operation.inputSchema);
    } catch (error) {
      if (error instanceof InvalidActionGroupParameterError) {
        throw new InvalidToolInputError(`Invalid input for ${event.function}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    return buildActionGroupResponse(event, await tool.call(raw, sessionTenant, event, deps));
  } catch (error) {
    if (error instanceof BillingError && error.responseState !== undefined) {
      return buildActionGroupResponse(
        event,
        { error: error.name, message: error.message },
        error.responseState,
      );
    }
    throw error;
  }
}

/** The Lambda handler over injected dependencies; handler.ts wires the real ones. */
export function createBillingHandler(deps: BillingDeps) {
  const resolved: Required<BillingDeps> = { ...deps, now: deps.now ?? (() => new Date()) };
  const { logger } = resolved;
  return async (input: unknown, context?: Context): Promise<ActionGroupResponse> => {
    if (context) logger.addContext(context);
    let event: ActionGroupEvent;
    try {
      event = parseActionGroupEvent(input);
    } catch (error) {
      // Not an action-group event: a caller bug, thrown so that it surfaces as a function error.
      logger.error('Invalid action-group event', exceptionFields(error));
      throw error;
    }
    const started = performance.now();
    // Not a trace record (RunTool writes the one per call): no `trace`, and the handler's own time as handlerMs.
    const log = {
      function: event.function,
      tenantId: event.sessionAttributes[TENANT_ID_ATTRIBUTE],
      sessionId: event.sessionId,
    };
    try {
      const response = await invokeBillingTool(event, resolved);
      const state = response.response.functionResponse.responseState;
      const handlerMs = Math.round(performance.now() - started);
      if (state === undefined) {
        logger.info('Billing tool call succeeded', { ...log, handlerMs });
      } else {
        logger.warn('Billing tool call refused', {
          ...log,
          handlerMs,
          responseState: state,
          reason: response.response.functionResponse.responseBody.TEXT.body,
        });
      }
      return response;
    } catch (error) {
      logger.error('Billing tool call failed', {
        ...log,
        handlerMs: Math.round(performance.now() - started),
        ...exceptionFields(error),
      });
      throw error;
    }
  };
}
