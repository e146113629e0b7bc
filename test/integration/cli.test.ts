/**
 * The CLI as a user runs it: `serve` in one process, `run`/`trace`/`status`/`sessions` in others, exit codes and
 * --json output included.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goalEvent, root } from './helpers';

jest.setTimeout(180_000);

const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-cli-'));
const bin = join(root, 'bin', 'sovereign-agent.js');
let serve: ChildProcess;

const cli = (...args: string[]) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, SOVEREIGN_AGENT_DATA_DIR: dataDir },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};

const writeEvent = (event: unknown): string => {
  const file = join(dataDir, `event-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(event));
  return file;
};

beforeAll(async () => {
  serve = spawn(process.execPath, [bin, 'serve'], {
    cwd: root,
    env: { ...process.env, SOVEREIGN_AGENT_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // `serve` prints the endpoint variables once the stack is up.
  await new Promise<void>((resolve, reject) => {
    let out = '';
    serve.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('export STATE_MACHINE_ARN=')) resolve();
    });
    serve.once('exit', (code) => reject(new Error(`serve exited early with ${code}`)));
  });
});

afterAll(async () => {
  if (!serve || serve.exitCode !== null) return;
  const exited = new Promise((resolve) => serve.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
});

describe('sovereign-agent CLI', () => {
  it('runs a scripted goal to completion (exit 0) and its trace shows the tool calls and the stored report', () => {
    // Act
    const run = cli(
      'run',
      writeEvent(goalEvent()),
      '--model-script',
      join(root, 'events/model-scripts/billing-four-tools.json'),
      '--json',
    );

    // Assess
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(summary)).toEqual([
      'sessionId',
      'tenantId',
      'status',
      'turns',
      'toolCalls',
      'tokens',
      'costUsd',
      'models',
      'output',
      'error',
    ]);
    expect(summary).toMatchObject({ status: 'completed', turns: 4, toolCalls: 4 });
    expect(run.stderr).toMatch(/turn 2: .* -> list_underutilized_resources, get_contract_terms/);

    const trace = cli('trace', summary.sessionId as string, '--json');
    expect(trace.code).toBe(0);
    const calls = (
      JSON.parse(trace.stdout) as { turns: { toolCalls: { name: string; result: string }[] }[] }
    ).turns.flatMap((t) => t.toolCalls);
    expect(calls.map((c) => c.name)).toEqual([
      'audit_billing_logs',
      'list_underutilized_resources',
      'get_contract_terms',
      'create_optimization_report',
    ]);
    expect(calls[3]?.result).toMatch(/REPORT#/);

    const status = cli('status', summary.sessionId as string, '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'completed', sessionId: summary.sessionId });
    const sessions = cli('sessions', '--tenant', 'acme', '--json');
    expect((JSON.parse(sessions.stdout) as { sessionId: string }[]).map((s) => s.sessionId)).toContain(
      summary.sessionId,
    );
  });

  it('exits 2 with a clear message for a malformed event', () => {
    // Act
    const run = cli('run', join(root, 'events/goal-invalid.json'));

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/rejected: Invalid "Agent Goal Submitted" detail/);
    expect(run.stderr).toMatch(/tenantId: tenantId is required/);
  });

  it('exits 4 when a budget stops the goal', () => {
    // Act
    const run = cli('run', writeEvent(goalEvent({ constraints: { usdBudget: 0.0001 } })), '--json');

    // Assess
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'stopped' });
  });

  it('exits 1 on usage errors, naming the problem', () => {
    expect(cli('run').stderr).toMatch(/run needs an event file/);
    expect(cli('run').code).toBe(1);
    const missing = cli('run', join(dataDir, 'nope.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Cannot read event file/);
    const badScript = cli(
      'run',
      join(root, 'events/goal-billing-audit.json'),
      '--model-script',
      join(root, 'package.json'),
    );
    expect(badScript.code).toBe(1);
    expect(badScript.stderr).toMatch(/Invalid model script/);
    expect(cli('frobnicate').code).toBe(1);
  });
});
