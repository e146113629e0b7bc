/**
 * Whole goals through the real ASL on the local stack: EventBridge PutEvents -> intake -> Step Functions
 * (aws-local-stepfunctions) -> Lambda handlers (esbuild bundles) -> DynamoDB Local -> Bedrock emulator.
 */
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { ModelScript } from '../../local/bedrock/script';
import { buildTrace } from '../../local/cli/inspect';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { goalEvent, loadEvent, loadJson, reportsOf, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const traceOf = async (tenantId: string, sessionId: string) =>
  buildTrace(await localClients(stack.env).store.loadConversation(tenantId, sessionId));

describe('a goal on the local stack', () => {
  it('completes the sample goal with the fixture model, calling the four billing tools', async () => {
    // Prepare
    const event = goalEvent();

    // Act
    const summary = await runGoal({ stack, event });

    // Assess
    expect(summary).toMatchObject({ status: 'completed', tenantId: 'acme', error: null });
    expect(summary.turns).toBeGreaterThanOrEqual(3);
    expect(summary.tokens.input).toBeGreaterThan(0);
    expect(summary.costUsd).toBeGreaterThan(0);
    const trace = await traceOf('acme', summary.sessionId as string);
    const called = trace.turns.flatMap((t) => t.toolCalls.map((c) => c.name));
    expect(new Set(called)).toEqual(
      new Set([
        'audit_billing_logs',
        'list_underutilized_resources',
        'get_contract_terms',
        'create_optimization_report',
      ]),
    );
    expect(trace.turns.flatMap((t) => t.toolCalls).every((c) => c.status === 'succeeded')).toBe(true);
    // The first turn plans on the planner tier (RCI > 70), the next extracts on the executor tier, and the turn
    // after the report was stored (a side effect) verifies on the planner tier (docs/models.md, Routing).
    expect(trace.turns.map((t) => [t.stepKind, t.tier])).toEqual([
      ['plan', 'planner'],
      ['extract', 'executor'],
      ['verify', 'planner'],
    ]);
    expect(summary.output).toBeTruthy();
  });

  it('runs a scripted session: four tools across turns, two of them in parallel, and stores one report', async () => {
    // Prepare
    const event = goalEvent();
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');
    const before = (await reportsOf(stack, 'acme')).length;

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    expect(summary.turns).toBe(4);
    expect(summary.toolCalls).toBe(4);
    const trace = await traceOf('acme', summary.sessionId as string);
    expect(trace.turns.map((t) => t.toolCalls.map((c) => c.name))).toEqual([
      ['audit_billing_logs'],
      ['list_underutilized_resources', 'get_contract_terms'],
      ['create_optimization_report'],
      [],
    ]);
    expect((await reportsOf(stack, 'acme')).length).toBe(before + 1);
  });

  it('rejects a malformed event with every problem named, and stores nothing', async () => {
    // Prepare
    const event = loadEvent('goal-invalid.json');

    // Act
    const summary = await runGoal({ stack, event });

    // Assess
    expect(summary.status).toBe('rejected');
    expect(summary.sessionId).toBeNull();
    expect(summary.error).toMatch(/tenantId/);
    expect(summary.error).toMatch(/goal/);
    expect(summary.error).toMatch(/dataClassification/);
  });

  it('starts one execution for a duplicated delivery of the same goal', async () => {
    // Prepare
    const event = goalEvent();

    // Act
    const [first, second] = await Promise.all([runGoal({ stack, event }), runGoal({ stack, event })]);

    // Assess
    expect(first.status).toBe('completed');
    expect(second.sessionId).toBe(first.sessionId);
    const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
    const executions = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: stack.env.STATE_MACHINE_ARN }),
    );
    const mine = (executions.executions ?? []).filter((e) => e.name?.includes(first.sessionId as string));
    expect(mine).toHaveLength(1);
  });

  it('returns a failing tool to the model as an error result and still completes', async () => {
    // Prepare: a tool without a fallback fails more often than the tool runner retries (3 attempts)
    const event = goalEvent();

    // Act
    const summary = await runGoal({
      stack,
      event,
      toolFaults: { list_underutilized_resources: { failTimes: 10, error: 'ServiceUnavailable' } },
    });

    // Assess
    expect(summary.status).toBe('completed');
    const trace = await traceOf('acme', summary.sessionId as string);
    const audit = trace.turns
      .flatMap((t) => t.toolCalls)
      .find((c) => c.name === 'list_underutilized_resources');
    expect(audit).toMatchObject({ status: 'failed', errorKind: 'invocation', attempts: 1, invocations: 3 });
    expect(audit?.result).toMatch(/failed after 3 attempts/);
    const seen = stack.bedrock.calls().filter((c) => c.sessionId === summary.sessionId);
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it('feeds parameters that break the schema back to the model, which corrects them', async () => {
    // Prepare
    const event = goalEvent();
    const script: ModelScript = {
      turns: [
        {
          toolUse: [
            { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 'thirty' } },
          ],
        },
        {
          toolUse: [
            { name: 'list_underutilized_resources', input: { tenant_id: 'acme', lookback_days: 30 } },
          ],
        },
        { text: 'Done.' },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    const trace = await traceOf('acme', summary.sessionId as string);
    expect(trace.turns[0]?.toolCalls[0]).toMatchObject({ status: 'failed', errorKind: 'schema' });
    expect(trace.turns[0]?.toolCalls[0]?.result).toMatch(/lookback_days/);
    expect(trace.turns[1]?.toolCalls[0]).toMatchObject({ status: 'succeeded' });
  });

  it('survives Bedrock throttling through the SDK retries', async () => {
    // Prepare
    const event = goalEvent();
    const script: ModelScript = {
      turns: [{ text: 'Nothing to do.', error: 'ThrottlingException', times: 2 }],
    };

    // Act
    const summary = await runGoal({ stack, event, modelScript: script });

    // Assess
    expect(summary.status).toBe('completed');
    const calls = stack.bedrock.calls().filter((c) => c.sessionId === summary.sessionId);
    expect(calls.map((c) => c.status)).toEqual([429, 429, 200]);
  });

  it('stops at the USD budget with status stopped', async () => {
    // Prepare: a budget smaller than one planner turn costs
    const event = goalEvent({ constraints: { usdBudget: 0.0001 } });

    // Act
    const summary = await runGoal({ stack, event });

    // Assess
    expect(summary.status).toBe('stopped');
    expect(summary.output).toMatch(/USD budget/);
    // The first turn's worst case is reserved before the call: a budget that cannot fund it makes no call at all.
    expect(summary.turns).toBe(0);
    expect(stack.bedrock.calls().filter((c) => c.sessionId === summary.sessionId)).toEqual([]);
  });

  it('does not repeat a side effect when the report tool crashes after storing its report', async () => {
    // Prepare
    const event = goalEvent();
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');
    const before = (await reportsOf(stack, 'acme')).length;

    // Act
    const summary = await runGoal({
      stack,
      event,
      modelScript: script,
      toolFaults: { create_optimization_report: { crashAfterSideEffect: 1 } },
    });

    // Assess
    expect(summary.status).toBe('completed');
    const trace = await traceOf('acme', summary.sessionId as string);
    const report = trace.turns
      .flatMap((t) => t.toolCalls)
      .find((c) => c.name === 'create_optimization_report');
    expect(report?.status).toBe('succeeded');
    expect((await reportsOf(stack, 'acme')).length).toBe(before + 1);
  });
});

describe('a failed goal', () => {
  it('fails with a resumable checkpoint and resumes from its last committed turn without repeating tools', async () => {
    // Prepare: turn 1 calls a tool; the model then rejects turn 2 once (not retryable), which fails the goal.
    const event = goalEvent();
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script: ModelScript = {
      turns: [
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'Audit done after the resume.', error: 'ValidationException', times: 1 },
      ],
    };
    const failed = await runGoal({ stack, event, modelScript: script });
    const auditsBefore = stack.lambda
      .invocations()
      .filter((i) => i.functionName.endsWith('billingActionGroup')).length;

    // Act
    const resumed = await runGoal({
      stack,
      event: { ...loadEvent('resume-request.json'), detail: { tenantId: 'acme', sessionId } },
    });

    // Assess
    expect(failed).toMatchObject({ status: 'failed', turns: 1 });
    expect(failed.error).toMatch(/ModelRequestError/);
    expect(resumed).toMatchObject({ status: 'completed', turns: 2, toolCalls: 1, error: null });
    expect(resumed.output).toBe('Audit done after the resume.');
    const auditsAfter = stack.lambda
      .invocations()
      .filter((i) => i.functionName.endsWith('billingActionGroup')).length;
    expect(auditsAfter).toBe(auditsBefore);
  });

  it('rejects a resume of a session that did not fail', async () => {
    // Prepare
    const event = goalEvent();
    const done = await runGoal({ stack, event, modelScript: { turns: [{ text: 'ok' }] } });

    // Act
    const resumed = await runGoal({
      stack,
      event: { ...loadEvent('resume-request.json'), detail: { tenantId: 'acme', sessionId: done.sessionId } },
    });

    // Assess
    expect(done.status).toBe('completed');
    expect(resumed.status).toBe('rejected');
    expect(resumed.error).toMatch(/completed, not failed/);
  });
});
