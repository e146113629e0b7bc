/**
 * A goal that intake cannot accept on any try must not vanish: after Lambda's asynchronous retries (1 + 2 tries, as
 * serverless.yml's `maximumRetryAttempts: 2` says) its invocation record lands in the intake dead-letter queue, and
 * `sovereign-agent dead-letters` lists it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type LocalStack, startLocalStack } from '../../local/stack/start';
import { goalEvent, root } from './helpers';

jest.setTimeout(120_000);

const MISSING_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sovereign-agent-local-nowhere';

let stack: LocalStack;

beforeAll(async () => {
  // Prepare: intake points at a state machine that does not exist, so StartExecution fails on every try.
  stack = await startLocalStack({
    dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '',
    inMemory: true,
    dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-dlq-')),
    functionEnvironment: { intake: { STATE_MACHINE_ARN: MISSING_MACHINE } },
    asyncRetryDelaysMs: [0, 0],
  });
});

afterAll(async () => {
  await stack?.stop();
});

/**
 * `sovereign-agent dead-letters ...` in another process, on this stack (found through its stack.json). Not
 * spawnSync: the stack runs in this process and must keep answering while the CLI runs.
 */
const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin', 'sovereign-agent.js'), ...args],
      { cwd: root, env: { ...process.env, SOVEREIGN_AGENT_DATA_DIR: stack.dataDir }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });

const waitFor = async <T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

describe('intake dead letters', () => {
  it('puts a goal intake failed 3 times in the queue, and dead-letters --json lists it', async () => {
    // Prepare
    const event: Record<string, unknown> = goalEvent();
    const detail = event.detail as { goalId: string; tenantId: string };
    const bus = new EventBridgeClient({});

    // Act
    const put = await bus.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: stack.env.EVENT_BUS_NAME,
            Source: event.source as string,
            DetailType: event['detail-type'] as string,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    bus.destroy();
    const eventId = put.Entries?.[0]?.EventId;
    const intakeTries = () =>
      stack.lambda
        .invocations()
        .filter((i) => i.functionName === 'sovereign-agent-local-intake' && i.invocationType === 'Event');
    const listed = await waitFor(async () => {
      const out = await cli('dead-letters', '--json');
      if (out.code !== 0) throw new Error(`dead-letters exited ${out.code}: ${out.stderr}`);
      const letters = JSON.parse(out.stdout) as Record<string, unknown>[];
      return letters.length > 0 ? letters : undefined;
    }, 60_000);

    // Assess: three tries of the same request, then one record with what a user needs to act on it.
    const tries = intakeTries();
    expect(tries).toHaveLength(3);
    expect(new Set(tries.map((t) => t.requestId)).size).toBe(1);
    expect(tries.every((t) => t.outcome === 'error')).toBe(true);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      source: 'lambda',
      condition: 'RetriesExhausted',
      attempts: 3,
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sovereign-agent-local-intake:$LATEST',
      eventId,
      tenantId: detail.tenantId,
      goalId: detail.goalId,
      error: { type: 'StateMachineDoesNotExist', message: expect.stringContaining('nowhere') },
    });

    // The text form: one line per dead letter naming when, why and which goal.
    const text = await cli('dead-letters');
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('RetriesExhausted after 3 tries');
    expect(lines[0]).toContain('StateMachineDoesNotExist');
    expect(lines[0]).toContain(`goal ${detail.goalId}`);
    expect(lines[0]).toContain(`tenant ${detail.tenantId}`);
  });
});
