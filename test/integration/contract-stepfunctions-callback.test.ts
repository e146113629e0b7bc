/**
 * The callback pattern (`arn:aws:states:::lambda:invoke.waitForTaskToken`) on the local Step Functions, through the
 * real @aws-sdk/client-sfn: the function gets `$$.Task.Token`, the Task ends with SendTaskSuccess (its output is the
 * result), SendTaskFailure (caught by its error name) or its TimeoutSecondsPath (States.Timeout), and a closed or
 * foreign token is answered as the API reference says
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html, read 2026-12-02).
 */
import {
  InvalidOutput,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { type StepFunctionsService, startStepFunctionsService } from '../../local/stepfunctions/api';
import callbackAsl from '../fixtures/sfn/callback.asl.json';
import { type FakeLambda, startFakeLambda } from '../fixtures/sfn/fake-lambda';

const REGION = 'us-east-1';
const CALLBACK = `arn:aws:states:${REGION}:000000000000:stateMachine:callback`;

let fake: FakeLambda;
let svc: StepFunctionsService;
let sfn: SFNClient;
/** The token each `notify` invocation received, by the execution's key. */
const tokens = new Map<string, string>();
const previousEnv = { ...process.env };

const tokenFor = async (key: string): Promise<string> => {
  const deadline = Date.now() + 5_000;
  while (!tokens.has(key)) {
    if (Date.now() > deadline) throw new Error(`notify was not invoked for ${key}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return tokens.get(key) ?? '';
};

const start = async (key: string, waitSeconds = 30): Promise<string> => {
  const out = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: CALLBACK,
      name: key,
      input: JSON.stringify({ key, waitSeconds }),
    }),
  );
  return out.executionArn ?? '';
};

beforeAll(async () => {
  fake = await startFakeLambda({
    notify: (p) => {
      tokens.set(String(p.key), String((p.request as { taskToken: string }).taskToken));
      return { result: { notified: true } };
    },
  });
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_LAMBDA: fake.url,
  });
  svc = await startStepFunctionsService({
    region: REGION,
    stateMachines: [{ arn: CALLBACK, name: 'callback', definition: callbackAsl }],
  });
  process.env.AWS_ENDPOINT_URL_SFN = svc.url;
  sfn = new SFNClient({});
});

afterAll(async () => {
  sfn?.destroy();
  await svc?.close();
  await fake?.close();
  process.env = previousEnv;
});

describe('arn:aws:states:::lambda:invoke.waitForTaskToken', () => {
  it('waits for SendTaskSuccess and takes its output as the Task result; the token then is closed', async () => {
    // Prepare
    const executionArn = await start('approve-1');
    const token = await tokenFor('approve-1');

    // Act
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    await sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ decision: 'approved' }) }),
    );
    const record = await svc.waitForExecution(executionArn);

    // Assess
    expect(token.length).toBeGreaterThan(100);
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '')).toEqual({
      key: 'approve-1',
      waitSeconds: 30,
      decision: { decision: 'approved' },
    });
    const again = sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await expect(again).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(again).rejects.toThrow(
      'The task token has either expired or the task associated with the token has already been closed.',
    );
  });

  it('is not settled until the token is sent: the execution keeps running', async () => {
    const executionArn = await start('still-1');
    const token = await tokenFor('still-1');
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.executions().find((e) => e.executionArn === executionArn)?.status).toBe('RUNNING');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '"done"' }));
    expect((await svc.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });

  it('fails the Task with SendTaskFailure: the Catch matches its error, the Cause is passed on', async () => {
    const executionArn = await start('deny-1');
    const token = await tokenFor('deny-1');
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: token, error: 'Rejected', cause: 'not this week' }),
    );
    const record = await svc.waitForExecution(executionArn);
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '')).toMatchObject({
      outcome: 'refused',
      error: { Error: 'Rejected', Cause: 'not this week' },
    });
  });

  it('times out after TimeoutSecondsPath seconds with States.Timeout, and the late token is TaskTimedOut', async () => {
    const executionArn = await start('expire-1', 1);
    const token = await tokenFor('expire-1');
    const startedAt = Date.now();
    const record = await svc.waitForExecution(executionArn);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(800);
    expect(JSON.parse(record.output ?? '')).toMatchObject({
      outcome: 'expired',
      error: { Error: 'States.Timeout' },
    });
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
  });

  it('answers a token it never issued with InvalidToken and output that is not JSON with InvalidOutput', async () => {
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: 'not-a-token', output: '{}' })),
    ).rejects.toBeInstanceOf(InvalidToken);
    const executionArn = await start('bad-output-1');
    const token = await tokenFor('bad-output-1');
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{not json' })),
    ).rejects.toBeInstanceOf(InvalidOutput);
    // The bad output did not close the token.
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    expect((await svc.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });
});
