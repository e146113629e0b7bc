/** Action-group registry: OpenAPI operations become Converse tools, and tool input is validated by their schemas. */

import { isSafeCoercion, validateToolInput } from '../../shared/agent/tool-input';
import {
  actionGroupFunctions,
  getActionGroup,
  offeredTools,
  type ToolDefinition,
  toolsForAgent,
  toolsFromOpenApi,
} from '../../shared/agent/tools';
import { ActionGroupContractError } from '../../shared/contracts/action-group';
import openapi from '../../shared/contracts/tool-schemas/billing.openapi.json';
import { ConfigError, ProfileError } from '../../shared/runtime/errors';

const CONVERSE_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const BILLING_TOOLS = [
  'audit_billing_logs',
  'audit_billing_logs_replica',
  'list_underutilized_resources',
  'get_contract_terms',
  'create_optimization_report',
];

const billingTool = (name: string): ToolDefinition => {
  const tool = toolsForAgent(['billing']).find((t) => t.name === name);
  if (!tool) throw new Error(`billing has no tool ${name}`);
  return tool;
};

describe('tools of the billing action group', () => {
  it('turns each OpenAPI operation into a tool named after its operationId', () => {
    // Act
    const tools = getActionGroup('billing').tools;

    // Assess
    expect(tools.map((t) => t.name)).toEqual(BILLING_TOOLS);
    for (const tool of tools) {
      expect(tool.name).toMatch(CONVERSE_TOOL_NAME);
      expect(tool.actionGroup).toBe('billing');
      expect(tool.description.length).toBeGreaterThan(20);
    }
  });

  it('uses the request-body schema of the OpenAPI document as the tool input schema', () => {
    // Prepare
    const expected =
      openapi.paths['/create-optimization-report'].post.requestBody.content['application/json'].schema;

    // Act
    const tool = billingTool('create_optimization_report');

    // Assess
    expect(tool.inputSchema).toEqual(expected);
    expect(tool.inputSchema).toMatchObject({ required: ['tenant_id', 'title', 'findings'] });
  });

  it("names the Lambda env variable of the group and reads every group's function name at once", () => {
    // Prepare
    const group = getActionGroup('billing');
    const env = { BILLING_ACTION_GROUP_FUNCTION: 'sovereign-agent-test-billingActionGroup' };

    // Act
    const functions = actionGroupFunctions(env);

    // Assess
    expect(group.functionEnv).toBe('BILLING_ACTION_GROUP_FUNCTION');
    expect(functions).toEqual({ billing: 'sovereign-agent-test-billingActionGroup' });
  });

  it('fails with the variable name when a group Lambda is not configured (at cold start, before any model call)', () => {
    // Act
    const act = () => actionGroupFunctions({});

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/BILLING_ACTION_GROUP_FUNCTION/);
  });
});

describe('registry lookups', () => {
  it('rejects an unknown action group, listing the known ones', () => {
    // Act
    const act = () => getActionGroup('payroll');

    // Assess
    expect(act).toThrow(ProfileError);
    expect(act).toThrow('Unknown action group "payroll"; known: billing');
  });

  it('refuses an agent whose action groups define the same tool twice', () => {
    // Act
    const act = () => toolsForAgent(['billing', 'billing']);

    // Assess
    expect(act).toThrow(ProfileError);
    expect(act).toThrow(/Tool name "audit_billing_logs" is defined by two action groups/);
  });
});

describe('toolsFromOpenApi', () => {
  const ping = (operation: Record<string, unknown> = {}) => ({
    operationId: 'ping',
    description: 'Answers pong.',
    requestBody: { content: { 'application/json': { schema: { type: 'object', properties: {} } } } },
    responses: { '200': { description: 'pong' } },
    ...operation,
  });
  const doc = (paths: Record<string, Record<string, unknown>>) => ({
    openapi: '3.0.0',
    info: { title: 'test', version: '1' },
    paths,
  });

  it('makes one tool per operation, tagged with its action group', () => {
    // Act
    const tools = toolsFromOpenApi('test', doc({ '/ping': { post: ping() } }));

    // Assess
    expect(tools).toEqual([
      {
        name: 'ping',
        actionGroup: 'test',
        description: 'Answers pong.',
        inputSchema: { type: 'object', properties: {} },
        sideEffect: false,
      },
    ]);
  });

  it('reads x-side-effect from the operation, and the billing report is the side-effecting tool', () => {
    // Act
    const tools = toolsFromOpenApi('test', doc({ '/ping': { post: { ...ping(), 'x-side-effect': true } } }));

    // Assess
    expect(tools[0]?.sideEffect).toBe(true);
    expect(billingTool('create_optimization_report').sideEffect).toBe(true);
    expect(billingTool('audit_billing_logs').sideEffect).toBe(false);
  });

  it('refuses an operationId the model could not call as a tool', () => {
    // Act
    const act = () =>
      toolsFromOpenApi('test', doc({ '/ping': { post: ping({ operationId: 'ping pong' }) } }));

    // Assess
    expect(act).toThrow(ActionGroupContractError);
    expect(act).toThrow(/operationId must be a valid Converse tool name/);
  });

  it('refuses two operations with the same operationId', () => {
    // Act
    const act = () =>
      toolsFromOpenApi('test', doc({ '/ping': { post: ping() }, '/ping2': { post: ping() } }));

    // Assess
    expect(act).toThrow('operationId ping is used more than once');
  });

  it('refuses a request schema with $ref (it must work as a Converse toolSpec as it is)', () => {
    // Prepare
    const schema = { type: 'object', properties: { tenant: { $ref: '#/components/schemas/Tenant' } } };

    // Act
    const act = () =>
      toolsFromOpenApi(
        'test',
        doc({ '/ping': { post: ping({ requestBody: { content: { 'application/json': { schema } } } }) } }),
      );

    // Assess
    expect(act).toThrow(/Request schema of ping uses .*\$ref/);
  });
});

describe('validateToolInput', () => {
  it('accepts valid input and fills schema defaults into a copy', () => {
    // Prepare
    const input = { tenant_id: 'acme' };

    // Act
    const result = validateToolInput(billingTool('list_underutilized_resources'), input);

    // Assess
    expect(result).toEqual({ ok: true, input: { tenant_id: 'acme', lookback_days: 30 }, coercions: [] });
    expect(input).toEqual({ tenant_id: 'acme' });
  });

  it('names a missing required parameter by its JSON pointer', () => {
    // Act
    const result = validateToolInput(billingTool('audit_billing_logs'), {});

    // Assess
    expect(result).toEqual({ ok: false, errors: ['/tenant_id: missing required parameter'], coercions: [] });
  });

  it('treats no input at all as an empty object', () => {
    // Act
    const result = validateToolInput(billingTool('audit_billing_logs'), undefined);

    // Assess
    expect(result).toMatchObject({ ok: false, errors: ['/tenant_id: missing required parameter'] });
  });

  it('names a parameter the tool does not have', () => {
    // Act
    const result = validateToolInput(billingTool('get_contract_terms'), { tenant_id: 'acme', contract: 'x' });

    // Assess
    expect(result).toMatchObject({ ok: false, errors: ['/contract: unknown parameter'] });
  });

  it('reports every problem at once, with the JSON pointer of nested values', () => {
    // Act
    const result = validateToolInput(billingTool('create_optimization_report'), {
      tenant_id: 'acme',
      title: '',
      findings: ['Idle batch server.', ''],
    });

    // Assess
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      '/title: must NOT have fewer than 1 characters',
      '/findings/1: must NOT have fewer than 1 characters',
    ]);
  });

  it('coerces a numeric string where the schema says integer, and records the coercion', () => {
    // Prepare
    const input = { tenant_id: 'acme', lookback_days: '30' };

    // Act
    const result = validateToolInput(billingTool('list_underutilized_resources'), input);

    // Assess
    expect(result).toEqual({
      ok: true,
      input: { tenant_id: 'acme', lookback_days: 30 },
      coercions: [{ pointer: '/lookback_days', from: '30', to: 30 }],
    });
    expect(input.lookback_days).toBe('30');
  });

  it('wraps a single value where the schema says array', () => {
    // Act
    const result = validateToolInput(billingTool('create_optimization_report'), {
      tenant_id: 'acme',
      title: 'Savings',
      findings: 'Idle batch server.',
    });

    // Assess
    expect(result).toMatchObject({
      ok: true,
      input: { findings: ['Idle batch server.'] },
      coercions: [{ pointer: '/findings', from: 'Idle batch server.', to: ['Idle batch server.'] }],
    });
  });

  it('refuses the coercions Ajv would also make that guess: null, booleans and non-numeric strings', () => {
    // Act
    const results = [null, true, 'thirty', '', 30.5].map((lookback_days) =>
      validateToolInput(billingTool('list_underutilized_resources'), { tenant_id: 'acme', lookback_days }),
    );
    const numberAsString = validateToolInput(billingTool('audit_billing_logs'), { tenant_id: 7 });

    // Assess
    expect(results.map((r) => (r.ok ? 'ok' : r.errors.join('; ')))).toEqual([
      '/lookback_days: expected integer, got null',
      '/lookback_days: expected integer, got a boolean',
      '/lookback_days: expected integer, got a string',
      '/lookback_days: expected integer, got a string',
      '/lookback_days: expected integer, got a number',
    ]);
    expect(results.every((r) => r.coercions.length === 0)).toBe(true);
    expect(numberAsString).toMatchObject({
      ok: false,
      errors: ['/tenant_id: expected string, got a number'],
    });
  });

  it('enforces numeric bounds and says what range the schema expects', () => {
    // Act
    const result = validateToolInput(billingTool('list_underutilized_resources'), {
      tenant_id: 'acme',
      lookback_days: 400,
    });

    // Assess
    expect(result).toMatchObject({ ok: false, errors: ['/lookback_days: expected a number <= 365'] });
  });
});

describe('validateToolInput on a schema with booleans and arrays of numbers', () => {
  const tool = {
    name: 'probe',
    actionGroup: 'test',
    description: 'A probe.',
    sideEffect: false,
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dry_run: { type: 'boolean' },
        days: { type: 'array', items: { type: 'integer' } },
        label: { type: 'string' },
      },
    },
  };

  it('coerces "true" and a single numeric string into a one-item array of numbers', () => {
    // Act
    const result = validateToolInput(tool, { dry_run: 'true', days: '7' });

    // Assess
    expect(result).toEqual({
      ok: true,
      input: { dry_run: true, days: [7] },
      coercions: [
        { pointer: '/dry_run', from: 'true', to: true },
        { pointer: '/days', from: '7', to: [7] },
      ],
    });
  });

  it('refuses 1 for a boolean, a one-item array for a string, and keeps the safe coercions it found', () => {
    // Act
    const result = validateToolInput(tool, { dry_run: 1, label: ['x'], days: ['3'] });

    // Assess
    expect(result).toEqual({
      ok: false,
      errors: ['/dry_run: expected boolean, got a number', '/label: expected string, got an array'],
      coercions: [{ pointer: '/days/0', from: '3', to: 3 }],
    });
  });
});

describe('isSafeCoercion', () => {
  it('allows numeric strings, boolean words and one-item arrays only', () => {
    // Act + Assess
    expect(isSafeCoercion('30', 30)).toBe(true);
    expect(isSafeCoercion('false', false)).toBe(true);
    expect(isSafeCoercion('a', ['a'])).toBe(true);
    expect(isSafeCoercion('3', [3])).toBe(true);
    expect(isSafeCoercion(null, 0)).toBe(false);
    expect(isSafeCoercion(true, 1)).toBe(false);
    expect(isSafeCoercion(1, true)).toBe(false);
    expect(isSafeCoercion(3, '3')).toBe(false);
    expect(isSafeCoercion(['a'], 'a')).toBe(false);
    expect(isSafeCoercion('', 0)).toBe(false);
  });
});

describe('breaker settings and fallbacks from the OpenAPI operations', () => {
  const documentWith = (extensions: Record<string, Record<string, unknown>>) => {
    const paths: Record<string, unknown> = {};
    for (const name of ['primary', 'replica']) {
      paths[`/${name}`] = {
        post: {
          operationId: name,
          description: `${name} tool`,
          requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {},
          ...extensions[name],
        },
      };
    }
    return { openapi: '3.0.3', info: { title: 'g', version: '1' }, paths };
  };

  it('gives audit_billing_logs its read-only replica and get_contract_terms a static answer; the report has none', () => {
    // Act
    const tools = getActionGroup('billing').tools;
    const byName = (name: string) => tools.find((t) => t.name === name);

    // Assess
    expect(byName('audit_billing_logs')?.fallback).toEqual({ tool: 'audit_billing_logs_replica' });
    expect(byName('get_contract_terms')?.fallback).toMatchObject({ static: expect.any(String) });
    expect(byName('create_optimization_report')?.fallback).toBeUndefined();
    expect(byName('audit_billing_logs_replica')?.fallbackOnly).toBe(true);
    expect(offeredTools(tools).map((t) => t.name)).not.toContain('audit_billing_logs_replica');
  });

  it('reads x-circuit-breaker and x-fallback onto the tool', () => {
    // Act
    const tools = toolsFromOpenApi(
      'g',
      documentWith({
        primary: {
          'x-circuit-breaker': { minCalls: 3, failureRate: 0.5, windowSeconds: 60, cooldownSeconds: 2 },
          'x-fallback': { tool: 'replica' },
        },
        replica: { 'x-fallback': { static: 'try later' }, 'x-fallback-only': true },
      }),
    );

    // Assess
    expect(tools[0]).toMatchObject({
      breaker: { minCalls: 3, failureRate: 0.5, windowSeconds: 60, cooldownSeconds: 2 },
      fallback: { tool: 'replica' },
    });
    expect(tools[1]).toMatchObject({ fallback: { static: 'try later' }, fallbackOnly: true });
  });

  it.each([
    ['an unknown setting', { primary: { 'x-circuit-breaker': { threshold: 3 } } }, /x-circuit-breaker/],
    ['a failure rate above 1', { primary: { 'x-circuit-breaker': { failureRate: 2 } } }, /failureRate/],
    ['a fallback to a missing tool', { primary: { 'x-fallback': { tool: 'nope' } } }, /names nope/],
    ['a fallback to itself', { primary: { 'x-fallback': { tool: 'primary' } } }, /names primary/],
    [
      'a chain of tool fallbacks',
      { primary: { 'x-fallback': { tool: 'replica' } }, replica: { 'x-fallback': { tool: 'primary' } } },
      /fallback itself/,
    ],
    ['two kinds at once', { primary: { 'x-fallback': { tool: 'replica', static: 'x' } } }, /x-fallback/],
  ])('refuses %s', (_what, extensions, message) => {
    // Act
    const act = () => toolsFromOpenApi('g', documentWith(extensions));

    // Assess
    expect(act).toThrow(ActionGroupContractError);
    expect(act).toThrow(message);
  });
});
