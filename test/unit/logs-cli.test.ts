/** `sovereign-agent logs`: which query the flags pick, and the table and JSON it prints, over a data dir's logs. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogsResult, LogsCommandError, queryTextOf, runLogsQuery } from '../../local/cli/logs';
import { main } from '../../local/cli/main';
import { LogsInsightsQueryError } from '../../local/logs-insights/errors';
import { DEFAULT_QUERY, readSavedQuery } from '../../local/logs-insights/queries';
import type { ServerlessConfig } from '../../local/stack/serverless-config';
import { toolCallLine } from '../helpers/trace-lines';

const config = {
  accountId: '000000000000',
  functions: { runTool: { key: 'runTool', name: 'sovereign-agent-local-runTool' } },
} as unknown as Pick<ServerlessConfig, 'accountId' | 'functions'>;

const dataDirWith = (lines: string[]): string => {
  const dir = mkdtempSync(join(tmpdir(), 'logs-cli-'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'runTool.log'), `${lines.join('\n')}\n`);
  return dir;
};

describe('queryTextOf', () => {
  it('picks the saved query, a file, or the default', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'logs-q-')), 'q.logsinsights');
    writeFileSync(file, 'limit 1');
    expect(queryTextOf({ saved: 'slow-tools' })).toBe(readSavedQuery('slow-tools'));
    expect(queryTextOf({ queryFile: file })).toBe('limit 1');
    expect(queryTextOf({})).toBe(DEFAULT_QUERY);
  });

  it('refuses both flags, a missing file and an unknown saved query, naming the saved ones', () => {
    expect(() => queryTextOf({ saved: 'slow-tools', queryFile: 'x' })).toThrow(LogsCommandError);
    expect(() => queryTextOf({ queryFile: '/nonexistent/q' })).toThrow(
      'Cannot read query file /nonexistent/q',
    );
    expect(() => queryTextOf({ saved: 'nope' })).toThrow(
      new LogsInsightsQueryError(
        'No saved query "nope" (saved: cost-per-session, failures-by-type, slow-tools)',
      ),
    );
  });
});

describe('runLogsQuery', () => {
  const dir = dataDirWith([
    toolCallLine({
      sessionId: 's1',
      fn: 'audit_billing_logs',
      latencyMs: 2000,
      at: '2026-12-02T06:00:01.000Z',
    }),
    toolCallLine({
      sessionId: 's2',
      fn: 'get_contract_terms',
      latencyMs: 1800,
      at: '2026-12-02T06:00:02.000Z',
    }),
  ]);

  it('runs the seed query as written over <dataDir>/logs, and --session keeps one session', () => {
    expect(runLogsQuery(dir, config, { saved: 'slow-tools' }).rows).toEqual([
      { toolName: 'audit_billing_logs', sessionId: 's1', avgLatency: 2000, executionCount: 1 },
      { toolName: 'get_contract_terms', sessionId: 's2', avgLatency: 1800, executionCount: 1 },
    ]);
    expect(runLogsQuery(dir, config, { saved: 'slow-tools', session: 's2' }).rows).toHaveLength(1);
  });

  it('prints a table with a header line, or the rows as JSON', () => {
    const result = runLogsQuery(dir, config, {
      queryText: 'fields @timestamp, function, latencyMs | sort @timestamp asc',
    });
    expect(formatLogsResult(result, false).split('\n')).toEqual([
      '@timestamp               function            latencyMs',
      '2026-12-02 06:00:01.000  audit_billing_logs  2000',
      '2026-12-02 06:00:02.000  get_contract_terms  1800',
    ]);
    expect(JSON.parse(formatLogsResult(result, true))).toEqual(result.rows);
  });
});

describe('sovereign-agent logs (main)', () => {
  const stderrOf = async (argv: string[]): Promise<{ code: number; stderr: string }> => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      return { code: await main(argv), stderr: written.join('') };
    } finally {
      spy.mockRestore();
    }
  };

  it('exits 1 with the reason for an unknown saved query or a query it cannot parse', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'logs-q-')), 'bad.logsinsights');
    writeFileSync(file, 'fields @message\n| dedup sessionId');
    await expect(stderrOf(['logs', '--saved', 'nope'])).resolves.toEqual({
      code: 1,
      stderr: 'error: No saved query "nope" (saved: cost-per-session, failures-by-type, slow-tools)\n',
    });
    const bad = await stderrOf(['logs', '--query', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error: Cannot parse `dedup sessionId`: unsupported command "dedup"');
  });
});
