/** The RunTool step: schema and tool checks, action-group invocation with retries, and replay of finished calls. */
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { type ActionGroupEvent, buildActionGroupResponse } from '../../shared/contracts/action-group';
import { ConfigError, SessionStateError } from '../../shared/runtime/errors';
import {
  MAX_RESULT_CHARS,
  type RunToolInput,
  runTool,
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

  it('takes the tenant attribute from the session, never from what the model wrote', async () => {
    // Prepare: the model asks for another tenant's data
    const { lambda, deps } = setup([
      { toolUseId: 'tu-audit', name: 'audit_billing_logs', input: { tenant_id: 'globex' } },
    ]);
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { error: 'tenant mismatch' }, 'FAILURE'));

    // Act
    await runTool(deps, auditCall);

    // Assess
    expect(invokedEvent(lambda).sessionAttributes.tenantId).toBe(TENANT);
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

  it('caps a very long result so one chatty tool cannot blow the context', async () => {
    // Prepare
    const { ddb, lambda, deps } = setup();
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', 'x'.repeat(MAX_RESULT_CHARS + 500)));

    // Act
    await runTool(deps, auditCall);

    // Assess
    const result = String(recorded(ddb)[':result']);
    expect(result.startsWith(`"${'x'.repeat(100)}`)).toBe(true);
    expect(result).toMatch(/\n\[truncated 502 characters\]$/); // the JSON string adds two quotes
    expect(result.length).toBeLessThan(MAX_RESULT_CHARS + 100);
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
        'Invalid parameters for audit_billing_logs: input: missing required parameter "tenant_id"; input: unknown parameter "tenant". Fix them and call the tool again.',
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
    ddb.on(PutCommand).rejects(conditionFailed({ ...started, attempts: 1 }));
    ddb.on(UpdateCommand).resolves({ Attributes: started });
    lambda.on(InvokeCommand).resolves(answer('audit_billing_logs', { totalUsd: 2 }));

    // Act
    const result = await runTool(deps, auditCall);

    // Assess
    expect(result).toEqual({ toolUseId: 'tu-audit', status: 'succeeded', replayed: false });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: 'SET attempts = attempts + :one',
    });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    expect(invokedEvent(lambda).sessionAttributes.idempotencyKey).toBe(firstKey);
    expect(recorded(ddb)[':status']).toBe('succeeded');
  });
});
