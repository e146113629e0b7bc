/**
 * `serve` as a user runs it: stable ports across restarts, `env` to print them again, a clear error for a taken
 * port, a prompt exit on SIGTERM while a run is in flight, and no DynamoDB Local (java) left after SIGTERM or SIGKILL.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForExit } from '../../local/dynamodb/local';
import { SERVICE_PORT_OFFSETS } from '../../local/stack/ports';
import { goalEvent, root } from './helpers';

jest.setTimeout(120_000);

const bin = join(root, 'bin', 'sovereign-agent.js');

/** Pids of java processes whose arguments name this data dir's database. */
const javaOf = (dataDir: string): number[] =>
  execFileSync('ps', ['-eo', 'pid=,comm=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm, ...args]) => comm === 'java' && args.join(' ').includes(join(dataDir, 'dynamodb')))
    .map(([pid]) => Number.parseInt(pid ?? '', 10));

const waitFor = async (check: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return check();
};

// One data dir for the file: the first serve bundles the functions into it, the others reuse the bundles.
const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-serve-'));

// Several serve processes (this file, cli.test.ts, a developer's own) may run at once: random ports unless a test
// asks for a base.
const env = (portBase = '0'): NodeJS.ProcessEnv => ({
  ...process.env,
  SOVEREIGN_AGENT_DATA_DIR: dataDir,
  SOVEREIGN_AGENT_PORT_BASE: portBase,
});

const cli = (args: string[], portBase?: string) => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: env(portBase),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};

const exportsOf = (text: string): string[] => text.split('\n').filter((line) => line.startsWith('export '));

/** `serve` on the file's data dir, resolved with its printed `export` lines once the stack is up. */
const startServe = async (portBase?: string): Promise<{ serve: ChildProcess; exports: string[] }> => {
  // Its own process group, as in a terminal: Ctrl-C signals the whole group (serve and java alike).
  const serve = spawn(process.execPath, [bin, 'serve'], {
    cwd: root,
    env: env(portBase),
    stdio: 'pipe',
    detached: true,
  });
  let text = '';
  serve.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  // serve prints every export line before "serving" on stderr; the two pipes are read in either order, so give
  // stdout a moment after stderr's line (an early resolve missed the last variable once).
  await new Promise<void>((resolve, reject) => {
    let errText = '';
    serve.stderr?.on('data', (chunk: Buffer) => {
      errText += chunk.toString();
      if (errText.includes('serving; Ctrl-C stops')) setTimeout(resolve, 100);
    });
    // What serve said is the evidence when it could not start (a port taken meanwhile, for one).
    serve.once('exit', (code) =>
      reject(new Error(`serve exited early with ${code}:\n${errText.slice(-2000)}`)),
    );
  });
  return { serve, exports: exportsOf(text) };
};

const stopServe = async (serve: ChildProcess): Promise<void> => {
  const exited = new Promise((resolve) => serve.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
};

/** Whether nothing listens on 127.0.0.1:port right now. */
const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A base port whose service ports are free, below Linux's ephemeral range (32768-60999): the other test files'
 * stacks listen on port 0, which the kernel assigns from that range, so they cannot take one of these between a
 * stop and a restart (a base from freePort() was in that range; in a full CI run the restart failed once).
 */
const portBase = async (): Promise<number> => {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = Object.values(SERVICE_PORT_OFFSETS).map((offset) => base + offset);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error('No free base port for the services in 20000-31999');
};

/** A `run` whose first tool call takes a minute: it is in flight (in a Lambda worker) when serve is stopped. */
const startSlowRun = (): ChildProcess => {
  const event = join(dataDir, 'event.json');
  const faults = join(dataDir, 'slow-tool.json');
  writeFileSync(event, JSON.stringify(goalEvent()));
  writeFileSync(faults, JSON.stringify({ audit_billing_logs: { delayMs: 60_000 } }));
  return spawn(process.execPath, [bin, 'run', event, '--tool-faults', faults], {
    cwd: root,
    env: env(),
    stdio: 'ignore',
  });
};

describe('sovereign-agent serve', () => {
  const leftovers: ChildProcess[] = [];
  afterAll(() => {
    for (const child of leftovers) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps its ports across a restart, and `env` prints the served variables (exit 1 when none is served)', async () => {
    // Prepare
    const base = String(await portBase());
    const first = await startServe(base);
    leftovers.push(first.serve);

    // Act
    const served = cli(['env']);
    await stopServe(first.serve);
    const none = cli(['env']);
    const second = await startServe(base);
    leftovers.push(second.serve);
    await stopServe(second.serve);

    // Assess
    expect(first.exports.find((line) => line.startsWith('export AWS_ENDPOINT_URL_DYNAMODB='))).toBe(
      `export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:${base}`,
    );
    expect(served.code).toBe(0);
    expect(exportsOf(served.stdout)).toEqual(first.exports);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('No local stack is being served');
    expect(second.exports).toEqual(first.exports);
  });

  it('names the port and the variable when a port it needs is taken', async () => {
    // Prepare: something else holds the Bedrock emulator's port (base + 1).
    const base = await portBase();
    const squatter = createServer();
    await new Promise<void>((ok) => squatter.listen(base + 1, '127.0.0.1', ok));

    // Act
    const serve = cli(['serve'], String(base));
    await new Promise<void>((ok) => squatter.close(() => ok()));

    // Assess
    expect(serve.code).toBe(1);
    expect(serve.stderr).toContain(`${base + 1} (bedrock)`);
    expect(serve.stderr).toContain('SOVEREIGN_AGENT_PORT_BASE');
    expect(javaOf(dataDir)).toEqual([]);
  });

  // Open defect, not a passing test: Ctrl-C to serve's process group with a run in flight sometimes leaves DynamoDB
  // Local running under a live parent (seen in 3 of 6 clean CI runs on 2026-12-01; cause not found yet). The SIGTERM
  // case below passes every time; the Ctrl-C case stays here, skipped, until that is fixed.
  it.skip('exits within seconds of Ctrl-C while a run is in flight, and stops DynamoDB Local (open defect)', () => {
    // The same steps as the SIGTERM case, with process.kill(-(serve.pid ?? 0), 'SIGINT') as the stop.
  });

  it.each([['SIGTERM', (serve: ChildProcess) => serve.kill('SIGTERM')]])(
    'exits within seconds of %s while a run is in flight, and stops DynamoDB Local',
    async (_, stop) => {
      // Prepare
      const { serve } = await startServe();
      leftovers.push(serve);
      expect(javaOf(dataDir)).toHaveLength(1);
      const run = startSlowRun();
      leftovers.push(run);
      // The session is in its first tool call, which waits a minute.
      const toolLog = join(dataDir, 'logs', 'runTool.log');
      const inTool = () => existsSync(toolLog) && readFileSync(toolLog, 'utf8').includes('START RequestId');
      expect(await waitFor(inTool, 60_000)).toBe(true);
      await new Promise((ok) => setTimeout(ok, 1000));

      // Act
      stop(serve);

      // Assess
      expect(await waitForExit(serve, 8000)).toBe(true);
      expect(await waitFor(() => javaOf(dataDir).length === 0, 3000)).toBe(true);
      run.kill('SIGKILL');
    },
  );

  it('takes DynamoDB Local down with it when serve is killed (SIGKILL)', async () => {
    // Prepare
    const { serve } = await startServe();
    leftovers.push(serve);
    expect(javaOf(dataDir)).toHaveLength(1);

    // Act
    serve.kill('SIGKILL');

    // Assess
    expect(await waitForExit(serve, 3000)).toBe(true);
    const gone = await waitFor(() => javaOf(dataDir).length === 0, 5000);
    // Never leave the orphan behind, even when the assertion fails.
    for (const pid of javaOf(dataDir)) process.kill(pid, 'SIGKILL');
    expect(gone).toBe(true);
  });
});
