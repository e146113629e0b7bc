/** Bedrock action-group contract: event and response schemas, parameter (de)serialization, OpenAPI reading. */
import auditEvent from '../../events/action-group-billing-audit.json';
import reportEvent from '../../events/action-group-billing-report.json';
import {
  ActionGroupContractError,
  actionGroupResponseSchema,
  buildActionGroupEvent,
  buildActionGroupResponse,
  fromActionGroupParameters,
  InvalidActionGroupEventError,
  InvalidActionGroupParameterError,
  InvalidActionGroupResponseError,
  parseActionGroupEvent,
  parseActionGroupResponse,
  readActionGroupOperations,
  readActionGroupResponse,
  toActionGroupParameters,
} from '../../shared/contracts/action-group';
import openapi from '../../shared/contracts/tool-schemas/billing.openapi.json';

const operations = readActionGroupOperations(openapi);
const schemaOf = (name: string) => {
  const operation = operations.find((candidate) => candidate.name === name);
  if (!operation) throw new Error(`no operation ${name}`);
  return operation.inputSchema;
};

describe('action-group event', () => {
  it('parses the sample events, with every parameter value a string', () => {
    // Act
    const audit = parseActionGroupEvent(auditEvent);
    const report = parseActionGroupEvent(reportEvent);

    // Assess
    expect(audit.function).toBe('audit_billing_logs');
    expect(audit.sessionAttributes).toEqual({ tenantId: 'acme', idempotencyKey: 'sess-acme-0001#0001#00' });
    expect(report.parameters.map((parameter) => parameter.type)).toEqual(['string', 'string', 'array']);
  });

  it('fills defaults when Bedrock leaves out parameters and attributes', () => {
    // Prepare
    const { parameters: _p, sessionAttributes: _s, promptSessionAttributes: _ps, ...bare } = auditEvent;

    // Act
    const event = parseActionGroupEvent(bare);

    // Assess
    expect(event.parameters).toEqual([]);
    expect(event.sessionAttributes).toEqual({});
    expect(event.promptSessionAttributes).toEqual({});
  });

  it('rejects a non-event with a message naming the bad fields', () => {
    // Prepare
    const bad = {
      ...auditEvent,
      messageVersion: '2.0',
      parameters: [{ name: 'tenant_id', type: 'string', value: 7 }],
    };

    // Act
    const act = () => parseActionGroupEvent(bad);

    // Assess
    expect(act).toThrow(InvalidActionGroupEventError);
    expect(act).toThrow(/messageVersion/);
    expect(act).toThrow(/parameters/);
    expect(() => parseActionGroupEvent({ detail: {} })).toThrow(/function/);
  });

  it('builds the caller event with the session tenant and idempotency key as session attributes', () => {
    // Act
    const event = buildActionGroupEvent({
      agent: auditEvent.agent,
      sessionId: 's-1',
      actionGroup: 'billing',
      function: 'audit_billing_logs',
      parameters: toActionGroupParameters({ tenant_id: 'globex' }, schemaOf('audit_billing_logs')),
      tenantId: 'globex',
      idempotencyKey: 's-1#0002#01',
    });

    // Assess
    expect(parseActionGroupEvent(event)).toEqual(event);
    expect(event.sessionAttributes).toEqual({ tenantId: 'globex', idempotencyKey: 's-1#0002#01' });
  });
});

describe('parameter serialization', () => {
  it('turns typed input into string parameters in schema order, arrays as JSON', () => {
    // Act
    const parameters = toActionGroupParameters(
      { findings: ['a "quoted" finding', 'second'], title: 'T', tenant_id: 'acme' },
      schemaOf('create_optimization_report'),
    );

    // Assess
    expect(parameters).toEqual([
      { name: 'tenant_id', type: 'string', value: 'acme' },
      { name: 'title', type: 'string', value: 'T' },
      { name: 'findings', type: 'array', value: '["a \\"quoted\\" finding","second"]' },
    ]);
  });

  it('round-trips every supported type', () => {
    // Prepare
    const schema = {
      properties: {
        s: { type: 'string' },
        n: { type: 'number' },
        i: { type: 'integer' },
        b: { type: 'boolean' },
        a: { type: 'array' },
      },
    };
    const input = { s: '007', n: -1.25, i: 42, b: false, a: [1, 'two', { three: 3 }] };

    // Act
    const parameters = toActionGroupParameters(input, schema);
    const back = fromActionGroupParameters(parameters, schema);

    // Assess
    expect(parameters.every((parameter) => typeof parameter.value === 'string')).toBe(true);
    expect(back).toEqual(input);
  });

  it('parses the sample report event back to typed values', () => {
    // Act
    const values = fromActionGroupParameters(
      parseActionGroupEvent(reportEvent).parameters,
      schemaOf('create_optimization_report'),
    );

    // Assess
    expect(values.tenant_id).toBe('acme');
    expect(values.findings).toHaveLength(3);
    expect((values.findings as string[])[0]).toMatch(/batch-legacy/);
  });

  it('parses by the declared type, not by what the value looks like', () => {
    // Prepare
    const schema = schemaOf('list_underutilized_resources');

    // Act
    const values = fromActionGroupParameters(
      [
        { name: 'tenant_id', type: 'string', value: '12345' },
        { name: 'lookback_days', type: 'integer', value: ' 14 ' },
      ],
      schema,
    );

    // Assess
    expect(values).toEqual({ tenant_id: '12345', lookback_days: 14 });
  });

  it.each([
    ['lookback_days', 'integer', 'fourteen', /lookback_days" must be an integer/],
    ['lookback_days', 'integer', '14.5', /must be an integer/],
    ['lookback_days', 'integer', '', /must be an integer/],
  ] as const)('rejects %s (%s) given %j with a clear message', (name, type, value, message) => {
    // Act
    const act = () =>
      fromActionGroupParameters([{ name, type, value }], schemaOf('list_underutilized_resources'));

    // Assess
    expect(act).toThrow(InvalidActionGroupParameterError);
    expect(act).toThrow(message);
  });

  it('rejects unparsable numbers, booleans and arrays', () => {
    // Prepare
    const schema = { properties: { n: { type: 'number' }, b: { type: 'boolean' }, a: { type: 'array' } } };

    // Act & Assess
    expect(() => fromActionGroupParameters([{ name: 'n', type: 'number', value: '1e' }], schema)).toThrow(
      /"n" must be a number/,
    );
    expect(() => fromActionGroupParameters([{ name: 'b', type: 'boolean', value: 'yes' }], schema)).toThrow(
      /"b" must be true or false/,
    );
    expect(() => fromActionGroupParameters([{ name: 'a', type: 'array', value: '[a, b]' }], schema)).toThrow(
      /"a" must be a JSON array/,
    );
    expect(() => fromActionGroupParameters([{ name: 'a', type: 'array', value: '{"x":1}' }], schema)).toThrow(
      /"a" must be a JSON array/,
    );
    expect(fromActionGroupParameters([{ name: 'b', type: 'boolean', value: 'TRUE' }], schema)).toEqual({
      b: true,
    });
  });

  it('rejects unknown, repeated and mistyped parameters', () => {
    // Prepare
    const schema = schemaOf('audit_billing_logs');

    // Act & Assess
    expect(() =>
      fromActionGroupParameters([{ name: 'tenant', type: 'string', value: 'acme' }], schema),
    ).toThrow(/Unknown parameter "tenant"; declared parameters: tenant_id/);
    expect(() =>
      fromActionGroupParameters(
        [
          { name: 'tenant_id', type: 'string', value: 'acme' },
          { name: 'tenant_id', type: 'string', value: 'globex' },
        ],
        schema,
      ),
    ).toThrow(/more than once/);
    expect(() => toActionGroupParameters({ tenant_id: 7 }, schema)).toThrow(
      /"tenant_id" must be string, got 7/,
    );
    expect(() =>
      toActionGroupParameters(
        { tenant_id: 'acme', lookback_days: 2.5 },
        schemaOf('list_underutilized_resources'),
      ),
    ).toThrow(/must be integer/);
    expect(() => toActionGroupParameters({ extra: 1 }, schema)).toThrow(/Unknown parameter "extra"/);
  });

  it('refuses a schema type that Bedrock parameters cannot carry', () => {
    // Prepare
    const schema = { properties: { filter: { type: 'object' } } };

    // Act & Assess
    expect(() => toActionGroupParameters({ filter: {} }, schema)).toThrow(/must be one of string, number/);
  });
});

describe('action-group response', () => {
  it('puts the JSON body into TEXT.body and the state into responseState', () => {
    // Prepare
    const event = parseActionGroupEvent(auditEvent);

    // Act
    const ok = buildActionGroupResponse(event, { summary: 'fine', total: 1.5 });
    const failed = buildActionGroupResponse(event, { error: 'X', message: 'no' }, 'FAILURE');

    // Assess
    expect(ok).toEqual({
      messageVersion: '1.0',
      response: {
        actionGroup: 'billing',
        function: 'audit_billing_logs',
        functionResponse: { responseBody: { TEXT: { body: '{"summary":"fine","total":1.5}' } } },
      },
    });
    expect(actionGroupResponseSchema.parse(failed).response.functionResponse.responseState).toBe('FAILURE');
    expect(readActionGroupResponse(failed)).toEqual({
      state: 'FAILURE',
      body: { error: 'X', message: 'no' },
    });
  });

  it('reads free-text bodies as text and rejects malformed responses', () => {
    // Prepare
    const response = buildActionGroupResponse(parseActionGroupEvent(auditEvent), 'x');
    response.response.functionResponse.responseBody.TEXT.body = 'plain words';

    // Act & Assess
    expect(readActionGroupResponse(response).body).toBe('plain words');
    expect(() => parseActionGroupResponse({ messageVersion: '1.0', response: {} })).toThrow(
      InvalidActionGroupResponseError,
    );
  });
});

describe('readActionGroupOperations', () => {
  it('lists one tool per operation with its plain JSON Schema input', () => {
    // Assess
    expect(operations.map((operation) => operation.name)).toEqual([
      'audit_billing_logs',
      'audit_billing_logs_replica',
      'list_underutilized_resources',
      'get_contract_terms',
      'create_optimization_report',
    ]);
    expect(operations.every((operation) => operation.method === 'post')).toBe(true);
    expect(schemaOf('audit_billing_logs')).toMatchObject({ type: 'object', required: ['tenant_id'] });
  });

  it('refuses $ref in a request schema, bad tool names and non-3.0 documents', () => {
    // Prepare
    const withRef = structuredClone(openapi) as { paths: Record<string, { post: Record<string, unknown> }> };
    const post = withRef.paths['/audit-billing-logs']?.post;
    if (!post) throw new Error('fixture changed');
    post.requestBody = { content: { 'application/json': { schema: { $ref: '#/components/schemas/X' } } } };
    const badName = structuredClone(openapi) as typeof withRef;
    const badPost = badName.paths['/get-contract-terms']?.post;
    if (!badPost) throw new Error('fixture changed');
    badPost.operationId = 'get-contract-terms';

    // Act & Assess
    expect(() => readActionGroupOperations(withRef)).toThrow(
      /uses \/audit-billing-logs\/post\/requestBody\/\$ref/,
    );
    expect(() => readActionGroupOperations(badName)).toThrow(/valid Converse tool name/);
    expect(() => readActionGroupOperations({ ...openapi, openapi: '3.1.0' })).toThrow(
      ActionGroupContractError,
    );
  });
});
