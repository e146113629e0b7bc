/**
 * Input limits on the local stack, each with a clear error: an event over MAX_EVENT_BYTES and a goal over
 * MAX_GOAL_CHARS are rejected by intake (an Agent Goal Rejected event; the CLI exits 2 on it), a tool input over
 * MAX_TOOL_INPUT_BYTES is refused before invocation, and a tool answer over MAX_TOOL_OUTPUT_BYTES reaches the model
 * cut to the limit with a marker. (Context size and tool calls per turn: tenants.test.ts and tool-calls.test.ts.)
 */
import type { ModelScript } from '../../local/bedrock/script';
import { localClients, runGoal } from '../../local/cli/run-goal';
import type { LocalStack } from '../../local/stack/start';
import { goalEvent, reportsOf, startTestStack } from './helpers';

jest.setTimeout(120_000);

const MAX_EVENT_BYTES = 4096;
const MAX_GOAL_CHARS = 300;
const MAX_TOOL_INPUT_BYTES = 1024;
const MAX_TOOL_OUTPUT_BYTES = 600;

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    functionEnvironment: {
      intake: { MAX_EVENT_BYTES: String(MAX_EVENT_BYTES), MAX_GOAL_CHARS: String(MAX_GOAL_CHARS) },
      runTool: {
        MAX_TOOL_INPUT_BYTES: String(MAX_TOOL_INPUT_BYTES),
        MAX_TOOL_OUTPUT_BYTES: String(MAX_TOOL_OUTPUT_BYTES),
      },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const callsOf = async (sessionId: string) =>
  (await localClients(stack.env).store.loadConversation('acme', sessionId)).toolCalls;

describe('input limits', () => {
  it('rejects an event over MAX_EVENT_BYTES with its size and the limit, and starts no session', async () => {
    // Act
    const summary = await runGoal({ stack, event: goalEvent({ context: { notes: 'n'.repeat(5000) } }) });

    // Assess
    expect(summary.status).toBe('rejected');
    expect(summary.error).toMatch(
      new RegExp(`^event is \\d+ bytes, over the limit of ${MAX_EVENT_BYTES} bytes`),
    );
  });

  it('rejects a goal over MAX_GOAL_CHARS with its length and the limit', async () => {
    // Act
    const summary = await runGoal({ stack, event: goalEvent({ goal: 'Audit the bill. '.repeat(30) }) });

    // Assess
    expect(summary.status).toBe('rejected');
    // 480 characters, 479 once the schema trims the trailing space
    expect(summary.error).toMatch(`goal is 479 characters, over the limit of ${MAX_GOAL_CHARS}`);
  });

  it('refuses a tool input over MAX_TOOL_INPUT_BYTES before invoking it, and cuts an answer over MAX_TOOL_OUTPUT_BYTES', async () => {
    // Prepare: a report whose findings are over the input limit, then an audit whose answer is over the output limit
    const findings = Array.from(
      { length: 3 },
      (_, i) => `Finding ${i}: ${'the batch server idles. '.repeat(20)}`,
    );
    const script: ModelScript = {
      turns: [
        {
          toolUse: [
            { name: 'create_optimization_report', input: { tenant_id: 'acme', title: 'Big', findings } },
          ],
        },
        { toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme' } }] },
        { text: 'Done.' },
      ],
    };

    // Act
    const summary = await runGoal({ stack, event: goalEvent(), modelScript: script });

    // Assess
    const sessionId = summary.sessionId as string;
    expect(summary.status).toBe('completed');
    const [report, audit] = await callsOf(sessionId);
    expect(report).toMatchObject({ status: 'failed', errorKind: 'limit', invocations: 0 });
    expect(report?.result).toMatch(
      new RegExp(
        `^Not run: the input of create_optimization_report is \\d+ bytes, over the limit of ${MAX_TOOL_INPUT_BYTES} bytes`,
      ),
    );
    expect((await reportsOf(stack, 'acme')).filter((r) => r.sessionId === sessionId)).toEqual([]);
    expect(audit).toMatchObject({ status: 'succeeded', invocations: 1 });
    const [kept, marker] = (audit?.result ?? '').split('\n[');
    expect(Buffer.byteLength(kept ?? '', 'utf8')).toBeLessThanOrEqual(MAX_TOOL_OUTPUT_BYTES);
    expect(marker).toMatch(
      new RegExp(
        `^tool output truncated: \\d+ of \\d+ bytes kept; the limit is ${MAX_TOOL_OUTPUT_BYTES} bytes\\]$`,
      ),
    );
  });
});
