/**
 * The CLI as a user runs it: `serve` in one process, `run`/`trace`/`status`/`sessions` in others, exit codes and
 * --json output included.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { LOCAL_CREDENTIALS } from '../../local/aws/credentials';
import { findSession, listSessions } from '../../local/cli/inspect';
import { localClients } from '../../local/cli/run-goal';
import { goalEvent, root } from './helpers';

jest.setTimeout(180_000);

const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-cli-'));
const bin = join(root, 'bin', 'sovereign-agent.js');
let serve: ChildProcess;
/** The served stack's variables, as `serve` prints them (`export NAME=value`). */
const served: Record<string, string> = {};

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
      if (!out.includes('export STATE_MACHINE_ARN=')) return;
      for (const [, name, value] of out.matchAll(/^export ([A-Z_]+)=(.*)$/gm))
        served[name as string] = value as string;
      resolve();
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
      'stopReason',
      'turns',
      'toolCalls',
      'failedToolCalls',
      'tokens',
      'costUsd',
      'costMicros',
      'models',
      'modelUsage',
      'providers',
      'failure',
      'resumable',
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

  it('lists what the agent put on its bus for a session, and every event with --type all', () => {
    // Arrange
    const run = cli('run', writeEvent(goalEvent()), '--json');
    const { sessionId } = JSON.parse(run.stdout) as { sessionId: string };

    // Act
    const mine = cli('events', '--session', sessionId, '--json');
    const all = cli('events', '--session', sessionId, '--type', 'all', '--json');
    const text = cli('events', '--session', sessionId);

    // Assess: the agent's own event only by default; the submitted goal too with --type all
    expect(mine.code).toBe(0);
    const types = (out: string) => (JSON.parse(out) as { detailType: string }[]).map((e) => e.detailType);
    expect(types(mine.stdout)).toEqual(['Agent Goal Completed']);
    expect(types(all.stdout)).toEqual(['Agent Goal Submitted', 'Agent Goal Completed']);
    expect(text.stdout).toMatch(new RegExp(`Agent Goal Completed +${sessionId} +completed`));
    expect(cli('events', '--session', 'no-such-session').stdout.trim()).toBe('no events');
  });

  it('exits 2 with a clear message for a malformed event', () => {
    // Act
    const run = cli('run', join(root, 'events/goal-invalid.json'));

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/rejected: Invalid "Agent Goal Submitted" detail/);
    expect(run.stderr).toMatch(/tenantId: tenantId is required/);
    expect(run.stderr).not.toMatch(/accepted/);
  });

  it('exits 4 when a budget stops the goal', () => {
    // Act
    const run = cli('run', writeEvent(goalEvent({ constraints: { usdBudget: 0.0001 } })), '--json');

    // Assess
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'stopped',
      stopReason: 'usd_budget',
      resumable: true,
      turns: 0,
    });

    // Act: a budget stop resumes only with the budget raised: without, resume refuses it (exit 2, with the reason).
    const { sessionId } = JSON.parse(run.stdout) as { sessionId: string };
    const resume = cli('resume', sessionId, '--json');
    const raised = cli('resume', sessionId, '--usd-budget', '1', '--json');

    // Assess
    expect(resume.code).toBe(2);
    expect(resume.stderr).toMatch(/stopped at its usdBudget \(0\.0001\): resume it with a higher usdBudget/);
    expect(raised.code).toBe(0);
    expect(JSON.parse(raised.stdout)).toMatchObject({ status: 'completed', resumable: false });
    expect(cli('resume', 'no-such-session').code).toBe(5);
    expect(cli('resume', sessionId, '--usd-budget', 'lots').stderr).toMatch(
      /--usd-budget must be a positive/,
    );
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
    expect(badScript.stderr).not.toMatch(/Invalid model script:\s*Invalid model script/);
    expect(cli('frobnicate').code).toBe(1);
  });

  it('refuses a tool-faults file that names a tool no action group has, naming the known tools', () => {
    // Act
    const run = cli(
      'run',
      join(root, 'events/goal-billing-audit.json'),
      '--tool-faults',
      writeEvent({ audit_biling_logs: { failTimes: 1 } }),
    );

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/audit_biling_logs/);
    expect(run.stderr).toMatch(/known tools: .*audit_billing_logs/);
  });

  it('exits 5 for a session that does not exist, not as a usage error', () => {
    const status = cli('status', 'no-such-session');
    expect(status.code).toBe(5);
    expect(status.stderr).toMatch(/No session no-such-session/);
    expect(cli('trace', 'no-such-session', '--tenant', 'acme').code).toBe(5);
  });

  it('exits 2 with one line when the bus refuses an event over the PutEvents size limit', () => {
    // Act: a detail over 256 KB, which PutEvents refuses as a whole request.
    const run = cli('run', writeEvent(goalEvent({ context: { notes: 'x'.repeat(270_000) } })));

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^rejected: .*over the limit/m);
    expect(run.stderr).not.toMatch(/accepted|\n\s+at /);
  });

  it('finds a session without --tenant when the table takes more than one Scan page', async () => {
    // Prepare: a page of one item, so every session but at most one lies past the first page.
    const clients = localClients(served);
    const all = await listSessions(clients);
    expect(all.length).toBeGreaterThan(1);

    // Act
    const found = await Promise.all(
      all.map((s) => findSession(clients, s.sessionId, undefined, { pageSize: 1 })),
    );

    // Assess
    expect(found.map((s) => s?.sessionId)).toEqual(all.map((s) => s.sessionId));
  });

  it('exits 6 when it gives up waiting; once its execution is stopped the session is failed and resume finishes it', async () => {
    // Prepare: the first model call takes 30 s, far past --timeout.
    const script = writeEvent({ turns: [{ text: 'done', delayMs: 30_000 }] });

    // Act
    const run = cli('run', writeEvent(goalEvent()), '--model-script', script, '--timeout', '4', '--json');

    // Assess: not "failed (resumable)" and not "timeout": the session goes on.
    expect(run.code).toBe(6);
    const summary = JSON.parse(run.stdout) as { sessionId: string; tenantId: string; status: string };
    expect(summary.status).toBe('running');
    expect(run.stderr).toMatch(/gave up waiting after 4 s; session .* is still running/);
    const status = cli('status', summary.sessionId);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/status\s+running for \d+s/);

    // Act: the execution ends outside the state machine's Catch (stopped); the reconciler fails the session.
    const session = await localClients(served).store.getSession(summary.tenantId, summary.sessionId);
    const sfn = new SFNClient({
      endpoint: served.AWS_ENDPOINT_URL_SFN,
      region: served.AWS_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    await sfn.send(new StopExecutionCommand({ executionArn: session?.executionArn }));
    const ended = await sfn.send(new DescribeExecutionCommand({ executionArn: session?.executionArn }));
    expect(ended.status).toBe('ABORTED');

    const { store } = localClients(served);
    let after = await store.requireSession(summary.tenantId, summary.sessionId);
    for (let i = 0; i < 100 && after.status === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await store.requireSession(summary.tenantId, summary.sessionId);
    }
    const resumed = cli('resume', summary.sessionId, '--json', '--timeout', '90');

    // Assess
    expect(after).toMatchObject({ status: 'failed', error: { type: 'ExecutionAborted' } });
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ sessionId: summary.sessionId, status: 'completed' });
  });
});
