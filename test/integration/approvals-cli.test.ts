/**
 * Approvals as an operator decides them: `serve` in one process, `run` of a goal whose profile requires approval in
 * another, `status` showing the waiting call, and `deny`/`approve` from a third shell, with their exit codes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goalEvent, root } from './helpers';

jest.setTimeout(180_000);

const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-approvals-cli-'));
const bin = join(root, 'bin', 'sovereign-agent.js');
const env = { ...process.env, SOVEREIGN_AGENT_DATA_DIR: dataDir };
let serve: ReturnType<typeof spawn> | undefined;

const cli = (...args: string[]) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};

/** `run` in its own process, as a user starts it in another shell: its exit code and output once it ends. */
const runInBackground = (...args: string[]) => {
  const child = spawn(process.execPath, [bin, 'run', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { done, stderr: () => stderr };
};

const file = (name: string, value: unknown): string => {
  const path = join(dataDir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
};

beforeAll(async () => {
  const child = spawn(process.execPath, [bin, 'serve'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serve = child;
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('export STATE_MACHINE_ARN=')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited early with ${code}`)));
  });
});

afterAll(async () => {
  if (!serve || serve.exitCode !== null) return;
  const exited = new Promise((resolve) => serve?.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
});

describe('sovereign-agent approve|deny', () => {
  it('status shows the waiting call; deny lets the goal complete without the report; a second decision exits 1', async () => {
    // Prepare
    const event = goalEvent({ agent: 'billing-auditor-approval' });
    const sessionId = (event.detail as { goalId: string }).goalId;
    const script = {
      turns: [
        {
          toolUse: [
            {
              name: 'create_optimization_report',
              input: { tenant_id: 'acme', title: 'Savings', findings: ['Idle batch server.'] },
            },
          ],
        },
        { text: 'The report was not approved.' },
      ],
    };
    const run = runInBackground(
      file('goal.json', event),
      '--model-script',
      file('script.json', script),
      '--json',
    );

    // Act: wait until `status` lists the call, then deny it from another process
    let pending: { callId: string; tool: string; status: string }[] = [];
    const deadline = Date.now() + 60_000;
    while (pending.length === 0 && Date.now() < deadline) {
      const status = cli('status', sessionId, '--json');
      if (status.code === 0)
        pending = (JSON.parse(status.stdout) as { pendingApprovals: typeof pending }).pendingApprovals;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    const text = cli('status', sessionId);
    const callId = pending[0]?.callId ?? '';
    const denied = cli('deny', sessionId, callId, '--reason', 'not this quarter');
    const finished = await run.done;
    const again = cli('approve', sessionId, callId);
    const unknown = cli('approve', sessionId, 'tooluse_nope');
    const events = cli('events', '--session', sessionId, '--json');

    // Assess
    expect(pending).toEqual([
      expect.objectContaining({ tool: 'create_optimization_report', status: 'pending' }),
    ]);
    expect(text.stdout).toMatch(/status {4}awaiting_approval/);
    expect(text.stdout).toContain(`sovereign-agent approve|deny ${sessionId} ${callId}`);
    expect(run.stderr()).toContain(`create_optimization_report awaits approval until`);
    expect(denied).toMatchObject({ code: 0 });
    expect(denied.stdout).toMatch(
      new RegExp(`call ${callId} \\(create_optimization_report\\) denied by cli:`),
    );
    expect(finished.code).toBe(0);
    expect(JSON.parse(finished.stdout)).toMatchObject({
      status: 'completed',
      output: 'The report was not approved.',
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`error: Call ${callId} was already denied by cli:`));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      `error: Session ${sessionId} has no call tooluse_nope waiting for approval`,
    );
    expect((JSON.parse(events.stdout) as { detailType: string }[]).map((e) => e.detailType)).toEqual([
      'Agent Action Approval Requested',
      // The decision is on the record too (the CLI put it on the bus).
      'Agent Action Denied',
      'Agent Goal Completed',
    ]);
  });
});
