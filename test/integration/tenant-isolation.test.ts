/**
 * The tenant-isolation contract every action group passes, on the local stack. The groups and their operations come
 * from the tool registry (shared/agent/tools.ts) and their functions from serverless.yml, so a group or operation
 * added later is held to the contract without editing this file. For each operation:
 * - it names its tenant with a required `tenant_id` string parameter (the parameter RunTool checks);
 * - through RunTool (a goal of acme whose model asks for it with `tenant_id` of another tenant), the call is refused
 *   before any invocation, recorded `cross_tenant`, and logged as a `cross_tenant_call` security event;
 * - its function, invoked directly with a session tenant other than `tenant_id`, refuses (a FAILURE or REPROMPT
 *   response, or a function error), while the same input with the matching tenant is answered.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { ModelScript } from '../../local/bedrock/script';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { agentNames, getProfile } from '../../shared/agent/profiles';
import { TENANT_PARAMETER } from '../../shared/agent/tool-guards';
import { isAllowed } from '../../shared/agent/tool-policy';
import {
  actionGroupFunctions,
  actionGroupNames,
  getActionGroup,
  type ToolDefinition,
} from '../../shared/agent/tools';
import {
  actionGroupResponseSchema,
  buildActionGroupEvent,
  toActionGroupParameters,
} from '../../shared/contracts/action-group';
import { goalEvent, reportsOf, startTestStack } from './helpers';

jest.setTimeout(180_000);

const SESSION_TENANT = 'acme';
const OTHER_TENANT = 'initech';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

type JsonSchema = {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  minLength?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

/** The smallest value a JSON Schema accepts (required properties only), so a call passes schema validation. */
const sample = (schema: JsonSchema): unknown => {
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'string':
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return Math.max(1, schema.minimum ?? 1);
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => sample(schema.items ?? {}));
    default:
      return Object.fromEntries(
        (schema.required ?? []).map((k) => [k, sample(schema.properties?.[k] ?? {})]),
      );
  }
};

const inputFor = (tool: ToolDefinition, tenantId: string): Record<string, unknown> => ({
  ...(sample(tool.inputSchema as JsonSchema) as Record<string, unknown>),
  [TENANT_PARAMETER]: tenantId,
});

const groups = actionGroupNames().map((name) => getActionGroup(name));
const operations = groups.flatMap((group) =>
  group.tools.map((tool) => [group.name, tool.name, tool] as const),
);

/** Each group's function name, read from RunTool's environment in serverless.yml the way RunTool reads it. */
const functionsOf = (stack: LocalStack) => {
  const env = Object.fromEntries(
    Object.entries(stack.config.functions.runTool?.environment ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  return actionGroupFunctions(env);
};

const lambdaOf = (stack: LocalStack) =>
  new LambdaClient({
    endpoint: stack.env.AWS_ENDPOINT_URL_LAMBDA,
    region: stack.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

const invokeDirectly = async (
  tool: ToolDefinition,
  functionName: string,
  tenants: { session: string; input: string },
  id: string,
) => {
  const event = buildActionGroupEvent({
    agent: { name: 'contract-test', id: 'contract-test', alias: 'contract-test', version: '1' },
    sessionId: `tenant-isolation-${id}`,
    actionGroup: tool.actionGroup,
    function: tool.name,
    parameters: toActionGroupParameters(inputFor(tool, tenants.input), tool.inputSchema),
    tenantId: tenants.session,
    idempotencyKey: `tenant-isolation-${id}`,
  });
  const out = await lambdaOf(stack).send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(event)) }),
  );
  const payload: unknown = JSON.parse(
    Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8') || 'null',
  );
  if (out.FunctionError) return { refused: true, functionError: out.FunctionError };
  const response = actionGroupResponseSchema.parse(payload).response.functionResponse;
  return { refused: response.responseState !== undefined, body: response.responseBody.TEXT.body };
};

describe('the tenant-isolation contract', () => {
  it('covers every action group serverless.yml deploys, and every one is in the tool registry', () => {
    const deployed = Object.keys(stack.config.functions).filter((key) => key.endsWith('ActionGroup'));
    expect(deployed.sort()).toEqual(
      actionGroupNames()
        .map((name) => `${name}ActionGroup`)
        .sort(),
    );
    expect(operations.length).toBeGreaterThan(0);
  });

  it.each(operations)('%s.%s names its tenant with a required tenant_id string', (_group, _name, tool) => {
    const schema = tool.inputSchema as JsonSchema;
    expect(schema.required).toContain(TENANT_PARAMETER);
    expect(schema.properties?.[TENANT_PARAMETER]?.type).toBe('string');
  });

  it.each(operations)(
    '%s.%s invoked directly with a mismatched tenant refuses; with the session tenant it answers',
    async (_group, name, tool) => {
      const functionName = functionsOf(stack)[tool.actionGroup] as string;

      const mismatched = await invokeDirectly(
        tool,
        functionName,
        { session: SESSION_TENANT, input: OTHER_TENANT },
        `${name}-mismatch`,
      );
      const matched = await invokeDirectly(
        tool,
        functionName,
        { session: SESSION_TENANT, input: SESSION_TENANT },
        `${name}-match`,
      );

      expect(mismatched.refused).toBe(true);
      expect(matched).toMatchObject({ refused: false });
    },
  );

  it.each(groups.map((g) => [g.name, g] as const))(
    'through RunTool, every operation of %s asked for another tenant is refused before invocation and logged',
    async (groupName, group) => {
      // Prepare: an agent that uses the group asks for each of its operations with another tenant's id
      const agent = agentNames().find((a) => getProfile(a).actionGroups.includes(groupName));
      if (agent === undefined) return; // no agent can call it through RunTool: only the direct half applies
      const perTurn = getProfile(agent).limits.maxToolCallsPerTurn;
      // The operations the agent may call (tools.allow); the rest (e.g. a fallback-only replica) never reach the
      // tenant check through RunTool (refused not_allowed first) and are covered by the direct half above.
      const calls = group.tools
        .filter((tool) => isAllowed(getProfile(agent), tool.name))
        .map((tool) => ({
          name: tool.name,
          input: { [TENANT_PARAMETER]: OTHER_TENANT },
        }));
      const turns: ModelScript['turns'] = [];
      for (let at = 0; at < calls.length; at += perTurn)
        turns.push({ toolUse: calls.slice(at, at + perTurn) });
      // then one call for its own tenant: the session carries on after the refusals
      const own = group.tools.find((tool) => tool.fallbackOnly !== true) as ToolDefinition;
      turns.push({ toolUse: [{ name: own.name, input: inputFor(own, SESSION_TENANT) as never }] });
      turns.push({ text: 'Nothing could be done for that tenant.' });

      // Act
      const summary = await runGoal({ stack, event: goalEvent({ agent }), modelScript: { turns } });

      // Assess
      const sessionId = summary.sessionId as string;
      const session = await localClients(stack.env).store.requireSession(SESSION_TENANT, sessionId);
      expect([summary.status, session.stopReason]).toEqual(['completed', 'completed']);
      const recorded = (await localClients(stack.env).store.loadConversation(SESSION_TENANT, sessionId))
        .toolCalls;
      expect(recorded.map((c) => [c.name, c.status, c.errorKind, c.invocations])).toEqual([
        ...calls.map((c) => [c.name, 'failed', 'cross_tenant', 0]),
        [own.name, 'succeeded', undefined, 1],
      ]);
      const events = readFileSync(join(stack.dataDir, 'logs', 'runTool.log'), 'utf8')
        .split('\n')
        .filter((line) => line.includes('"Security event"') && line.includes(sessionId))
        .map((line) => (JSON.parse(line) as { securityEvent: Record<string, unknown> }).securityEvent);
      // RunTool's branches run in parallel: the log's order is theirs
      expect(events.map((e) => `${e.type} ${e.function} ${e.requestedTenant}`).sort()).toEqual(
        calls.map((c) => `cross_tenant_call ${c.name} ${OTHER_TENANT}`).sort(),
      );
      expect((await reportsOf(stack, OTHER_TENANT)).filter((r) => r.sessionId === sessionId)).toEqual([]);
    },
  );
});
