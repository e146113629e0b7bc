/**
 * The local Logs Insights runner on a real goal's logs: the sample goal runs on the local stack (real ASL, Lambda
 * sandboxes, DynamoDB Local), then the seed's slow-tools query and others run over `.local/logs` through the runner,
 * and each answer is checked against what is recomputed here from the raw log lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelScript } from '../../local/bedrock/script';
import { runLogsQuery } from '../../local/cli/logs';
import { runGoal } from '../../local/cli/run-goal';
import { logStreamNameOf } from '../../local/lambda/invocations';
import { readSavedQuery } from '../../local/logs-insights/queries';
import type { LocalStack } from '../../local/stack/start';
import { goalEvent, loadJson, startTestStack } from './helpers';

jest.setTimeout(120_000);

let stack: LocalStack;
let sessionId: string;

/** Every line of every local Lambda log, parsed when it is JSON. */
const rawJsonLines = (): Record<string, unknown>[] => {
  const dir = join(stack.dataDir, 'logs');
  return readdirSync(dir)
    .flatMap((file) => readFileSync(join(dir, file), 'utf8').split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
};

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** Groups lines by the key, averaging a numeric field, as `stats avg(f), count() by ...` should. */
const averages = (
  lines: Record<string, unknown>[],
  key: (l: Record<string, unknown>) => string[],
  field: string,
) => {
  const groups = new Map<string, number[]>();
  for (const line of lines) {
    const k = JSON.stringify(key(line));
    groups.set(k, [...(groups.get(k) ?? []), line[field] as number]);
  }
  return [...groups].map(([k, values]) => ({
    key: JSON.parse(k) as string[],
    avg: mean(values),
    count: values.length,
  }));
};

beforeAll(async () => {
  stack = await startTestStack();
  const summary = await runGoal({
    stack,
    event: goalEvent(),
    modelScript: loadJson<ModelScript>('events/model-scripts/billing-four-tools.json'),
    // A delay on one tool so that tool latencies differ by something a reader would notice.
    toolFaults: { audit_billing_logs: { delayMs: 400 } },
  });
  expect(summary.status).toBe('completed');
  sessionId = summary.sessionId as string;
});

afterAll(async () => {
  await stack?.stop();
});

describe('Logs Insights over the local logs of a goal', () => {
  it('runs the seed slow-tools query (threshold lowered in its text) and matches the raw trace records', () => {
    // Prepare: the saved query, its 1500 ms threshold rewritten so that every group shows.
    const seed = readSavedQuery('slow-tools');
    expect(seed).toContain('| filter avgLatency > 1500\n');
    const queryText = seed.replace('filter avgLatency > 1500', 'filter avgLatency > -1');

    // Act
    const { rows } = runLogsQuery(stack.dataDir, stack.config, { queryText, session: sessionId });

    // Assess: recomputed from the raw lines: those with "trace" or "exception", by top-level function and session.
    const traced = rawJsonLines().filter(
      (l) =>
        l.sessionId === sessionId && ('trace' in l || 'exception' in l) && typeof l.latencyMs === 'number',
    );
    const expected = averages(
      traced,
      (l) => [(l.function as string) ?? null, l.sessionId as string],
      'latencyMs',
    )
      .map((g) => ({ toolName: g.key[0], sessionId: g.key[1], avgLatency: g.avg, executionCount: g.count }))
      .sort((a, b) => b.avgLatency - a.avgLatency);
    expect(rows).toEqual(expected);
    // Tightened at merge, once H1's trace records are on main (one "Tool call" record per call from RunTool, one
    // "Model call" record per Converse call): the four billing tools each give a row (toolName = the OpenAPI
    // operation, executionCount 1), audit_billing_logs first with avgLatency >= 400 (the injected delay), and one
    // toolName-null row for the model calls. Until then no line carries "trace" and both sides are empty.
  });

  it('averages the latencies the action group logs today, one row per tool, each line in its invocation stream', () => {
    // Prepare: the seed's parse of latencyMs (its trailing * takes "61}") over the lines that carry latencyMs today.
    const queryText = `filter message like /^Billing tool call/
| parse @message '"latencyMs":*' as latencyMs
| stats avg(latencyMs) as avgLatency, count() as calls by tool, sessionId
| sort avgLatency desc`;

    // Act
    const { rows } = runLogsQuery(stack.dataDir, stack.config, { queryText, session: sessionId });

    // Assess
    const lines = rawJsonLines().filter(
      (l) => l.sessionId === sessionId && String(l.message).startsWith('Billing tool call'),
    );
    const expected = averages(lines, (l) => [l.tool as string, l.sessionId as string], 'latencyMs')
      .map((g) => ({ tool: g.key[0], sessionId: g.key[1], avgLatency: g.avg, calls: g.count }))
      .sort((a, b) => b.avgLatency - a.avgLatency);
    expect(rows).toEqual(expected);
    expect(new Set(rows.map((r) => r.tool))).toEqual(
      new Set([
        'audit_billing_logs',
        'list_underutilized_resources',
        'get_contract_terms',
        'create_optimization_report',
      ]),
    );
  });

  it('gives each line the @log and @logStream of the invocation the local Lambda ran', () => {
    // Act
    const { rows } = runLogsQuery(stack.dataDir, stack.config, {
      queryText: 'fields @log, @logStream, tool | filter message like /^Billing tool call/',
      session: sessionId,
    });

    // Assess: the streams are those of the action group's invocations for this session, by request id.
    const billing = stack.config.functions.billingActionGroup;
    const invoked = stack.lambda
      .invocations()
      .filter((r) => r.functionName === billing?.name && r.sessionId === sessionId);
    expect(rows).toHaveLength(invoked.length);
    expect(new Set(rows.map((r) => r['@log']))).toEqual(
      new Set([`000000000000:/aws/lambda/${billing?.name}`]),
    );
    expect(new Set(rows.map((r) => `${r['@logStream']} ${r.tool}`))).toEqual(
      new Set(invoked.map((r) => `${logStreamNameOf(r.requestId)} ${r.tool}`)),
    );
  });

  it('the default query lists every trace and exception line of the session, oldest first', () => {
    // Act
    const { rows } = runLogsQuery(stack.dataDir, stack.config, { session: sessionId });

    // Assess
    const raw = rawJsonLines().filter((l) => l.sessionId === sessionId && ('trace' in l || 'exception' in l));
    expect(rows).toHaveLength(raw.length);
    const times = rows.map((r) => String(r['@timestamp']));
    expect(times).toEqual([...times].sort());
  });
});
