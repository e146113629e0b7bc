import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logStreamNameOf } from '../../local/lambda/invocations';
import { eventsOfLog, flattenJson, readLambdaLogEvents } from '../../local/logs-insights/log-source';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const GROUP = { logGroupName: '/aws/lambda/sovereign-agent-local-runTool', accountId: '000000000000' };

/** Two overlapping invocations of one function, as the local Lambda writes them into one file. */
const INTERLEAVED = [
  `START RequestId: ${A} Version: $LATEST`,
  `START RequestId: ${B} Version: $LATEST`,
  'INIT_REPORT Init Duration: 159.61 ms',
  `{"level":"INFO","message":"Tool call","timestamp":"2026-12-02T05:18:18.046Z","function_request_id":"${A}","trace":{"kind":"tool"},"latencyMs":12}`,
  `END RequestId: ${A}`,
  `REPORT RequestId: ${A}\tDuration: 1024.31 ms`,
  `{"level":"INFO","message":"Tool call","timestamp":"2026-12-02T05:18:18.148Z","function_request_id":"${B}"}`,
  'a plain console line',
  `END RequestId: ${B}`,
].join('\n');

describe('the local Lambda logs as Logs Insights events', () => {
  it('puts each line in its invocation stream, by its own request id or the invocation still open', () => {
    // Act
    const events = eventsOfLog(INTERLEAVED, GROUP, 0);

    // Assess
    const a = logStreamNameOf(A);
    const b = logStreamNameOf(B);
    expect(events.map((e) => e.get('@logStream'))).toEqual([a, b, b, a, a, a, b, b, b]);
    expect(a).toBe('local/[$LATEST]11111111111141118111111111111111');
  });

  it('gives @log as account:group, @message the raw line, @timestamp the line time or the nearest timed line', () => {
    // Act
    const events = eventsOfLog(INTERLEAVED, GROUP, 0);

    // Assess
    expect(new Set(events.map((e) => e.get('@log')))).toEqual(
      new Set(['000000000000:/aws/lambda/sovereign-agent-local-runTool']),
    );
    expect(events[3]?.get('@message')).toBe(INTERLEAVED.split('\n')[3]);
    const t1 = Date.parse('2026-12-02T05:18:18.046Z');
    const t2 = Date.parse('2026-12-02T05:18:18.148Z');
    expect(events.map((e) => e.get('@timestamp'))).toEqual([t1, t1, t1, t1, t1, t1, t2, t2, t2]);
  });

  it('discovers JSON fields, nested ones flattened with dots; lines that are not JSON have only the @ fields', () => {
    // Act
    const events = eventsOfLog(INTERLEAVED, GROUP, 0);

    // Assess
    expect(events[3]?.get('trace.kind')).toBe('tool');
    expect(events[3]?.get('latencyMs')).toBe(12);
    expect([...(events[7]?.keys() ?? [])].sort()).toEqual(['@log', '@logStream', '@message', '@timestamp']);
    expect(flattenJson({ a: { b: [1, { c: null }] } })).toEqual(
      new Map<string, unknown>([
        ['a.b.0', 1],
        ['a.b.1.c', null],
      ]),
    );
  });

  it('reads <logDir>/<key>.log per function, skips functions without a file, uses the file time when no line is timed', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'logs-insights-'));
    try {
      writeFileSync(join(dir, 'plan.log'), `START RequestId: ${A} Version: $LATEST\nEND RequestId: ${A}\n`);

      // Act
      const events = readLambdaLogEvents(
        dir,
        [
          { key: 'plan', name: 'sovereign-agent-local-plan' },
          { key: 'runTool', name: 'sovereign-agent-local-runTool' },
        ],
        '000000000000',
      );

      // Assess
      expect(events).toHaveLength(2);
      expect(events[0]?.get('@log')).toBe('000000000000:/aws/lambda/sovereign-agent-local-plan');
      expect(Math.abs((events[0]?.get('@timestamp') as number) - Date.now())).toBeLessThan(60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
