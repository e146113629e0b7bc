/**
 * Human approval on the local stack (real ASL with a `.waitForTaskToken` Task, DynamoDB Local, the Lambda, bus and
 * Bedrock stand-ins): a goal whose profile (billing-auditor-approval) requires approval for
 * create_optimization_report pauses awaiting_approval with Agent Action Approval Requested; `approve` (PutEvents of
 * Agent Action Approved, as the CLI sends it) runs the call; `deny` and expiry give the model a refused result, and
 * the goal completes either way. Decisions on unknown, decided or expired calls are refused.
 */
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { ModelScript } from '../../local/bedrock/script';
import { approvalStoreOf, decideCall } from '../../local/cli/approvals';
import { buildTrace } from '../../local/cli/inspect';
import { resumeSession } from '../../local/cli/resume';
import { localClients, type RunSummary, runGoal } from '../../local/cli/run-goal';
import { fetchBusEvents } from '../../local/eventbridge/service';
import type { LocalStack } from '../../local/stack/start';
import { buildMessages } from '../../shared/agent/conversation';
import { APPROVAL_REQUESTED } from '../../shared/contracts/lifecycle-events';
import { goalEvent, reportsOf, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

const clients = () => localClients(stack.env);
const REPORT = {
  name: 'create_optimization_report',
  input: { tenant_id: 'acme', title: 'Savings', findings: ['Idle batch server.'] },
};
const script: ModelScript = {
  turns: [
    { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }, REPORT] },
    { text: 'Done.' },
  ],
};

const until = async <T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** Starts the goal (runGoal watches it until it ends) and waits until its report call awaits a person. */
const startAwaiting = async (constraints: Record<string, unknown> = {}) => {
  const event = goalEvent({
    agent: 'billing-auditor-approval',
    constraints: { maxTurns: 6, usdBudget: 0.5, ...constraints },
  });
  const sessionId = (event.detail as { goalId: string }).goalId;
  const progress: string[] = [];
  const finished: Promise<RunSummary> = runGoal({
    stack,
    event,
    modelScript: script,
    onProgress: (line) => progress.push(line),
  });
  const pending = await until('the report call to await approval', async () => {
    const [first] = await approvalStoreOf(clients()).list('acme', sessionId, 'pending');
    return first;
  });
  return { sessionId, finished, pending, progress };
};

const requestedEvents = async (sessionId: string) =>
  (await fetchBusEvents(stack.env.AWS_ENDPOINT_URL_EVENTBRIDGE as string))
    .map((r) => r.event)
    .filter((e) => e['detail-type'] === APPROVAL_REQUESTED && e.detail.sessionId === sessionId);

const reportCallOf = async (sessionId: string) => {
  const conversation = await clients().store.loadConversation('acme', sessionId);
  const call = buildTrace(conversation)
    .turns.flatMap((t) => t.toolCalls)
    .find((c) => c.name === REPORT.name);
  return { conversation, call };
};

/** The toolResult the model is sent in the next turn for the report call (what Plan builds from the table). */
const resultSentToModel = (conversation: Parameters<typeof buildMessages>[0], callId: string) =>
  buildMessages(conversation)
    .flatMap((m) => m.content ?? [])
    .find((b) => b.toolResult?.toolUseId === callId)?.toolResult;

const decide = (sessionId: string, callId: string, decision: 'approved' | 'denied', reason?: string) =>
  clients()
    .store.requireSession('acme', sessionId)
    .then((session) =>
      decideCall(stack.env, clients(), {
        session,
        callId,
        decision,
        ...(reason ? { reason } : {}),
        timeoutMs: 20_000,
      }),
    );

describe('a tool call that requires approval', () => {
  it('pauses awaiting_approval with the Requested event, and runs when approved', async () => {
    // Prepare
    const { sessionId, finished, pending, progress } = await startAwaiting();

    // Assess: paused, announced, not run yet; `run` tells how to decide
    await until('run to show the approval', async () =>
      progress.find((l) => l.includes(`sovereign-agent approve|deny ${sessionId} ${pending.callId}`)),
    );
    const session = await clients().store.requireSession('acme', sessionId);
    expect(session).toMatchObject({ status: 'awaiting_approval', pendingApprovals: 1 });
    const [requested] = await until('the Requested event', async () => {
      const found = await requestedEvents(sessionId);
      return found.length > 0 ? found : undefined;
    });
    expect(requested?.detail).toMatchObject({
      tenantId: 'acme',
      sessionId,
      callId: pending.callId,
      tool: REPORT.name,
      actionGroup: 'billing',
      input: REPORT.input,
      expiresAt: new Date(pending.deadline).toISOString(),
    });
    expect(requested?.detail).not.toHaveProperty('taskToken');
    // It reaches a person: costAlert publishes it to the alert topic with the call and how to answer.
    const alert = await until('the approval alert on the topic', async () =>
      stack.sns.messages().find((m) => m.message.includes(`approve|deny ${sessionId} ${pending.callId}`)),
    );
    expect(alert.subject).toBe(`[sovereign-agent] acme: approve ${REPORT.name}?`);
    expect(alert.topicArn).toMatch(/:sovereign-agent-local-cost-alerts$/);
    expect(await reportsOf(stack, 'acme')).not.toContainEqual(expect.objectContaining({ sessionId }));

    // Act
    const decided = await decide(sessionId, pending.callId, 'approved');
    const summary = await finished;

    // Assess: the call ran, the goal completed, the session is running again before Finalize
    expect(decided).toMatchObject({ status: 'approved', decidedBy: expect.stringMatching(/^cli:/) });
    expect(summary.status).toBe('completed');
    const reports = (await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId);
    expect(reports).toHaveLength(1);
    const { call } = await reportCallOf(sessionId);
    expect(call).toMatchObject({ status: 'succeeded' });
    expect((await clients().store.requireSession('acme', sessionId)).pendingApprovals).toBe(0);
    // What the approval costs: the two calls' turn is 7 transitions (Choice, Map, NeedsApproval x2, RequestApproval,
    // RunApprovedTool x2) against 4 without approvals (Choice, Map, RunTool x2); 13 for the goal in all.
    const { executionArn } = await clients().store.requireSession('acme', sessionId);
    const record = stack.stepFunctions.executions().find((e) => e.executionArn === executionArn);
    expect(record?.stateTransitions).toBe(13);
  });

  it('is skipped when denied: no report, the model gets a refused result with the reason, the goal completes', async () => {
    // Prepare
    const { sessionId, finished, pending } = await startAwaiting();

    // Act
    await decide(sessionId, pending.callId, 'denied', 'not before the quarter closes');
    const summary = await finished;

    // Assess
    expect(summary.status).toBe('completed');
    expect((await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId)).toHaveLength(0);
    const { conversation, call } = await reportCallOf(sessionId);
    expect(call).toMatchObject({ status: 'failed', errorKind: 'denied', invocations: 0 });
    const sent = resultSentToModel(conversation, pending.callId);
    expect(sent?.status).toBe('error');
    expect(JSON.stringify(sent?.content)).toMatch(
      /Refused: cli:.+ denied create_optimization_report: not before the quarter closes/,
    );
    // The audit call of the same turn ran as usual.
    expect(
      buildTrace(conversation).turns[0]?.toolCalls.find((c) => c.name === 'audit_billing_logs'),
    ).toMatchObject({
      status: 'succeeded',
    });
    // A second decision on the same call is refused, with the reason.
    await expect(decide(sessionId, pending.callId, 'approved')).rejects.toThrow(
      `Call ${pending.callId} was already denied by cli:`,
    );
  });

  it('expires after the approval timeout: refused as expired, no report, the goal completes', async () => {
    // Prepare: the goal shortens the profile's hour to 2 s
    const { sessionId, finished, pending } = await startAwaiting({ approvalTimeoutSeconds: 2 });
    expect(pending.deadline - Date.parse(pending.requestedAt)).toBeLessThanOrEqual(2_000);

    // Act
    const summary = await finished;

    // Assess
    expect(summary.status).toBe('completed');
    expect((await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId)).toHaveLength(0);
    const { conversation, call } = await reportCallOf(sessionId);
    expect(call).toMatchObject({ status: 'failed', errorKind: 'expired', invocations: 0 });
    expect(JSON.stringify(resultSentToModel(conversation, pending.callId)?.content)).toMatch(
      /Refused: create_optimization_report needed a person's approval, which expired at/,
    );
    expect((await approvalStoreOf(clients()).get('acme', sessionId, pending.callId))?.status).toBe('expired');
    await expect(decide(sessionId, pending.callId, 'approved')).rejects.toThrow('Call');
  });

  it('refuses a decision on a call that does not wait for one', async () => {
    const { sessionId, finished, pending } = await startAwaiting();
    await expect(decide(sessionId, 'tooluse_nope', 'approved')).rejects.toThrow(
      `Session ${sessionId} has no call tooluse_nope waiting for approval`,
    );
    await decide(sessionId, pending.callId, 'approved');
    expect((await finished).status).toBe('completed');
  });

  it('asks again after a resume when its execution ended while waiting; the finished call is not run again', async () => {
    // Prepare: the execution is stopped while the report waits; the reconciler fails the session
    const { sessionId, finished, pending } = await startAwaiting();
    const { executionArn } = await clients().store.requireSession('acme', sessionId);
    const sfn = new SFNClient({ endpoint: stack.env.AWS_ENDPOINT_URL_SFN });
    await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'OperatorStop', cause: 'stopped by a test' }),
    );
    sfn.destroy();
    expect((await finished).status).toBe('failed');

    // Act: resume; the report call waits for a person again (a new token), then is approved
    const resumed = resumeSession(clients(), { stack, sessionId, tenantId: 'acme' });
    const again = await until('the report call to be asked again', async () => {
      const [item] = await approvalStoreOf(clients()).list('acme', sessionId, 'pending');
      return item && item.taskToken !== pending.taskToken ? item : undefined;
    });
    expect(await clients().store.requireSession('acme', sessionId)).toMatchObject({
      status: 'awaiting_approval',
      pendingApprovals: 1,
    });
    await decide(sessionId, again.callId, 'approved');

    // Assess
    expect((await resumed)?.status).toBe('completed');
    expect((await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId)).toHaveLength(1);
    const calls = buildTrace((await reportCallOf(sessionId)).conversation).turns[0]?.toolCalls ?? [];
    expect(calls.map((c) => [c.name, c.status, c.attempts])).toEqual([
      ['audit_billing_logs', 'succeeded', 1],
      [REPORT.name, 'succeeded', 1],
    ]);
  });
});
