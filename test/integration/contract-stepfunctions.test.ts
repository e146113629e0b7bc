/**
 * Contract of the local Step Functions stand-in, exercised through the real @aws-sdk/client-sfn (reached via
 * AWS_ENDPOINT_URL_SFN, as production code reaches it) and a loopback Lambda Invoke server.
 *
 * References (AWS documentation, found with the docs search):
 * - StartExecution: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 *   ("StartExecution is idempotent for STANDARD workflows ... same name and input as a running execution, the call
 *   succeeds and return the same response ... If the execution is closed or if the input is different, it returns
 *   a 400 ExecutionAlreadyExists error"; also quoted in
 *   https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/StepFunctions/MIStepFunctionsStartExecutionStartExecutionRequest.html).
 *   A name longer than 80 characters is a model constraint answered with ValidationException ("Value 'xxx' at
 *   'name' failed to satisfy constraint: Member must have length less than or equal to 80", reported from AWS in
 *   https://github.com/wolfeidau/buildkite-serverless-agent/issues/37); other bad names are InvalidName.
 * - GetExecutionHistory: https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html
 *   (ascending by default, reverseOrder, maxResults default 100, nextToken, includeExecutionData, InvalidToken).
 * - Lambda errors in Task states: https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 *   ("Lambda errors are reported as Lambda.<ErrorName>", "When Lambda hits the maximum number of invocations, the
 *   error is Lambda.TooManyRequestsException").
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  InvalidArn,
  InvalidExecutionInput,
  InvalidName,
  InvalidToken,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  ValidationException,
} from '@aws-sdk/client-sfn';
import { type StepFunctionsService, startStepFunctionsService } from '../../local/stepfunctions/api';
import { type FakeLambda, type FakeReply, startFakeLambda } from '../fixtures/sfn/fake-lambda';
import gateAsl from '../fixtures/sfn/gate.asl.json';
import lambdaInvokeAsl from '../fixtures/sfn/lambda-invoke.asl.json';
import manyIterationsAsl from '../fixtures/sfn/many-iterations.asl.json';
import mapAsl from '../fixtures/sfn/map.asl.json';
import retryCatchAsl from '../fixtures/sfn/retry-catch.asl.json';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const smArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
const execArn = (sm: string, name: string) => `arn:aws:states:${REGION}:${ACCOUNT}:execution:${sm}:${name}`;
const GATE = smArn('gate');
const RETRY = smArn('retry-catch');
const MAP = smArn('map');
const MANY = smArn('many-iterations');
const INVOKE = smArn('lambda-invoke');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (check: () => boolean, what: string, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
};
const types = (events: HistoryEvent[] | undefined): string[] => (events ?? []).map((e) => e.type ?? '');

let fake: FakeLambda;
let svc: StepFunctionsService;
let sfn: SFNClient;
/** Pending `gate` invocations by payload key; the test answers them. */
const gates = new Map<string, (reply: FakeReply) => void>();
const release = async (key: string, reply: FakeReply = { result: { released: key } }) => {
  await until(() => gates.has(key), `gate ${key} to be invoked`);
  gates.get(key)?.(reply);
  gates.delete(key);
};
/** Per-key scripted failures of the `flaky` function: each call shifts one error type (or succeeds). */
const flakyScript = new Map<string, string[]>();

const previousEnv = { ...process.env };

beforeAll(async () => {
  fake = await startFakeLambda({
    gate: (p) => new Promise<FakeReply>((resolve) => gates.set(String(p.key), resolve)),
    flaky: (p) => {
      const next = flakyScript.get(String(p.key))?.shift();
      return next
        ? { functionError: { errorType: next, errorMessage: `flaky failed with ${next}` } }
        : { result: { ok: true, key: p.key } };
    },
    work: (p) => ({ result: { done: p.item, at: p.position, tenant: p.tenant } }),
  });
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_LAMBDA: fake.url,
  });
  svc = await startStepFunctionsService({
    region: REGION,
    stateMachines: [
      { arn: GATE, name: 'gate', definition: gateAsl },
      { arn: RETRY, name: 'retry-catch', definition: retryCatchAsl },
      { arn: MAP, name: 'map', definition: mapAsl },
      { arn: MANY, name: 'many-iterations', definition: manyIterationsAsl },
      { arn: INVOKE, name: 'lambda-invoke', definition: lambdaInvokeAsl },
    ],
    retryIntervalOverrides: { CallFlaky: 0 },
  });
  // Production code builds `new SFNClient({})`; the endpoint comes from the SDK's service-specific variable.
  process.env.AWS_ENDPOINT_URL_SFN = svc.url;
  sfn = new SFNClient({});
});

afterAll(async () => {
  sfn?.destroy();
  await svc?.close();
  await fake?.close();
  process.env = previousEnv;
});

describe('StartExecution name semantics (STANDARD)', () => {
  it('answers a repeated call with the same name and input while running with the same execution', async () => {
    const input = JSON.stringify({ key: 'idem-1' });
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name: 'idem-1', input }));
    const second = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'idem-1', input }),
    );

    expect(first.executionArn).toBe(execArn('gate', 'idem-1'));
    expect(second.executionArn).toBe(first.executionArn);
    expect(second.startDate).toEqual(first.startDate);
    expect(first.startDate).toBeInstanceOf(Date);
    await release('idem-1');
    await svc.waitForExecution(first.executionArn ?? '');
    expect(
      fake.invocations.filter((i) => i.payload && (i.payload as { key?: string }).key === 'idem-1'),
    ).toHaveLength(1);
  });

  it('rejects the same name with a different input while running with ExecutionAlreadyExists', async () => {
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: GATE,
        name: 'idem-2',
        input: JSON.stringify({ key: 'idem-2' }),
      }),
    );
    await expect(
      sfn.send(
        new StartExecutionCommand({
          stateMachineArn: GATE,
          name: 'idem-2',
          input: JSON.stringify({ key: 'idem-2', other: true }),
        }),
      ),
    ).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    await release('idem-2');
    await svc.waitForExecution(execArn('gate', 'idem-2'));
  });

  it('rejects the same name and input after the execution closed with ExecutionAlreadyExists', async () => {
    const input = JSON.stringify({ key: 'idem-3' });
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'idem-3', input }),
    );
    await release('idem-3');
    const done = await svc.waitForExecution(started.executionArn ?? '');
    expect(done.status).toBe('SUCCEEDED');

    const again = sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name: 'idem-3', input }));
    await expect(again).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    await expect(again).rejects.toThrow(`Execution Already Exists: '${execArn('gate', 'idem-3')}'`);
  });

  it.each(['has space', 'semi;colon', 'slash/name', 'ünïcode', 'brace{'])(
    'rejects the name %j with InvalidName',
    async (name) => {
      await expect(
        sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name })),
      ).rejects.toBeInstanceOf(InvalidName);
    },
  );

  it('accepts an 80-character name and rejects 81 characters with ValidationException', async () => {
    const name80 = 'n'.repeat(80);
    const ok = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: GATE,
        name: name80,
        input: JSON.stringify({ key: name80 }),
      }),
    );
    expect(ok.executionArn).toBe(execArn('gate', name80));
    await release(name80);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name: 'n'.repeat(81) })),
    ).rejects.toBeInstanceOf(ValidationException);
  });

  it('names unknown state machines, malformed ARNs, bad JSON and oversize input as Step Functions does', async () => {
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: smArn('nope'), name: 'x' })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
    await expect(
      sfn.send(
        new StartExecutionCommand({ stateMachineArn: 'arn:aws:lambda:us-east-1:000000000000:function:x' }),
      ),
    ).rejects.toBeInstanceOf(InvalidArn);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name: 'bad-json', input: '{"key": ' })),
    ).rejects.toBeInstanceOf(InvalidExecutionInput);
    const big = JSON.stringify({ key: 'big', pad: 'x'.repeat(262_144) });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: GATE, name: 'too-big', input: big })),
    ).rejects.toBeInstanceOf(ValidationException);
    expect(svc.executions().map((e) => e.name)).not.toEqual(expect.arrayContaining(['bad-json', 'too-big']));
  });
});

describe('execution results', () => {
  it('reports the Lambda result as the execution output in DescribeExecution', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: GATE,
        name: 'describe-ok',
        input: '{"key":"describe-ok"}',
      }),
    );
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(running).toMatchObject({ status: 'RUNNING', name: 'describe-ok', stateMachineArn: GATE });
    expect(running.stopDate).toBeUndefined();

    await release('describe-ok', { result: { answer: 42, key: 'describe-ok' } });
    await svc.waitForExecution(executionArn ?? '');
    const done = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({ answer: 42, key: 'describe-ok' });
    expect(done.input).toBe('{"key":"describe-ok"}');
    expect(done.stopDate?.getTime()).toBeGreaterThanOrEqual(
      done.startDate?.getTime() ?? Number.POSITIVE_INFINITY,
    );
  });

  it('fails the execution with an uncaught function error named by its errorType, payload as cause', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'uncaught', input: '{"key":"uncaught"}' }),
    );
    await release('uncaught', {
      functionError: { errorType: 'StoreUnavailableError', errorMessage: 'table gone' },
    });
    await svc.waitForExecution(executionArn ?? '');
    const done = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('StoreUnavailableError');
    expect(JSON.parse(done.cause ?? '')).toMatchObject({
      errorType: 'StoreUnavailableError',
      errorMessage: 'table gone',
    });
    expect(done.output).toBeUndefined();
  });

  it('honours Retry by error name and counts retries as state transitions', async () => {
    flakyScript.set('retry-ok', ['TransientError', 'TransientError']);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: RETRY, name: 'retry-ok', input: '{"key":"retry-ok"}' }),
    );
    const record = await svc.waitForExecution(executionArn ?? '');

    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '')).toEqual({
      key: 'retry-ok',
      result: { ok: true, key: 'retry-ok' },
    });
    expect(fake.invocations.filter((i) => (i.payload as { key?: string }).key === 'retry-ok')).toHaveLength(
      3,
    );
    // CallFlaky and Done entered, plus two retries.
    expect(record.stateTransitions).toBe(4);
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(types(events)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    const failed = events?.find((e) => e.type === 'LambdaFunctionFailed');
    expect(failed?.lambdaFunctionFailedEventDetails?.error).toBe('TransientError');
    expect(failed?.lambdaFunctionFailedEventDetails?.cause).toContain('flaky failed with TransientError');
  });

  it('stops retrying after MaxAttempts and catches into the Fail state, whose Error and Cause the execution reports', async () => {
    flakyScript.set('retry-out', ['TransientError', 'TransientError', 'TransientError']);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: RETRY, name: 'retry-out', input: '{"key":"retry-out"}' }),
    );
    const record = await svc.waitForExecution(executionArn ?? '');
    expect(record).toMatchObject({
      status: 'FAILED',
      error: 'FlakyGaveUp',
      cause: 'The flaky call failed for good.',
    });
    expect(fake.invocations.filter((i) => (i.payload as { key?: string }).key === 'retry-out')).toHaveLength(
      3,
    );
  });

  it('does not retry an error the Retry list does not name; the Catch output carries Error and Cause', async () => {
    flakyScript.set('fatal', ['FatalError']);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: RETRY, name: 'fatal', input: '{"key":"fatal"}' }),
    );
    const record = await svc.waitForExecution(executionArn ?? '');
    expect(record).toMatchObject({ status: 'FAILED', error: 'FlakyGaveUp' });
    expect(fake.invocations.filter((i) => (i.payload as { key?: string }).key === 'fatal')).toHaveLength(1);

    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(types(events).slice(-2)).toEqual(['FailStateEntered', 'ExecutionFailed']);
    const failInput = JSON.parse(
      events?.find((e) => e.type === 'FailStateEntered')?.stateEnteredEventDetails?.input ?? '',
    );
    expect(failInput.error.Error).toBe('FatalError');
    expect(JSON.parse(failInput.error.Cause)).toMatchObject({ errorType: 'FatalError' });
    expect(events?.at(-1)?.executionFailedEventDetails).toEqual({
      error: 'FlakyGaveUp',
      cause: 'The flaky call failed for good.',
    });
  });

  it('runs a Map whose ItemSelector uses $$.Map.Item.Value and $$.Map.Item.Index', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: MAP,
        name: 'map-1',
        input: JSON.stringify({ tenant: 't1', items: ['a', 'b', 'c'] }),
      }),
    );
    const record = await svc.waitForExecution(executionArn ?? '');
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '').results).toEqual([
      { done: 'a', at: 0, tenant: 't1' },
      { done: 'b', at: 1, tenant: 't1' },
      { done: 'c', at: 2, tenant: 't1' },
    ]);
    const workPayloads = fake.invocations.filter((i) => i.functionName === 'work').map((i) => i.payload);
    expect(workPayloads).toEqual(
      expect.arrayContaining([
        { tenant: 't1', item: 'a', position: 0 },
        { tenant: 't1', item: 'b', position: 1 },
        { tenant: 't1', item: 'c', position: 2 },
      ]),
    );
    // The Map state and three iterations of Work.
    expect(record.stateTransitions).toBe(4);
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const t = types(events);
    expect(t.slice(0, 3)).toEqual(['ExecutionStarted', 'MapStateEntered', 'MapStateStarted']);
    expect(t.filter((x) => x === 'MapIterationStarted')).toHaveLength(3);
    expect(t.filter((x) => x === 'MapIterationSucceeded')).toHaveLength(3);
    expect(t.slice(-3)).toEqual(['MapStateSucceeded', 'MapStateExited', 'ExecutionSucceeded']);
    const indexes = events
      ?.filter((e) => e.type === 'MapIterationStarted')
      .map((e) => e.mapIterationStartedEventDetails?.index)
      .sort();
    expect(indexes).toEqual([0, 1, 2]);
  });
});

describe('the optimized integration arn:aws:states:::lambda:invoke', () => {
  it('invokes Parameters.FunctionName with Parameters.Payload and wraps the answer in Payload', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: INVOKE,
        name: 'invoke-1',
        input: JSON.stringify({ tenant: 't9', item: 'z' }),
      }),
    );
    const record = await svc.waitForExecution(executionArn ?? '');
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '')).toEqual({
      answer: { done: 'z', at: 7, tenant: 't9' },
      status: 200,
    });
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(types(events)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events?.[2]?.taskScheduledEventDetails).toMatchObject({
      resourceType: 'lambda',
      resource: 'invoke',
    });
  });
});

describe('GetExecutionHistory, ListExecutions, StopExecution', () => {
  it('returns ordered, linked, timestamped events with pagination, reverse order and without data', async () => {
    flakyScript.set('history', ['TransientError']);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: RETRY, name: 'history', input: '{"key":"history"}' }),
    );
    await svc.waitForExecution(executionArn ?? '');
    const all = (await sfn.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];

    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
    expect(all.map((e) => e.previousEventId)).toEqual(all.map((_, i) => i));
    for (const [i, e] of all.entries()) {
      expect(e.timestamp).toBeInstanceOf(Date);
      if (i > 0) expect(e.timestamp?.getTime()).toBeGreaterThanOrEqual(all[i - 1]?.timestamp?.getTime() ?? 0);
    }
    expect(all[0]?.executionStartedEventDetails?.input).toBe('{"key":"history"}');

    const paged: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 3, nextToken }));
      expect(page.events?.length).toBeLessThanOrEqual(3);
      paged.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));

    const reversed = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1 }),
    );
    expect(reversed.events?.[0]?.type).toBe('ExecutionSucceeded');

    const noData = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, includeExecutionData: false }),
    );
    expect(noData.events?.[0]?.executionStartedEventDetails?.input).toBeUndefined();
    expect(noData.events?.[1]?.stateEnteredEventDetails?.name).toBe('CallFlaky');

    await expect(
      sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken: 'not-a-token' })),
    ).rejects.toBeInstanceOf(InvalidToken);
    await expect(
      sfn.send(new GetExecutionHistoryCommand({ executionArn: execArn('retry-catch', 'never-started') })),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });

  it('lists a state machine’s executions newest first, filtered by status, in pages', async () => {
    for (const key of ['list-a', 'list-b', 'list-c']) {
      await sfn.send(
        new StartExecutionCommand({ stateMachineArn: RETRY, name: key, input: JSON.stringify({ key }) }),
      );
      await svc.waitForExecution(execArn('retry-catch', key));
      await sleep(2); // distinct start times
    }
    const all = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: RETRY, statusFilter: 'SUCCEEDED' }),
    );
    const names = (all.executions ?? []).map((e) => e.name);
    expect(names.slice(0, 3)).toEqual(['list-c', 'list-b', 'list-a']);
    expect(all.executions?.every((e) => e.status === 'SUCCEEDED' && e.stateMachineArn === RETRY)).toBe(true);

    const first = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: RETRY, statusFilter: 'SUCCEEDED', maxResults: 2 }),
    );
    expect(first.executions?.map((e) => e.name)).toEqual(['list-c', 'list-b']);
    expect(first.nextToken).toBeDefined();
    const second = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: RETRY,
        statusFilter: 'SUCCEEDED',
        maxResults: 2,
        nextToken: first.nextToken,
      }),
    );
    expect(second.executions?.[0]?.name).toBe('list-a');

    const failed = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: RETRY, statusFilter: 'FAILED' }),
    );
    expect(failed.executions?.map((e) => e.name)).toEqual(expect.arrayContaining(['retry-out', 'fatal']));
    expect(failed.executions?.map((e) => e.name)).not.toContain('list-a');
    await expect(
      sfn.send(new ListExecutionsCommand({ stateMachineArn: smArn('nope') })),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });

  it('stops a running execution: ABORTED with the given error and cause, ExecutionAborted last in history', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'stop-me', input: '{"key":"stop-me"}' }),
    );
    await until(() => gates.has('stop-me'), 'gate stop-me');
    const stopped = await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'OperatorStop', cause: 'stopped by the test' }),
    );
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const done = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(done).toMatchObject({ status: 'ABORTED', error: 'OperatorStop', cause: 'stopped by the test' });
    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }));
    expect(events?.[0]?.type).toBe('ExecutionAborted');
    expect(events?.[0]?.executionAbortedEventDetails).toEqual({
      error: 'OperatorStop',
      cause: 'stopped by the test',
    });
    gates.get('stop-me')?.({ result: null });
    gates.delete('stop-me');
  });

  it('fails an execution that reaches 25,000 history events, as the Step Functions quota does', async () => {
    const small = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: MANY,
        name: 'under-quota',
        input: JSON.stringify({ items: [1, 2] }),
      }),
    );
    expect((await svc.waitForExecution(small.executionArn ?? '')).status).toBe('SUCCEEDED');

    const items = Array.from({ length: 6_500 }, (_, i) => i);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: MANY,
        name: 'over-quota',
        input: JSON.stringify({ items }),
      }),
    );
    const record = await svc.waitForExecution(executionArn ?? '', 20_000);
    expect(record).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: 'The execution reached the maximum number of history events (25000).',
    });
    expect(record.historyEventCount).toBe(25_000);
    const { events } = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1 }),
    );
    expect(events?.[0]?.type).toBe('ExecutionFailed');
    // 25,000 history events take about 2 s on an idle 2-core machine; leave room for a loaded one.
  }, 30_000);

  it('waitForExecution rejects with the execution status when it does not finish in time', async () => {
    await sfn.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'slow', input: '{"key":"slow"}' }),
    );
    await expect(svc.waitForExecution(execArn('gate', 'slow'), 50)).rejects.toThrow(
      /did not finish within 50 ms \(status: RUNNING\)/,
    );
    await release('slow');
    await expect(svc.waitForExecution(execArn('gate', 'slow'))).resolves.toMatchObject({
      status: 'SUCCEEDED',
    });
  });
});

describe('definitions the service refuses at start', () => {
  const start = (definition: Record<string, unknown>) =>
    startStepFunctionsService({
      region: REGION,
      stateMachines: [{ arn: smArn('bad'), name: 'bad', definition }],
    });

  it('rejects ASL the library’s validator rejects, naming the state machine', async () => {
    await expect(
      start({ StartAt: 'Missing', States: { Only: { Type: 'Pass', End: true } } }),
    ).rejects.toThrow(/State machine bad has an invalid definition/);
  });

  it('rejects Task resources other than Lambda', async () => {
    await expect(
      start({
        StartAt: 'Put',
        States: { Put: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', End: true } },
      }),
    ).rejects.toThrow(/only Lambda tasks run locally/);
  });
});

describe('persistence under dataDir', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sfn-local-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('shows earlier executions to a later process and closes RUNNING records of a dead one as ABORTED', async () => {
    const machines = [{ arn: GATE, name: 'gate', definition: gateAsl }];
    const first = await startStepFunctionsService({ region: REGION, stateMachines: machines, dataDir });
    const client1 = new SFNClient({ endpoint: first.url });
    const { executionArn } = await client1.send(
      new StartExecutionCommand({ stateMachineArn: GATE, name: 'persisted', input: '{"key":"persisted"}' }),
    );
    await release('persisted', { result: { kept: true } });
    await first.waitForExecution(executionArn ?? '');
    client1.destroy();
    await first.close();

    // What a process killed mid-execution leaves behind: a RUNNING record owned by a pid that is gone.
    const orphanArn = execArn('gate', 'orphan');
    await writeFile(
      join(dataDir, 'executions', 'gate.orphan.json'),
      JSON.stringify({
        record: {
          executionArn: orphanArn,
          stateMachineArn: GATE,
          name: 'orphan',
          status: 'RUNNING',
          input: '{}',
          startDate: new Date(Date.now() - 60_000).toISOString(),
          stateTransitions: 1,
          historyEventCount: 1,
          ownerPid: 999_999,
        },
        history: [
          { id: 1, previousEventId: 0, timestamp: new Date().toISOString(), type: 'ExecutionStarted' },
        ],
      }),
    );

    const second = await startStepFunctionsService({ region: REGION, stateMachines: machines, dataDir });
    const client2 = new SFNClient({ endpoint: second.url });
    try {
      const earlier = await client2.send(new DescribeExecutionCommand({ executionArn }));
      expect(earlier.status).toBe('SUCCEEDED');
      expect(JSON.parse(earlier.output ?? '')).toEqual({ kept: true });
      const history = await client2.send(new GetExecutionHistoryCommand({ executionArn }));
      expect(types(history.events).at(-1)).toBe('ExecutionSucceeded');

      const orphan = await client2.send(new DescribeExecutionCommand({ executionArn: orphanArn }));
      expect(orphan.status).toBe('ABORTED');
      expect(orphan.error).toBe('LocalStackRestarted');
      expect(orphan.cause).toContain('pid 999999');
      const onDisk = JSON.parse(await readFile(join(dataDir, 'executions', 'gate.orphan.json'), 'utf8'));
      expect(onDisk.record.status).toBe('ABORTED');

      // Names stay taken across processes, as they do in Step Functions.
      await expect(
        client2.send(
          new StartExecutionCommand({
            stateMachineArn: GATE,
            name: 'persisted',
            input: '{"key":"persisted"}',
          }),
        ),
      ).rejects.toBeInstanceOf(ExecutionAlreadyExists);

      // An execution still running when its service closes is recorded as ABORTED with the reason.
      await client2.send(
        new StartExecutionCommand({ stateMachineArn: GATE, name: 'cut-short', input: '{"key":"cut-short"}' }),
      );
      await until(() => gates.has('cut-short'), 'gate cut-short');
    } finally {
      client2.destroy();
      await second.close();
    }
    const cut = JSON.parse(await readFile(join(dataDir, 'executions', 'gate.cut-short.json'), 'utf8'));
    expect(cut.record).toMatchObject({ status: 'ABORTED', error: 'LocalStackShutdown' });
    gates.get('cut-short')?.({ result: null });
    gates.delete('cut-short');
  });
});

describe('the project state machine statemachines/agent-goal.asl.json', () => {
  const AGENT = smArn('sovereign-agent-test-agent-goal');
  const fnArn = (fn: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sovereign-agent-test-${fn}`;
  /** What serverless-step-functions does at package time: `{"Fn::GetAtt": [fn, "Arn"]}` -> the function ARN. */
  const resolveGetAtt = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolveGetAtt);
    if (typeof value !== 'object' || value === null) return value;
    const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
    if (Array.isArray(getAtt) && getAtt[1] === 'Arn') return fnArn(String(getAtt[0]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveGetAtt(v)]));
  };
  let agentSvc: StepFunctionsService;
  let calls: { fn: string; payload: Record<string, unknown> }[];
  const record = (fn: string) => (p: Record<string, unknown>) => calls.push({ fn, payload: p });

  beforeAll(async () => {
    const raw = JSON.parse(
      await readFile(join(__dirname, '../../statemachines/agent-goal.asl.json'), 'utf8'),
    );
    agentSvc = await startStepFunctionsService({
      region: REGION,
      stateMachines: [
        {
          arn: AGENT,
          name: 'sovereign-agent-test-agent-goal',
          definition: resolveGetAtt(raw) as Record<string, unknown>,
        },
      ],
      // Its Retry uses IntervalSeconds 1 with full jitter; skip the waits here.
      retryIntervalOverrides: {
        StartSession: 0,
        Plan: 0,
        RunTool: 0,
        Finalize: 0,
        RecordFailure: 0,
      },
    });
  });
  afterAll(async () => {
    await agentSvc?.close();
  });
  beforeEach(() => {
    calls = [];
    let plans = 0;
    fake.handle('sovereign-agent-test-startSession', (p) => {
      record('startSession')(p);
      return { result: { tenantId: p.tenantId, sessionId: p.sessionId, turn: 0 } };
    });
    fake.handle('sovereign-agent-test-plan', (p) => {
      record('plan')(p);
      plans++;
      return plans === 1
        ? {
            result: {
              action: 'tools',
              turn: 1,
              reason: null,
              toolCalls: [{ toolUseId: 't1' }, { toolUseId: 't2' }],
            },
          }
        : { result: { action: 'finish', turn: 2, reason: 'completed' } };
    });
    fake.handle('sovereign-agent-test-runTool', (p) => {
      record('runTool')(p);
      return { result: { toolUseId: (p.call as { toolUseId: string }).toolUseId, status: 'ok' } };
    });
    fake.handle('sovereign-agent-test-finalize', (p) => {
      record('finalize')(p);
      return { result: { status: 'COMPLETED', turn: p.turn } };
    });
    fake.handle('sovereign-agent-test-recordFailure', (p) => {
      record('recordFailure')(p);
      return { result: { recorded: true } };
    });
  });
  const agentClient = () => new SFNClient({ endpoint: agentSvc.url });
  /** What intake starts the workflow with. */
  const goalInput = JSON.stringify({ tenantId: 't1', sessionId: 's-1', mode: 'start' });

  it('loads (the library validates the ASL) and runs plan -> tools (Map) -> plan -> finalize', async () => {
    const client = agentClient();
    const { executionArn } = await client.send(
      new StartExecutionCommand({
        stateMachineArn: AGENT,
        name: 'goal-ok',
        input: goalInput,
      }),
    );
    const done = await agentSvc.waitForExecution(executionArn ?? '');
    const { events } = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    client.destroy();

    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({ status: 'COMPLETED', turn: 2 });
    expect(calls.map((c) => c.fn)).toEqual([
      'startSession',
      'plan',
      'runTool',
      'runTool',
      'plan',
      'finalize',
    ]);
    expect(calls.filter((c) => c.fn === 'runTool').map((c) => c.payload)).toEqual(
      expect.arrayContaining([
        { tenantId: 't1', sessionId: 's-1', turn: 1, call: { toolUseId: 't1' } },
        { tenantId: 't1', sessionId: 's-1', turn: 1, call: { toolUseId: 't2' } },
      ]),
    );
    expect(calls.find((c) => c.fn === 'finalize')?.payload).toEqual({
      tenantId: 't1',
      sessionId: 's-1',
      turn: 2,
      reason: 'completed',
    });
    // Plan gets ids only, whatever the turn: the conversation lives in DynamoDB.
    expect(calls.filter((c) => c.fn === 'plan').map((c) => c.payload)).toEqual([
      { tenantId: 't1', sessionId: 's-1' },
      { tenantId: 't1', sessionId: 's-1' },
    ]);
    // The context object reaches the functions: StartSession passes $$.Execution.Id.
    expect(calls[0]?.payload).toMatchObject({ tenantId: 't1', sessionId: 's-1', executionArn });
    // No retries here, so every transition is a state entered.
    expect(done.stateTransitions).toBe(types(events).filter((t) => t.endsWith('StateEntered')).length);
    // StartSession, Finalize, Done; Plan + HasToolCalls + RunTools per tool turn and one RunTool per call;
    // Plan + HasToolCalls for the answer: 3 + 3 + 2 + 2.
    expect(done.stateTransitions).toBe(10);
  });

  it('retries Lambda.TooManyRequestsException (a throttled Invoke) as its Retry list says', async () => {
    let throttled = false;
    fake.handle('sovereign-agent-test-startSession', (p) => {
      record('startSession')(p);
      if (!throttled) {
        throttled = true;
        return { serviceError: { status: 429, type: 'TooManyRequestsException', message: 'Rate Exceeded.' } };
      }
      return { result: { tenantId: p.tenantId, sessionId: p.sessionId, turn: 0 } };
    });
    const client = agentClient();
    const { executionArn } = await client.send(
      new StartExecutionCommand({
        stateMachineArn: AGENT,
        name: 'goal-throttled',
        input: goalInput,
      }),
    );
    const done = await agentSvc.waitForExecution(executionArn ?? '');
    const { events } = await client.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    client.destroy();

    expect(done.status).toBe('SUCCEEDED');
    expect(calls.filter((c) => c.fn === 'startSession')).toHaveLength(2);
    const failure = events?.find((e) => e.type === 'LambdaFunctionFailed')?.lambdaFunctionFailedEventDetails;
    expect(failure?.error).toBe('Lambda.TooManyRequestsException');
    expect(failure?.cause).toContain('Status Code: 429');
  });

  it('catches a non-retryable error into RecordFailure with Error and Cause, then fails as GoalFailed', async () => {
    fake.handle('sovereign-agent-test-plan', (p) => {
      record('plan')(p);
      return { functionError: { errorType: 'SessionStateError', errorMessage: 'session already completed' } };
    });
    const client = agentClient();
    const { executionArn } = await client.send(
      new StartExecutionCommand({
        stateMachineArn: AGENT,
        name: 'goal-fails',
        input: goalInput,
      }),
    );
    const done = await agentSvc.waitForExecution(executionArn ?? '');
    client.destroy();

    expect(done).toMatchObject({
      status: 'FAILED',
      error: 'GoalFailed',
      cause: 'The goal failed; its session holds a resumable checkpoint.',
    });
    expect(calls.filter((c) => c.fn === 'plan')).toHaveLength(1);
    const failure = calls.find((c) => c.fn === 'recordFailure')?.payload as {
      tenantId: string;
      error: { Error: string; Cause: string };
    };
    expect(failure.tenantId).toBe('t1');
    expect(failure.error.Error).toBe('SessionStateError');
    expect(JSON.parse(failure.error.Cause)).toMatchObject({ errorMessage: 'session already completed' });
  });
});
