/** The RunTool step: schema and tool checks, action-group invocation with retries, and replay of finished calls. */
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import * as profiles from '../../shared/agent/profiles';
import { parseProfile } from '../../shared/agent/profiles';
import billingAuditor from '../../shared/agent/profiles/billing-auditor.json';
import { type ActionGroupEvent, buildActionGroupResponse } from '../../shared/contracts/action-group';
import * as securityEvents from '../../shared/observability/security-events';
import { ConfigError, SessionStateError, ToolCallInProgressError } from '../../shared/runtime/errors';
import { logger } from '../../shared/runtime/powertools';
import {
  leaseDurationMs,
  MAX_RESULT_PARTS,
  RESULT_PART_CHARS,
  type RunToolInput,
  runTool,
  splitResult,
  type ToolRunnerDeps,
} from '../../shared/steps/run-tool';
import type { ToolCallItem } from '../../shared/store/session-store';
import { keys } from '../../shared/store/table';
import { conditionFailed, credentials, mockedStore, REGION } from '../helpers/aws';
import {
  assistantToolUses,
  SESSION,
  sessionItem,
  TENANT,
  type ToolUseSpec,
  toolCallItem,
} from '../helpers/fixtures';

const FUNCTION_NAME = 'sovereign-agent-test-billingActionGroup';
const RETRY = { baseDelayMs: 1, maxDelayMs: 2, attempts: 3, timeoutMs: 500 };

const payload = (value: unknown): InvokeCommandOutput['Payload'] =>
  Buffer.from(
    typeof value === 'string' ? value : JSON.stringify(value),
  ) as unknown as InvokeCommandOutput['Payload'];

/** What a billing action-group Lambda answers for `fn`: a function-details response, optionally FAILURE/REPROMPT. */
const answer = (fn: string, body: unknown, state?: 'FAILURE' | 'REPROMPT') => ({
  StatusCode: 200,
  Payload: payload(buildActionGroupResponse({ actionGroup: 'billing', function: fn }, body, state)),
});

/** What Lambda answers when the handler threw (an unhandled function error). */
const functionError = (message: string) => ({
  StatusCode: 200,
  FunctionError: 'Unhandled',
  Payload: payload({ errorType: 'Error', errorMessage: message }),
});

const setup = (uses: ToolUseSpec[] = [{ toolUseId: 'tu-audit', name: 'audit_billing_logs' }]) => {
  const { ddb, store } = mockedStore();
  const lambdaClient = new LambdaClient({ region: REGION, credentials });
  const lambda = mockClient(lambdaClient);
  ddb.on(GetCommand, { Key: keys.session(TENANT, SESSION) }).resolves({ Item: sessionItem({ turn: 1 }) });
  ddb
    .on(GetCommand, { Key: keys.message(TENANT, SESSION, 1) })
    .resolves({ Item: assistantToolUses(1, uses) });
  ddb.on(PutCommand).resolves({});
  ddb.on(TransactWriteCommand).resolves({});
  let clock = 50_000;
  const deps: ToolRunnerDeps = {
    store,
    lambda: lambdaClient,
    retry: RETRY,
    functions: { billing: FUNCTION_NAME },
    now: () => (clock += 40),
  };
  return { ddb, lambda, deps };
};

const callOf = (toolUseId: string, name: string, index = 0): RunToolInput => ({
  tenantId: TENANT,
  sessionId: SESSION,
  turn: 1,
  call: { toolUseId, name, index },
});

const auditCall = callOf('tu-audit', 'audit_billing_logs');

/** The outcome runTool recorded on the tool-call item (the values of its conditional update). */
const recorded = (ddb: ReturnType<typeof setup>['ddb']): Record<string, unknown> => {
  const calls = ddb.commandCalls(TransactWriteCommand);
  expect(calls).toHaveLength(1);
  const update = calls[0]?.args[0].input.TransactItems?.[0]?.Update;
  expect(update?.Key).toEqual(keys.toolCall(TENANT, SESSION, 1, auditCall.call.index));
  return update?.ExpressionAttributeValues ?? {};
};

/** The action-group event of the n-th Lambda invocation. */
const invokedEvent = (lambda: ReturnType<typeof setup>['lambda'], n = 0): ActionGroupEvent => {
  const call = lambda.commandCalls(InvokeCommand)[n];
  if (!call) throw new Error(`no invocation #${n}`);
  return JSON.parse(
    Buffer.from(call.args[0].input.Payload as Uint8Array).toString('utf8'),
  ) as ActionGroupEvent;
};

describe('runTool: a successful call', () => {
  it('invokes the action-group Lambda once and records its answer as the result the model sees', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { totalUsd: 4210.5 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'succeeded', replayed: false });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: FUNCTION_NAME });
    expect(recorded(ddb)).toMatchObject({
      ':status': 'succeeded',
      ':result': '{"totalUsd":4210.5}',
      ':latency': 40,
    });
    expect(recorded(ddb)[':hash']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('sends the Bedrock action-group event with string parameters and the session tenant', async () => {
    // Prepare
    const { lambda, deps } = setup([
      {
        toolUseId: 'tu-report',
        name: 'create_optimization_report',
        input: { tenant_id: TENANT, title: 'Q4', findings: ['Idle VM.'] },
      },
    ]);
    lambda.on(InvokeCommand).resolves(answer('create_optimization_report', { reportId: 'r-1' }));

    // Act
    await runTool(deps, callOf('tu-report', 'create_optimization_report'));

    // Assess
    const event = invokedEvent(lambda);
    expect(event).toMatchObject({
      messageVersion: '1.0',
      actionGroup: 'billing',
      function: 'create_optimization_report',
      sessionId: SESSION,
      parameters: [
        { name: 'tenant_id', type: 'string', value: TENANT },
        { name: 'title', type: 'string', value: 'Q4' },
        { name: 'findings', type: 'array', value: '["Idle VM."]' },
      ],
      sessionAttributes: { tenantId: TENANT, idempotencyKey: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
  });

  it('refuses a call naming another tenant before invoking it, and logs a cross_tenant_call security event', async () => {
    // Prepare: the model asks for another tenant's data
    const { ddb, lambda, deps } = setup([
      { toolUseId: 'tu-audit', name: 'audit_billing_logs', input: { tenant_id: 'globex' } },
    ]);
    const events = jest.spyOn(securityEvents, 'logSecurityEvent').mockImplementation(() => undefined);

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'failed', replayed: false });
    expect(lambda).not.toHaveReceivedAnyCommand();
    expect(recorded(ddb)).toMatchObject({ ':status': 'failed', ':kind': 'cross_tenant' });
    expect(recorded(ddb)[':result']).toMatch(
      new RegExp(
        `may only act for this session's tenant "${TENANT}"; tenant_id "globex" names another tenant`,
      ),
    );
    expect(events).toHaveBeenCalledTimes(1);
    expect(events).toHaveBeenCalledWith('cross_tenant_call', {
      sessionId: SESSION,
      tenantId: TENANT,
      turn: 1,
      callId: 'tu-audit',
      actionGroup: 'billing',
      function: 'audit_billing_logs',
      requestedTenant: 'globex',
    });
    events.mockRestore();
  });

  it('fills schema defaults into the parameters sent', async () => {
    // Prepare
    const { lambda, deps } = setup([{ toolUseId: 'tu-idle', name: 'list_underutilized_resources' }]);
    lambda.on(InvokeCommand).resolves(answer('list_underutilized_resources', { resources: [] }));

    // Act
    await runTool(deps, callOf('tu-idle', 'list_underutilized_resources'));

    // Assess
    expect(invokedEvent(lambda).parameters).toEqual([
      { name: 'tenant_id', type: 'string', value: TENANT },
      { name: 'lookback_days', type: 'integer', value: '30' },
    ]);
  });

  it('claims the call with a key that is the same on every attempt and differs between calls', async () => {
    // Prepare
    const first = setup();
    const second = setup();
    const other = setup([{ toolUseId: 'tu-other', name: 'audit_billing_logs' }]);
    for (const s of [first, second, other])
      s.lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', {}));

    // Act
    await runTool(first.deps, auditCall);
    await runTool(second.deps, auditCall);
    await runTool(other.deps, callOf('tu-other', 'audit_billing_logs'));

    // Assess
    const claimed = (s: ReturnType<typeof setup>) =>
      s.ddb.commandCalls(PutCommand)[0]?.args[0].input.Item as ToolCallItem;
    expect(claimed(first)).toMatchObject({
      sk: 'C#0001#00',
      status: 'started',
      toolUseId: 'tu-audit',
      name: 'audit_billing_logs',
      actionGroup: 'billing',
      input: { tenant_id: TENANT },
    });
    expect(first.ddb).toHaveReceivedCommandWith(PutCommand, {
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(claimed(second).idempotencyKey).toBe(claimed(first).idempotencyKey);
    expect(claimed(other).idempotencyKey).not.toBe(claimed(first).idempotencyKey);
    expect(invokedEvent(first.lambda).sessionAttributes.idempotencyKey).toBe(claimed(first).idempotencyKey);
  });

  it('stores a very long result in parts and feeds the model the first part with a marker', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', 'x'.repeat(RESULT_PART_CHARS + 500)));

    // Act
    await runTool(deps, auditCall);

    // Assess: the JSON string adds two quotes
    const values = recorded(ddb);
    expect(String(values[':result'])).toBe(
      `"${'x'.repeat(RESULT_PART_CHARS - 1)}\n[result continues: ${RESULT_PART_CHARS} of ${RESULT_PART_CHARS + 502} characters shown; the full result is stored in 2 parts]`,
    );
    expect(values[':parts']).toBe(2);
    const items = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems ?? [];
    const parts = items.flatMap((i) => (i.Put ? [i.Put.Item as { sk: string; text: string }] : []));
    expect(parts.map((p) => p.sk)).toEqual(['R#0001#00#000', 'R#0001#00#001']);
    expect(parts.map((p) => p.text).join('')).toBe(`"${'x'.repeat(RESULT_PART_CHARS + 500)}"`);
  });
});

describe('splitResult', () => {
  it('keeps a short result as it is, with no parts', () => {
    // Act + Assess
    expect(splitResult('short')).toEqual({ shown: 'short' });
  });

  it('never cuts between the halves of a surrogate pair', () => {
    // Prepare: an emoji (two code units) straddling the part boundary
    const text = `${'a'.repeat(RESULT_PART_CHARS - 1)}😀${'b'.repeat(10)}`;

    // Act
    const { parts } = splitResult(text);

    // Assess
    expect(parts?.[0]).toBe('a'.repeat(RESULT_PART_CHARS - 1));
    expect(parts?.join('')).toBe(text);
  });

  it('says so when a result is too large to store in full', () => {
    // Act
    const { shown, parts } = splitResult('y'.repeat(RESULT_PART_CHARS * (MAX_RESULT_PARTS + 1)));

    // Assess
    expect(parts).toHaveLength(MAX_RESULT_PARTS);
    expect(shown).toMatch(
      /too large to store in full: its first 1000000 characters are stored in 50 parts\]$/,
    );
  });
});

describe('runTool: DynamoDB requests', () => {
  it('reads the agent from the message it reads anyway: three requests per call, no read of the session', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { totalUsd: 1 }));

    // Act
    await runTool(deps, auditCall);

    // Assess: the message, the claim, the outcome
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: keys.message(TENANT, SESSION, 1) });
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    expect(ddb.calls()).toHaveLength(3);
  });

  it("reads the session's agent for a message committed before messages named their agent", async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    const { agent: _agent, ...legacy } = assistantToolUses(1, [
      { toolUseId: 'tu-audit', name: 'audit_billing_logs' },
    ]);
    ddb.on(GetCommand, { Key: keys.message(TENANT, SESSION, 1) }).resolves({ Item: legacy });
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { totalUsd: 1 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('succeeded');
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: keys.session(TENANT, SESSION) });
  });
});

describe('runTool: calls that are not run', () => {
  it('feeds a schema violation back to the model without invoking the tool', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup([
      { toolUseId: 'tu-audit', name: 'audit_billing_logs', input: { tenant: TENANT } },
    ]);

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'failed', replayed: false });
    expect(lambda).not.toHaveReceivedAnyCommand();
    expect(recorded(ddb)).toMatchObject({
      ':status': 'failed',
      ':kind': 'schema',
      ':result':
        'Invalid parameters for audit_billing_logs: /tenant_id: missing required parameter; /tenant: unknown parameter. Fix them and call the tool again.',
    });
  });

  it('answers a call to an unknown tool with the list of available tools', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup([{ toolUseId: 'tu-audit', name: 'delete_all_resources' }]);

    // Act
    const result = await runTool(deps, callOf('tu-audit', 'delete_all_resources'));

    // Assess
    expect(result.status).toBe('failed');
    expect(lambda).not.toHaveReceivedAnyCommand();
    const values = recorded(ddb);
    expect(values[':kind']).toBe('unknown_tool');
    expect(values[':result']).toBe(
      'Unknown tool "delete_all_resources". Available tools: audit_billing_logs, list_underutilized_resources, get_contract_terms, create_optimization_report.',
    );
  });

  it('refuses a tool the allow-list does not name, before any invocation, and logs a security event', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup([{ toolUseId: 'tu-report', name: 'create_optimization_report' }]);
    const narrow = parseProfile(
      { ...billingAuditor, tools: { allow: ['audit_billing_logs', 'get_contract_terms'] } },
      'narrow.json',
    );
    const profileSpy = jest.spyOn(profiles, 'getProfile').mockReturnValue(narrow);
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);

    // Act
    const result = await runTool(deps, callOf('tu-report', 'create_optimization_report'));

    // Assess
    profileSpy.mockRestore();
    expect(result.status).toBe('failed');
    expect(lambda).not.toHaveReceivedAnyCommand();
    const values = recorded(ddb);
    expect(values[':kind']).toBe('not_allowed');
    expect(values[':result']).toBe(
      'Refused: create_optimization_report is not allowed for this agent. Allowed tools: audit_billing_logs, get_contract_terms.',
    );
    expect(warn).toHaveBeenCalledWith('Security event', {
      securityEvent: expect.objectContaining({
        type: 'tool_not_allowed',
        function: 'create_optimization_report',
        callId: 'tu-report',
        tenantId: TENANT,
        sessionId: SESSION,
      }),
    });
    warn.mockRestore();
  });

  it('refuses a call that needs approval when none was asked for, and one the table does not show approved', async () => {
    // Prepare
    const report = { tenant_id: 'acme', title: 'Savings', findings: ['Idle.'] };
    const { ddb, lambda, deps } = setup([
      { toolUseId: 'tu-report', name: 'create_optimization_report', input: report },
    ]);
    const profileSpy = jest
      .spyOn(profiles, 'getProfile')
      .mockReturnValue(profiles.getProfile('billing-auditor-approval'));
    const close = jest
      .fn()
      .mockResolvedValue({ status: 'denied', decidedBy: 'cli:bo', reason: 'not now', deadline: 0 });
    const approvals = { close } as unknown as NonNullable<ToolRunnerDeps['approvals']>;
    const call = callOf('tu-report', 'create_optimization_report');

    // Act
    const unasked = await runTool(deps, call);
    const forged = await runTool({ ...deps, approvals }, { ...call, approval: { decision: 'approved' } });

    // Assess
    profileSpy.mockRestore();
    expect([unasked.status, forged.status]).toEqual(['failed', 'failed']);
    expect(lambda).not.toHaveReceivedAnyCommand();
    // The decision is read from the table (closed once), not taken from the payload.
    expect(close).toHaveBeenCalledWith(TENANT, SESSION, 'tu-report', false);
    const outcomes = ddb.commandCalls(TransactWriteCommand).map((c) => {
      const values = c.args[0].input.TransactItems?.[0]?.Update?.ExpressionAttributeValues ?? {};
      return [values[':kind'], values[':result']];
    });
    expect(outcomes).toEqual([
      [
        'denied',
        "Refused: create_optimization_report needs a person's approval and none was asked for. It was not run.",
      ],
      [
        'denied',
        'Refused: cli:bo denied create_optimization_report: not now. It was not run; do not call it again in this session. Finish with what you have.',
      ],
    ]);
  });

  it('does not run calls beyond the per-turn limit (8 for billing-auditor)', async () => {
    // Prepare
    const uses = Array.from({ length: 9 }, (_, i) => ({ toolUseId: `tu-${i}`, name: 'audit_billing_logs' }));
    const { ddb, lambda, deps } = setup(uses);

    // Act
    const result = await runTool(deps, callOf('tu-8', 'audit_billing_logs', 8));

    // Assess
    expect(result.status).toBe('failed');
    expect(lambda).not.toHaveReceivedAnyCommand();
    const update = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Update;
    expect(update?.Key).toEqual(keys.toolCall(TENANT, SESSION, 1, 8));
    expect(update?.ExpressionAttributeValues?.[':result']).toMatch(/at most 8 tool calls per turn/);
    expect(update?.ExpressionAttributeValues?.[':kind']).toBe('limit');
  });

  it('refuses an input over MAX_TOOL_INPUT_BYTES before invoking, with its size and the limit', async () => {
    // Prepare: a report whose findings make the input 2,000+ bytes against a 1,000-byte limit
    const findings = Array.from({ length: 4 }, (_, i) => `Finding ${i}: ${'x'.repeat(500)}`);
    const { ddb, lambda, deps } = setup([
      {
        toolUseId: 'tu-audit',
        name: 'create_optimization_report',
        input: { tenant_id: TENANT, title: 'Q4', findings },
      },
    ]);
    const events = jest.spyOn(securityEvents, 'logSecurityEvent').mockImplementation(() => undefined);

    // Act
    await runTool(
      { ...deps, limits: { maxToolInputBytes: 1000, maxToolOutputBytes: 10_000 } },
      callOf('tu-audit', 'create_optimization_report'),
    );

    // Assess
    expect(lambda).not.toHaveReceivedAnyCommand();
    const values = recorded(ddb);
    expect(values[':kind']).toBe('limit');
    expect(values[':result']).toMatch(
      /^Not run: the input of create_optimization_report is \d+ bytes, over the limit of 1000 bytes/,
    );
    expect(events).toHaveBeenCalledWith(
      'input_limit',
      expect.objectContaining({ limit: 'maxToolInputBytes' }),
    );
    events.mockRestore();
  });

  it('cuts an answer over MAX_TOOL_OUTPUT_BYTES to the limit with a marker, and records it succeeded', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { rows: 'é'.repeat(600) }));
    const events = jest.spyOn(securityEvents, 'logSecurityEvent').mockImplementation(() => undefined);

    // Act
    const result = await runTool(
      { ...deps, limits: { maxToolInputBytes: 1000, maxToolOutputBytes: 101 } },
      auditCall,
    );

    // Assess: 101 bytes is 9 ASCII bytes and 46 two-byte characters: never half a character
    expect(result.status).toBe('succeeded');
    const shown = String(recorded(ddb)[':result']);
    const [kept] = shown.split('\n');
    expect(kept).toBe(`{"rows":"${'é'.repeat(46)}`);
    expect(shown).toMatch(/\[tool output truncated: 101 of 1211 bytes kept; the limit is 101 bytes\]$/);
    expect(events).toHaveBeenCalledWith(
      'input_limit',
      expect.objectContaining({ limit: 'maxToolOutputBytes', bytes: 1211 }),
    );
    events.mockRestore();
  });

  it('refuses a call the stored turn does not contain, and claims nothing', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();

    // Act
    const act = runTool(deps, callOf('tu-invented', 'audit_billing_logs'));

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow('Turn 1 of session acme-audit-0001 has no tool call tu-invented');
    expect(ddb).not.toHaveReceivedCommand(PutCommand);
    expect(lambda).not.toHaveReceivedAnyCommand();
  });
});

describe('runTool: tool failures and retries', () => {
  it('feeds a FAILURE response back to the model without retrying', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda
      .on(InvokeCommand)
      .resolves(answer('audit_billing_logs', { error: 'no billing data for acme' }, 'FAILURE'));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('failed');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(recorded(ddb)).toMatchObject({
      ':status': 'failed',
      ':kind': 'tool',
      ':result': '{"error":"no billing data for acme"}',
    });
  });

  it('treats a REPROMPT response as a failed result the model can act on', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', 'Which month?', 'REPROMPT'));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('failed');
    expect(recorded(ddb)).toMatchObject({ ':kind': 'tool', ':result': '"Which month?"' });
  });

  it('retries a crashing action group and records the answer of the attempt that worked', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda
      .on(InvokeCommand)
      .resolvesOnce(functionError('connection reset'))
      .resolvesOnce(functionError('connection reset'))
      .resolves(answer('audit_billing_logs', { totalUsd: 1 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('succeeded');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 3);
    expect(recorded(ddb)).toMatchObject({ ':status': 'succeeded', ':result': '{"totalUsd":1}' });
    const keysSent = [0, 1, 2].map((n) => invokedEvent(lambda, n).sessionAttributes.idempotencyKey);
    expect(new Set(keysSent).size).toBe(1);
  });

  it('gives up after the policy attempts and tells the model what failed', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(functionError('database is down'));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'failed', replayed: false });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, RETRY.attempts);
    const values = recorded(ddb);
    expect(values[':kind']).toBe('invocation');
    expect(values[':result']).toBe(
      'audit_billing_logs failed after 3 attempts: audit_billing_logs failed (Unhandled): Error: database is down',
    );
  });

  it('retries when the Lambda call itself fails (transport error)', async () => {
    // Prepare
    const { lambda, deps } = setup();
    lambda
      .on(InvokeCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }))
      .resolves(answer('audit_billing_logs', { totalUsd: 1 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('succeeded');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 2);
  });

  it('reports a tool that never answers within the timeout as a timeout', async () => {
    // Prepare: the SDK rejects with the abort signal's TimeoutError
    const { ddb, lambda, deps } = setup();
    lambda
      .on(InvokeCommand)
      .rejects(
        Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
      );

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('failed');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 3);
    expect(recorded(ddb)[':result']).toMatch(/audit_billing_logs did not answer within 500 ms/);
  });

  it('passes the timeout to the SDK as an abort signal', async () => {
    // Prepare
    const { lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', {}));
    const send = jest.spyOn(deps.lambda, 'send');

    // Act
    await runTool(deps, auditCall);

    // Assess
    const options = send.mock.calls[0]?.[1] as { abortSignal?: AbortSignal } | undefined;
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
    send.mockRestore();
  });

  it('records a response outside the action-group contract as a tool failure, without retrying', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('<html>Bad Gateway</html>') });

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('failed');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(recorded(ddb)).toMatchObject({
      ':kind': 'tool',
      ':result': 'audit_billing_logs returned a response outside the action-group contract',
    });
  });

  it('fails loudly, naming the variable, when the action-group function is not configured', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();

    // Act
    const act = runTool({ ...deps, functions: {} }, auditCall);

    // Assess
    await expect(act).rejects.toThrow(ConfigError);
    await expect(act).rejects.toThrow(/BILLING_ACTION_GROUP_FUNCTION/);
    expect(lambda).not.toHaveReceivedAnyCommand();
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });
});

describe('runTool: replay', () => {
  it('replays a call that already finished without invoking the tool again', async () => {
    // Prepare: an earlier attempt recorded the outcome, then the step was retried
    const { ddb, lambda, deps } = setup();
    ddb.on(PutCommand).rejects(
      conditionFailed(
        toolCallItem({
          turn: 1,
          index: 0,
          toolUseId: 'tu-audit',
          name: 'audit_billing_logs',
          status: 'failed',
        }),
      ),
    );

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'failed', replayed: true });
    expect(lambda).not.toHaveReceivedAnyCommand();
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('re-runs a call that was claimed but has no outcome (a crash mid-call), with the same idempotency key', async () => {
    // Prepare: the key the first attempt sent, then a retried step that finds the record still started
    const first = setup();
    first.lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', {}));
    await runTool(first.deps, auditCall);
    const firstKey = invokedEvent(first.lambda).sessionAttributes.idempotencyKey;
    const { ddb, lambda, deps } = setup();
    const started = toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'tu-audit',
      name: 'audit_billing_logs',
      status: 'started',
      attempts: 2,
      ...(firstKey ? { idempotencyKey: firstKey } : {}),
    });
    // Items without leaseUntil (written before leases) count as expired.
    ddb.on(PutCommand).rejects(conditionFailed({ ...started, attempts: 1 }));
    ddb.on(UpdateCommand).resolves({ Attributes: started });
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { totalUsd: 2 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'succeeded', replayed: false });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET attempts = attempts + :one, leaseUntil = :lease',
      ConditionExpression: '#status = :started AND attribute_not_exists(leaseUntil)',
    });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(invokedEvent(lambda).sessionAttributes.idempotencyKey).toBe(firstKey);
    expect(recorded(ddb)[':status']).toBe('succeeded');
  });
});

describe('runTool: leases', () => {
  const started = (fields: Partial<ToolCallItem>) =>
    toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'tu-audit',
      name: 'audit_billing_logs',
      status: 'started',
      ...fields,
    });

  it('claims a call with a lease long enough for every invocation and backoff of one attempt', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', {}));

    // Act
    await runTool(deps, auditCall);

    // Assess: the clock reads 50,040 at the claim
    const item = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item as ToolCallItem;
    expect(leaseDurationMs(RETRY)).toBe(3 * (500 + 2) + 5_000);
    expect(item.leaseUntil).toBe(50_040 + leaseDurationMs(RETRY));
  });

  it('does not run a call another attempt holds a live lease on: a retryable ToolCallInProgressError', async () => {
    // Prepare: the store's clock is the fixed AT; the lease runs a minute past it
    const { ddb, lambda, deps } = setup();
    ddb
      .on(PutCommand)
      .rejects(conditionFailed(started({ leaseUntil: Date.parse('2026-01-01T00:01:00.000Z') + 1e12 })));

    // Act
    const act = runTool(deps, auditCall);

    // Assess
    await expect(act).rejects.toThrow(ToolCallInProgressError);
    expect(lambda).not.toHaveReceivedAnyCommand();
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('takes over an expired lease with a write conditioned on the lease it saw', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    ddb.on(PutCommand).rejects(conditionFailed(started({ leaseUntil: 1_000 })));
    ddb.on(UpdateCommand).resolves({ Attributes: started({ leaseUntil: 99_000, attempts: 2 }) });
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', {}));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.replayed).toBe(false);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#status = :started AND leaseUntil = :seen',
    });
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues?.[':seen']).toBe(
      1_000,
    );
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
  });

  it('does not run a call another taker won the race for', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    ddb.on(PutCommand).rejects(conditionFailed(started({ leaseUntil: 1_000 })));
    ddb.on(UpdateCommand).rejects(conditionFailed(started({ leaseUntil: 99_000, attempts: 2 })));

    // Act + Assess
    await expect(runTool(deps, auditCall)).rejects.toThrow(ToolCallInProgressError);
    expect(lambda).not.toHaveReceivedAnyCommand();
  });
});

describe('runTool: side effects', () => {
  const reportInput = (findings: string | string[]) => ({ tenant_id: TENANT, title: 'Savings', findings });
  const reportCall = callOf('tu-report', 'create_optimization_report');
  const keyOf = async (input: ToolUseSpec['input'], toolUseId = 'tu-report') => {
    const s = setup([{ toolUseId, name: 'create_optimization_report', input }]);
    s.lambda.on(InvokeCommand).resolves(answer('create_optimization_report', {}));
    await runTool(s.deps, callOf(toolUseId, 'create_optimization_report'));
    return { key: invokedEvent(s.lambda).sessionAttributes.idempotencyKey };
  };

  it('keys a side-effecting call by tenant, session, tool and normalised arguments, not by call', async () => {
    // Act: the same report asked twice in other calls, once with a single finding the schema wraps, once with keys reordered
    const first = await keyOf(reportInput(['Idle server.']));
    const again = await keyOf(reportInput(['Idle server.']), 'tu-again');
    const wrapped = await keyOf(reportInput('Idle server.'), 'tu-wrapped');
    const reordered = await keyOf(
      { findings: ['Idle server.'], title: 'Savings', tenant_id: TENANT },
      'tu-re',
    );
    const other = await keyOf(reportInput(['Other finding.']), 'tu-other');

    // Assess
    expect(again.key).toBe(first.key);
    expect(wrapped.key).toBe(first.key);
    expect(reordered.key).toBe(first.key);
    expect(other.key).not.toBe(first.key);
  });

  it('records a side effect whose outcome was lost past every retry as unknown, and says it may have happened', async () => {
    // Prepare: every invocation crashes after the handler ran
    const { ddb, lambda, deps } = setup([
      { toolUseId: 'tu-report', name: 'create_optimization_report', input: reportInput(['Idle server.']) },
    ]);
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorType: 'Runtime.ExitError', errorMessage: 'signal: killed' }),
    });

    // Act
    const result = await runTool(deps, reportCall);

    // Assess
    expect(result.status).toBe('unknown');
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 3);
    const values =
      ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Update
        ?.ExpressionAttributeValues;
    expect(values).toMatchObject({ ':status': 'unknown', ':kind': 'lost', ':invocations': 3 });
    expect(values?.[':result']).toMatch(/outcome of create_optimization_report is unknown/);
    expect(values?.[':result']).toMatch(/may have happened: do not assume it failed/);
  });

  it('records a side effect whose every invocation timed out as unknown, but one refused by a handler error as failed', async () => {
    // Prepare
    const spec = [
      { toolUseId: 'tu-report', name: 'create_optimization_report', input: reportInput(['Idle server.']) },
    ];
    const timedOut = setup(spec);
    timedOut.lambda
      .on(InvokeCommand)
      .rejects(
        Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
      );
    const refused = setup(spec);
    refused.lambda.on(InvokeCommand).resolves(functionError('ReportStoreError: table missing'));

    // Act
    const results = [await runTool(timedOut.deps, reportCall), await runTool(refused.deps, reportCall)];

    // Assess
    expect(results.map((r) => r.status)).toEqual(['unknown', 'failed']);
  });

  it('records a read-only tool that crashed past every retry as failed', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorType: 'Runtime.ExitError', errorMessage: 'signal: killed' }),
    });

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result.status).toBe('failed');
    expect(recorded(ddb)).toMatchObject({ ':status': 'failed', ':kind': 'invocation' });
  });

  it('records the safe coercions on the call, with the input as the model sent it', async () => {
    // Prepare
    const input = { tenant_id: TENANT, lookback_days: '14' };
    const { ddb, lambda, deps } = setup([
      { toolUseId: 'tu-list', name: 'list_underutilized_resources', input },
    ]);
    lambda.on(InvokeCommand).resolves(answer('list_underutilized_resources', {}));

    // Act
    const result = await runTool(deps, callOf('tu-list', 'list_underutilized_resources'));

    // Assess
    expect(result.status).toBe('succeeded');
    const item = ddb.commandCalls(PutCommand)[0]?.args[0].input.Item as ToolCallItem;
    expect(item.input).toEqual(input);
    expect(item.coercions).toEqual([{ pointer: '/lookback_days', from: '14', to: 14 }]);
    expect(invokedEvent(lambda).parameters).toContainEqual({
      name: 'lookback_days',
      type: 'integer',
      value: '14',
    });
  });
});
