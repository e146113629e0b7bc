/**
 * X-Ray on the local stack: a goal's functions trace through Powertools Tracer to the local daemon over UDP, and
 * the session leaves one trace (intake's, continued by Step Functions into every task) with one `## model`
 * subsegment per model call and one `## tool` subsegment per tool call, counted against the stored session.
 */
import type { ModelScript } from '../../local/bedrock/script';
import { EXIT, main } from '../../local/cli/main';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { readSegments, type Trace, type TraceNode, tracesOfSession, walk } from '../../local/xray/traces';
import { goalEvent, loadJson, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

/** The session's traces once its execution's segment (sent when the execution ends) has arrived. */
const settledTraces = async (sessionId: string): Promise<Trace[]> => {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const traces = tracesOfSession(readSegments(stack.xray.file), sessionId);
    const ended = traces.some((t) =>
      [...walk(t.roots)].some((n) => n.origin === 'AWS::StepFunctions::StateMachine'),
    );
    if (ended || Date.now() > deadline) {
      // Datagrams sent just before the execution ended (Finalize's) are on their way: one more moment.
      await new Promise((ok) => setTimeout(ok, 300));
      return tracesOfSession(readSegments(stack.xray.file), sessionId);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
};

const named = (nodes: TraceNode[], prefix: string) => nodes.filter((n) => n.name.startsWith(prefix));

describe('X-Ray traces of a goal', () => {
  it('has one trace per session with a model subsegment per model call and a tool subsegment per tool call', async () => {
    // Prepare
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });
    const sessionId = summary.sessionId as string;
    const traces = await settledTraces(sessionId);

    // Assess
    expect(summary.status).toBe('completed');
    const conversation = await localClients(stack.env).store.loadConversation('acme', sessionId);
    const modelCalls = conversation.messages.filter((m) => m.role === 'assistant');
    expect(traces).toHaveLength(1);
    const nodes = [...walk(traces[0]?.roots ?? [])];
    const models = named(nodes, '## model ');
    const tools = named(nodes, '## tool ');
    expect(models).toHaveLength(modelCalls.length);
    expect(tools).toHaveLength(conversation.toolCalls.length);
    expect(models.map((m) => [m.annotations.turn, m.name, m.annotations.modelId])).toEqual(
      modelCalls.map((m) => [m.turn, `## model ${m.modelId}`, m.modelId]),
    );
    expect(tools.map((t) => [t.annotations.turn, t.annotations.tool]).sort()).toEqual(
      conversation.toolCalls.map((c) => [c.turn, c.name]).sort(),
    );
    for (const node of [...models, ...tools]) {
      expect(node.annotations).toMatchObject({ sessionId, tenantId: 'acme' });
      expect(node.error || node.fault).toBe(false);
    }
  });

  it('prints the session as a tree with `sovereign-agent xray`, and exits 5 for a session without a trace', async () => {
    // Prepare
    const summary = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: loadJson<ModelScript>('events/model-scripts/billing-four-tools.json'),
    });
    const sessionId = summary.sessionId as string;
    await settledTraces(sessionId);
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((text) => {
      printed.push(String(text));
      return true;
    });
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const dataDir = process.env.SOVEREIGN_AGENT_DATA_DIR;
    process.env.SOVEREIGN_AGENT_DATA_DIR = stack.dataDir;

    // Act
    let codes: number[];
    try {
      codes = [await main(['xray', sessionId]), await main(['xray', 'no-such-session'])];
    } finally {
      write.mockRestore();
      stderr.mockRestore();
      if (dataDir === undefined) delete process.env.SOVEREIGN_AGENT_DATA_DIR;
      else process.env.SOVEREIGN_AGENT_DATA_DIR = dataDir;
    }

    // Assess
    expect(codes).toEqual([EXIT.ok, EXIT.noSession]);
    const lines = printed.join('').split('\n');
    expect(lines[0]).toMatch(/^trace 1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(lines[1]).toMatch(/^ {2}sovereign-agent-local-intake \(AWS::Lambda::Function\) {2}\d+ ms$/);
    expect(lines.filter((l) => /^ +## model .+ \d+ ms {2}\[sessionId=/.test(l))).toHaveLength(summary.turns);
    expect(
      lines.filter((l) => /^ +## tool .+ \d+ ms {2}\[sessionId=.* outcome=succeeded\]$/.test(l)),
    ).toHaveLength(summary.toolCalls);
  });

  it('nests each invocation under its own function segment, and the action group under its tool call', async () => {
    // Prepare: two tool calls of one turn run in parallel RunTool invocations (two worker threads).
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });
    const [trace] = await settledTraces(summary.sessionId as string);

    // Assess: intake is the root; the execution hangs under intake's StartExecution call.
    const roots = trace?.roots ?? [];
    expect(roots.map((r) => r.origin)).toEqual(['AWS::Lambda::Function']);
    const nodes = [...walk(roots)];
    const execution = nodes.find((n) => n.origin === 'AWS::StepFunctions::StateMachine');
    expect(execution?.children.every((c) => c.origin === 'AWS::Lambda::Function')).toBe(true);
    // Each function segment has exactly its own handler subsegment: _X_AMZN_TRACE_ID is per worker thread.
    const runTools = nodes.filter((n) => n.origin === 'AWS::Lambda::Function' && n.name.endsWith('-runTool'));
    expect(runTools).toHaveLength(4);
    for (const fn of runTools) expect(named(fn.children, '## functions/run-tool/')).toHaveLength(1);
    // RunTool's Lambda call carries the trace header: the action group's segment is a child of it.
    expect(named(nodes, '## tool ')).toHaveLength(4);
    for (const tool of named(nodes, '## tool ')) {
      const invoke = tool.children.find((c) => c.name === 'Lambda');
      expect(invoke?.children.map((c) => c.name)).toEqual(['sovereign-agent-local-billingActionGroup']);
    }
  });

  it('marks a tool call that failed past its retries (no fallback) as an error, with its outcome', async () => {
    // Prepare
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');

    // Act
    const summary = await runGoal({
      stack,
      event: goalEvent(),
      modelScript: script,
      toolFaults: { list_underutilized_resources: { failTimes: 10, error: 'ServiceUnavailable' } },
    });
    const [trace] = await settledTraces(summary.sessionId as string);

    // Assess
    const failed = named([...walk(trace?.roots ?? [])], '## tool list_underutilized_resources');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      error: true,
      annotations: { outcome: 'failed', errorKind: 'invocation' },
    });
    const attempts = failed[0]?.children.filter((c) => c.name === 'Lambda') ?? [];
    expect(attempts.length).toBeGreaterThan(1);
    expect(attempts.every((a) => a.children[0]?.fault === true)).toBe(true);
  });
});
