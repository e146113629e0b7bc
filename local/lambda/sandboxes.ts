/** Sandboxes: one worker thread runs one invocation at a time, like a Lambda execution environment; pooled per function. */
import { randomUUID } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { LambdaFunctionSpec } from './functions';
import type { FunctionErrorPayload, InvokeMessage, WorkerInit, WorkerMessage } from './worker';

/** A sandbox's environment: Lambda's reserved variables over the function's own and the stack's shared ones. */
export const sandboxEnvironment = (
  spec: LambdaFunctionSpec,
  sharedEnvironment: Record<string, string>,
  region: string,
  taskRoot: string,
  xrayDaemonAddress?: string,
): Record<string, string> => ({
  ...(process.env.PATH === undefined ? {} : { PATH: process.env.PATH }),
  LANG: 'en_US.UTF-8',
  // The tracer sends to the local X-Ray daemon when the stack runs one (else it is off). EMF metrics are printed
  // into the function's log, as Lambda's CloudWatch Logs would receive them, so the local log runner sees them too.
  POWERTOOLS_TRACE_ENABLED: xrayDaemonAddress === undefined ? 'false' : 'true',
  POWERTOOLS_METRICS_DISABLED: 'false',
  ...spec.environment,
  ...sharedEnvironment,
  // Reserved variables: Lambda sets these itself and a function cannot override them.
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  ...(xrayDaemonAddress === undefined ? {} : { AWS_XRAY_DAEMON_ADDRESS: xrayDaemonAddress }),
  AWS_REGION: region,
  AWS_DEFAULT_REGION: region,
  AWS_LAMBDA_FUNCTION_NAME: spec.name,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
  AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
  LAMBDA_TASK_ROOT: taskRoot,
  _HANDLER: spec.handler,
  AWS_ACCESS_KEY_ID: sharedEnvironment.AWS_ACCESS_KEY_ID ?? 'local',
  AWS_SECRET_ACCESS_KEY: sharedEnvironment.AWS_SECRET_ACCESS_KEY ?? 'local',
});

export type SandboxOutcome =
  | { kind: 'result'; message: Extract<WorkerMessage, { type: 'result' }> }
  | { kind: 'timeout' }
  | { kind: 'exit'; code: number };

export class Sandbox {
  readonly worker: Worker;
  idleTimer: NodeJS.Timeout | undefined;
  readonly ready: Promise<{ ok: true; initDurationMs: number } | { ok: false; error: FunctionErrorPayload }>;
  alive = true;
  used = false;
  private pending: ((outcome: SandboxOutcome) => void) | undefined;

  constructor(workerFile: string, init: WorkerInit, env: Record<string, string>, logStream: WriteStream) {
    // execArgv []: a worker inherits this process's flags by default, and under `tsx` (the CLI, the bench) that is
    // tsx's module loader, which then transforms every bundle a cold start requires. Lambda's Node.js runtime runs
    // the bundle with plain node; the function's own NODE_OPTIONS (source maps) are honoured by the worker itself.
    this.worker = new Worker(workerFile, { workerData: init, env, stdout: true, stderr: true, execArgv: [] });
    this.worker.stdout.pipe(logStream, { end: false });
    this.worker.stderr.pipe(logStream, { end: false });
    this.ready = new Promise((settle) => {
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === 'ready') settle({ ok: true, initDurationMs: message.initDurationMs });
        else if (message.type === 'init-error') settle({ ok: false, error: message.error });
        else this.pending?.({ kind: 'result', message });
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (error) => {
        settle({ ok: false, error: { errorType: error.name, errorMessage: error.message, trace: [] } });
      });
      this.worker.on('exit', (code) => {
        this.alive = false;
        // Detach from the shared log stream, or every sandbox ever started keeps listeners on it.
        this.worker.stdout.unpipe(logStream);
        this.worker.stderr.unpipe(logStream);
        settle({
          ok: false,
          error: {
            errorType: 'Runtime.ExitError',
            errorMessage: `Runtime exited with error: exit status ${code}`,
            trace: [],
          },
        });
        this.pending?.({ kind: 'exit', code });
      });
    });
  }

  run(message: InvokeMessage, timeoutMs: number): Promise<SandboxOutcome> {
    this.used = true;
    return new Promise((settle) => {
      const timer = setTimeout(() => finish({ kind: 'timeout' }), Math.max(0, timeoutMs));
      const finish = (outcome: SandboxOutcome): void => {
        if (this.pending !== finish) return;
        clearTimeout(timer);
        this.pending = undefined;
        settle(outcome);
      };
      this.pending = finish;
      this.worker.postMessage(message);
    });
  }

  async terminate(): Promise<void> {
    this.alive = false;
    await this.worker.terminate();
  }
}

/** The sandboxes of one function: at most maxConcurrency busy, idle ones reused and ended after idleMs. */
export class SandboxPool {
  private readonly idle: Sandbox[] = [];
  private readonly all = new Set<Sandbox>();
  private readonly waiters: (() => void)[] = [];
  private busy = 0;

  constructor(
    readonly spec: LambdaFunctionSpec,
    readonly arn: string,
    private readonly maxConcurrency: number,
    private readonly idleMs: number,
    private readonly newSandbox: () => Sandbox,
  ) {}

  async acquire(): Promise<{ sandbox: Sandbox; cold: boolean }> {
    while (this.busy >= this.maxConcurrency) {
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
    this.busy++;
    let sandbox = this.idle.pop();
    while (sandbox !== undefined && !sandbox.alive) sandbox = this.idle.pop();
    if (sandbox !== undefined) {
      clearTimeout(sandbox.idleTimer);
      return { sandbox, cold: false };
    }
    const fresh = this.newSandbox();
    this.all.add(fresh);
    return { sandbox: fresh, cold: true };
  }

  /** Back to the pool, or (`recycle`) ended: after a timeout or crash the next invocation gets a fresh sandbox. */
  release(sandbox: Sandbox, recycle: boolean): void {
    this.busy--;
    if (recycle || !sandbox.alive) {
      this.all.delete(sandbox);
      void sandbox.terminate();
    } else {
      this.idle.push(sandbox);
      // Like Lambda reclaiming idle environments: a long `serve` does not keep every burst's workers alive.
      sandbox.idleTimer = setTimeout(() => {
        const at = this.idle.indexOf(sandbox);
        if (at === -1) return;
        this.idle.splice(at, 1);
        this.all.delete(sandbox);
        void sandbox.terminate();
      }, this.idleMs);
      sandbox.idleTimer.unref();
    }
    this.waiters.shift()?.();
  }

  /** Ends idle sandboxes (their environment is outdated); busy ones end when released... or at close. */
  recycleIdle(): void {
    for (const sandbox of this.idle.splice(0)) {
      clearTimeout(sandbox.idleTimer);
      this.all.delete(sandbox);
      void sandbox.terminate();
    }
  }

  async close(): Promise<void> {
    for (const sandbox of this.idle.splice(0)) clearTimeout(sandbox.idleTimer);
    await Promise.all([...this.all].map((sandbox) => sandbox.terminate()));
    this.all.clear();
  }
}
