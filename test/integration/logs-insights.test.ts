/**
 * The local Logs Insights runner on a real goal's logs: the sample goal runs on the local stack (real ASL, Lambda
 * sandboxes, DynamoDB Local), then the seed's slow-tools query and others run over `.local/logs` through the runner,
 * and each answer is checked against what is recomputed here from the raw log lines.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
    // The trace records give one row per tool (one call each in this goal) and one row, toolName empty, of the
    // goal's four model calls (they carry no "function").
    const tools = rows.filter((r) => r.toolName !== null);
    expect(tools.map((r) => r.toolName).sort()).toEqual([
      'audit_billing_logs',
      'create_optimization_report',
      'get_contract_terms',
      'list_underutilized_resources',
    ]);
    expect(tools.every((r) => r.executionCount === 1)).toBe(true);
    expect(tools.find((r) => r.toolName === 'audit_billing_logs')?.avgLatency).toBeGreaterThanOrEqual(400);
    expect(rows.find((r) => r.toolName === null)?.executionCount).toBe(4);
  });

  it('averages the REPORT durations per function (an inner glob *, stats by @log) as the raw REPORT lines give them', () => {
    // Prepare: the local Lambda's REPORT line per invocation, as Lambda writes it.
    const queryText = `filter @message like /^REPORT RequestId:/
| parse @message 'Duration: * ms' as durationMs
| stats avg(durationMs) as avgDuration, max(durationMs) as maxDuration, count() as invocations by @log
| sort avgDuration desc`;

    // Act
    const { rows } = runLogsQuery(stack.dataDir, stack.config, { queryText });

    // Assess: recomputed from each file's REPORT lines (the first Duration, not Billed Duration).
    const dir = join(stack.dataDir, 'logs');
    const expected = Object.values(stack.config.functions)
      .map((fn) => {
        const file = join(dir, `${fn.key}.log`);
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        const durations = [...text.matchAll(/^REPORT RequestId: \S+\tDuration: ([\d.]+) ms/gm)].map((m) =>
          Number(m[1]),
        );
        return { '@log': `000000000000:/aws/lambda/${fn.name}`, durations };
      })
      .filter((g) => g.durations.length > 0)
      .map((g) => ({
        '@log': g['@log'],
        avgDuration: mean(g.durations),
        maxDuration: Math.max(...g.durations),
        invocations: g.durations.length,
      }))
      .sort((a, b) => b.avgDuration - a.avgDuration);
    expect(rows.map((r) => ({ ...r, avgDuration: Number((r.avgDuration as number).toFixed(6)) }))).toEqual(
      expected.map((e) => ({ ...e, avgDuration: Number(e.avgDuration.toFixed(6)) })),
    );
    // RunTool, Plan, the billing action group at least; the delayed audit call makes the action group's max >= 400 ms.
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const billing = rows.find((r) =>
      String(r['@log']).endsWith(`/${stack.config.functions.billingActionGroup?.name}`),
    );
    expect(billing?.maxDuration).toBeGreaterThanOrEqual(400);
  });

  it('gives each line the @log and @logStream of the invocation the local Lambda ran', () => {
    // Act: the action group's own lines (one per call) of this session.
    const { rows } = runLogsQuery(stack.dataDir, stack.config, {
      queryText: 'fields @log, @logStream, function_request_id | filter message like /^Billing tool call/',
      session: sessionId,
    });

    // Assess: the streams are those of the action group's invocations for this session, by request id.
    const billing = stack.config.functions.billingActionGroup;
    const invoked = stack.lambda
      .invocations()
      .filter((r) => r.functionName === billing?.name && r.sessionId === sessionId);
    expect(invoked).toHaveLength(4);
    expect(rows).toHaveLength(invoked.length);
    expect(new Set(rows.map((r) => r['@log']))).toEqual(
      new Set([`000000000000:/aws/lambda/${billing?.name}`]),
    );
    expect(new Set(rows.map((r) => r['@logStream']))).toEqual(
      new Set(invoked.map((r) => logStreamNameOf(r.requestId))),
    );
    expect(rows.every((r) => r['@logStream'] === logStreamNameOf(String(r.function_request_id)))).toBe(true);
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
