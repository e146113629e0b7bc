/**
 * Tool calls that never run twice, on the local stack (real ASL, DynamoDB Local, Lambda and Bedrock stand-ins):
 * retries with jitter, loop detection over executed calls, self-healing parameters, side effects at most once per
 * session through unknown outcomes, a crashed attempt's lease taken over on resume, and the per-turn cap.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace } from '../../local/cli/inspect';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { keys } from '../../shared/store/table';
import { goalEvent, loadEvent, reportsOf, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const sessionOf = (summary: { sessionId: string | null }) => summary.sessionId as string;
const traceOf = async (sessionId: string) =>
  buildTrace(await localClients(stack.env).store.loadConversation('acme', sessionId));
const sessionItem = (sessionId: string) => localClients(stack.env).store.requireSession('acme', sessionId);
const reportsOfSession = async (sessionId: string) =>
  (await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId);
const resumeEvent = (sessionId: string) => ({
  ...loadEvent('resume-request.json'),
  detail: { tenantId: 'acme', sessionId },
});

const REPORT = {
  name: 'create_optimization_report',
  input: { tenant_id: 'acme', title: 'Savings', findings: ['Idle batch server.'] },
};
const audit = { name: 'audit_billing_logs', input: { tenant_id: 'acme' } };

describe('tool calls on the local stack', () => {
  it('retries a tool failing 2 of 3 calls with full jitter and completes the goal', async () => {
    // Prepare
    const script: ModelScript = { turns: [{ toolUse: [audit] }, { text: 'Audited.' }] };

    // Act
    const summary = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: script,
      toolFaults: { audit_billing_logs: { failTimes: 2, error: 'ServiceUnavailable' } },
    });

    // Assess
    expect(summary.status).toBe('completed');
    const call = (await traceOf(sessionOf(summary))).turns[0]?.toolCalls[0];
    expect(call).toMatchObject({ status: 'succeeded', invocations: 3, attempts: 1 });
  });

  it('stops the model calling the same tool 7 times with the same arguments at the sixth call', async () => {
    // Prepare
    const script: ModelScript = {
      turns: [...Array.from({ length: 7 }, () => ({ toolUse: [audit] })), { text: 'Done.' }],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary.status).toBe('stopped');
    expect((await sessionItem(sessionOf(summary))).stopReason).toBe('loop_detected');
    const calls = (await traceOf(sessionOf(summary))).turns.flatMap((t) => t.toolCalls);
    expect(calls.filter((c) => c.status === 'succeeded')).toHaveLength(6);
  });

  it('coerces a string where the schema says integer, records the coercion, and the call succeeds', async () => {
    // Prepare
    const input = { tenant_id: 'acme', lookback_days: '14' };
    const script: ModelScript = {
      turns: [{ toolUse: [{ name: 'list_underutilized_resources', input }] }, { text: 'Listed.' }],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    const call = (await traceOf(sessionOf(summary))).turns[0]?.toolCalls[0];
    expect(call).toMatchObject({
      status: 'succeeded',
      input,
      coercedInput: { tenant_id: 'acme', lookback_days: 14 },
      coercions: [{ pointer: '/lookback_days', from: '14', to: 14 }],
    });
    expect(call?.result).toMatch(/"lookbackDays":14/);
  });

  it('returns an unfixable violation with its JSON pointer, and the corrected call succeeds', async () => {
    // Prepare
    const bad = { tenant_id: 'acme', lookback_days: 'thirty', region: 'eu' };
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'list_underutilized_resources', input: bad }] },
        {
          toolUse: [
            { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 30 } },
          ],
        },
        { text: 'Done.' },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    const [first, second] = (await traceOf(sessionOf(summary))).turns.map((t) => t.toolCalls[0]);
    expect(first).toMatchObject({ status: 'failed', errorKind: 'schema' });
    expect(first?.result).toContain('/lookback_days: expected integer, got a string');
    expect(first?.result).toContain('/region: unknown parameter');
    expect(second).toMatchObject({ status: 'succeeded' });
  });

  it('ends three bad calls in a row with schema_violations', async () => {
    // Prepare
    const bad = { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 999 } };
    const script: ModelScript = {
      turns: [{ toolUse: [bad] }, { toolUse: [bad] }, { toolUse: [bad] }, { text: 'Never asked.' }],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary).toMatchObject({ status: 'stopped', turns: 3 });
    expect((await sessionItem(sessionOf(summary))).stopReason).toBe('schema_violations');
  });

  it('answers a turn of 20 calls with the per-turn cap instead of stopping it as a loop', async () => {
    // Prepare: 20 calls of one tool with different windows; the cap (8) refuses the last 12 alike
    const calls = Array.from({ length: 20 }, (_, i) => ({
      name: 'list_underutilized_resources',
      input: { tenant_id: 'acme', lookback_days: i + 1 },
    }));
    const script: ModelScript = { turns: [{ toolUse: calls }, { text: 'Fewer calls next time.' }] };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    expect(summary).toMatchObject({ status: 'completed', output: 'Fewer calls next time.' });
    const recorded = (await traceOf(sessionOf(summary))).turns[0]?.toolCalls ?? [];
    expect(recorded.filter((c) => c.status === 'succeeded')).toHaveLength(8);
    expect(recorded.filter((c) => c.errorKind === 'limit')).toHaveLength(12);
    expect(recorded.at(-1)?.result).toMatch(/at most 8 tool calls per turn/);
  });
});

describe('side effects at most once per session', () => {
  it('records a report whose outcome was lost past every retry as unknown; asked again, it reuses the key', async () => {
    // Prepare: all three invocations store the report, then crash; the model asks again in the next turn
    const script: ModelScript = {
      turns: [{ toolUse: [REPORT] }, { toolUse: [REPORT] }, { text: 'Report stored.' }],
    };

    // Act
    const summary = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: script,
      toolFaults: { create_optimization_report: { crashAfterSideEffect: 3 } },
    });

    // Assess
    expect(summary.status).toBe('completed');
    const sessionId = sessionOf(summary);
    const [lost, again] = (await traceOf(sessionId)).turns.map((t) => t.toolCalls[0]);
    expect(lost).toMatchObject({ status: 'unknown', errorKind: 'lost', invocations: 3 });
    expect(lost?.result).toMatch(/may have happened: do not assume it failed/);
    expect(again).toMatchObject({ status: 'succeeded', invocations: 1 });
    expect(await reportsOfSession(sessionId)).toHaveLength(1);
    const conversation = await localClients(stack.env).store.loadConversation('acme', sessionId);
    const [k1, k2] = conversation.toolCalls.map((c) => c.idempotencyKey);
    expect(k2).toBe(k1);
  });

  it('crash after the side effect, the retry, a crashed RunTool attempt and a resume: exactly one report', async () => {
    // Prepare: the report tool crashes once after storing (the tool runner's retry answers with the same key),
    // then the model call of turn 2 is refused, which fails the goal.
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script: ModelScript = {
      turns: [{ toolUse: [REPORT] }, { text: 'Report stored.', error: 'ValidationException', times: 1 }],
    };
    const failed = await runGoal({
      stack,
      event,
      modelScript: script,
      toolFaults: { create_optimization_report: { crashAfterSideEffect: 1 } },
    });
    // A RunTool attempt that crashed after the side effect left its call started, its lease run out.
    const { doc, tableName } = localClients(stack.env);
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.toolCall('acme', sessionId, 1, 0),
        UpdateExpression: 'SET #status = :started, leaseUntil = :expired REMOVE #result, finishedAt',
        ExpressionAttributeNames: { '#status': 'status', '#result': 'result' },
        ExpressionAttributeValues: { ':started': 'started', ':expired': Date.now() - 1_000 },
      }),
    );

    // Act
    const resumed = await runGoal({ stack, event: resumeEvent(sessionId) });

    // Assess
    expect(failed.status).toBe('failed');
    expect(resumed).toMatchObject({ status: 'completed', output: 'Report stored.' });
    const call = (await traceOf(sessionId)).turns[0]?.toolCalls[0];
    expect(call).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(await reportsOfSession(sessionId)).toHaveLength(1);
  });
});
