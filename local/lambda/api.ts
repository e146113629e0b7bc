/** The Lambda Invoke API on loopback: runs each function's esbuild bundle in worker threads, with tool fault injection. */

import { createHash, randomUUID } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type BuildOptions, build, version as esbuildVersion } from 'esbuild';
import { z } from 'zod';
import { LocalError } from '../errors';
import { readBody } from '../loopback-http';
import { type EsbuildConfig, LOCAL_ACCOUNT_ID, lambdaArn } from '../serverless-config';
import type { FunctionErrorPayload, InvokeMessage, WorkerInit, WorkerMessage } from './worker';

export class LambdaServiceError extends LocalError {}

/** esbuild could not bundle a function's handler (or the handler file does not exist). */
export class LambdaBuildError extends LambdaServiceError {}

// ---------------------------------------------------------------------------------------------------------
// Tool fault injection (a feature of the local stack, never of production code).

export const toolFaultSchema = z
  .object({
    /** The first N matching invocations fail without running the handler. */
    failTimes: z.number().int().min(0).optional(),
    /** errorType of those failures (default ToolFaultInjected). */
    error: z.string().min(1).max(128).optional(),
    /** Wait this long before running the handler; counts against the function's timeout. */
    delayMs: z.number().int().min(0).max(900_000).optional(),
    /** N times: run the handler fully (side effects happen), then lose its response as if the sandbox crashed. */
    crashAfterSideEffect: z.number().int().min(0).optional(),
  })
  .strict();
/** Faults per tool name: apply to invocations whose payload has `function === tool` and the session's id. */
export const toolFaultsSchema = z.record(z.string().min(1), toolFaultSchema);
export type ToolFault = z.infer<typeof toolFaultSchema>;
export type ToolFaults = z.infer<typeof toolFaultsSchema>;

interface FaultState {
  remainingFailures: number;
  error: string;
  delayMs: number;
  remainingCrashes: number;
}

// ---------------------------------------------------------------------------------------------------------
// Public types.

export interface LambdaFunctionSpec {
  /** Key under `functions:` in serverless.yml; names the bundle and the log file. */
  key: string;
  /** Deployed name (`<service>-<stage>-<key>`): what callers pass as FunctionName. */
  name: string;
  /** Handler as declared (`functions/x/handler.handler`). */
  handler: string;
  timeoutSeconds: number;
  memorySize: number;
  /** provider.environment + function environment, intrinsics already resolved. */
  environment: Record<string, string>;
}

export interface StartLambdaServiceOptions {
  functions: LambdaFunctionSpec[];
  region: string;
  /** custom.esbuild of serverless.yml. */
  esbuild: EsbuildConfig;
  /** Repository root: handler paths are relative to it. */
  rootDir: string;
  /** Where bundles go (default `<rootDir>/.local/build`). */
  buildDir?: string;
  /** Where `<fn>.log` files go (default `<rootDir>/.local/logs`). */
  logDir?: string;
  /** Endpoint variables and the like, added to every function's environment (see setSharedEnvironment). */
  sharedEnvironment?: Record<string, string>;
  /** Sandboxes per function before further invocations wait (default 10). */
  maxConcurrencyPerFunction?: number;
  /** An idle sandbox is ended after this long; the next invocation is a cold start (default 5 min). */
  sandboxIdleMs?: number;
  port?: number;
  log?: (line: string) => void;
}

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export type InvocationOutcome = 'success' | 'error' | 'timeout' | 'injected-failure' | 'injected-crash';

export interface InvocationRecord {
  requestId: string;
  functionName: string;
  invocationType: InvocationType;
  startedAt: string;
  durationMs: number;
  outcome: InvocationOutcome;
  errorType?: string;
  coldStart: boolean;
  /** From a Bedrock action-group payload (`function`, `sessionId`), when the payload has that shape. */
  tool?: string;
  sessionId?: string;
}

export interface InvokeResult {
  requestId: string;
  /** 200 (RequestResponse), 202 (Event), 204 (DryRun). */
  statusCode: number;
  functionError?: 'Unhandled';
  /** The handler's result (JSON text), or the error payload when functionError is set. */
  payload: string;
}

export interface BuildReport {
  key: string;
  outfile: string;
  cached: boolean;
  ms: number;
}

export interface LambdaService {
  url: string;
  region: string;
  functions(): LambdaFunctionSpec[];
  /** Invokes like the HTTP API does (same faults, timeouts, records); for in-process callers. */
  invoke(
    functionName: string,
    payload: unknown,
    options?: { invocationType?: InvocationType },
  ): Promise<InvokeResult>;
  /** Replaces the variables added to every function's environment; sandboxes started before are recycled. */
  setSharedEnvironment(env: Record<string, string>): void;
  setToolFaults(sessionId: string, faults: ToolFaults): void;
  clearToolFaults(sessionId?: string): void;
  invocations(): InvocationRecord[];
  builds: BuildReport[];
  buildMs: number;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Bundling with the esbuild options of serverless.yml.

const HANDLER_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/** `functions/x/handler.handler` -> the source file and the export name. */
export const handlerEntry = (rootDir: string, handler: string): { file: string; exportName: string } => {
  const dot = handler.lastIndexOf('.');
  const modulePath = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  for (const ext of HANDLER_EXTENSIONS) {
    const file = resolve(rootDir, `${modulePath}${ext}`);
    if (existsSync(file)) return { file, exportName };
  }
  throw new LambdaBuildError(
    `Handler ${handler}: no ${modulePath}{${HANDLER_EXTENSIONS.join(',')}} under ${rootDir}`,
  );
};

export const esbuildOptions = (config: EsbuildConfig): BuildOptions => {
  const exclude = config.exclude;
  return {
    bundle: config.bundle ?? true,
    minify: config.minify ?? false,
    sourcemap: config.sourcemap ?? false,
    target: config.target ?? 'node22',
    platform: config.platform ?? 'node',
    format: config.format ?? 'cjs',
    keepNames: config.keepNames ?? false,
    ...(exclude === '*' ? { packages: 'external' as const } : {}),
    external: [...(config.external ?? []), ...(Array.isArray(exclude) ? exclude : [])],
    ...(config.define === undefined ? {} : { define: config.define }),
    ...(config.mainFields === undefined ? {} : { mainFields: config.mainFields }),
    ...(config.conditions === undefined ? {} : { conditions: config.conditions }),
  };
};

interface BuildSignature {
  options: string;
  inputs: Record<string, [number, number]>;
}

const optionsHash = (entry: string, options: BuildOptions): string =>
  createHash('sha256').update(JSON.stringify({ esbuildVersion, entry, options })).digest('hex');

const upToDate = (signaturePath: string, outfile: string, hash: string, rootDir: string): boolean => {
  if (!existsSync(signaturePath) || !existsSync(outfile)) return false;
  try {
    const signature = JSON.parse(readFileSync(signaturePath, 'utf8')) as BuildSignature;
    if (signature.options !== hash) return false;
    for (const [input, [mtimeMs, size]] of Object.entries(signature.inputs)) {
      const stat = statSync(resolve(rootDir, input), { throwIfNoEntry: false });
      if (stat === undefined || stat.mtimeMs !== mtimeMs || stat.size !== size) return false;
    }
    return true;
  } catch {
    return false;
  }
};

/**
 * Bundles one entry into `<buildDir>/<name>.js` unless its inputs (esbuild's metafile: every file it read) and
 * options are unchanged. Output is written to a temp file and renamed: parallel test workers share the build dir.
 */
export const bundle = async (
  entry: string,
  name: string,
  options: BuildOptions,
  rootDir: string,
  buildDir: string,
): Promise<BuildReport> => {
  const started = performance.now();
  const outfile = join(buildDir, `${name}.js`);
  const signaturePath = join(buildDir, `${name}.inputs.json`);
  const hash = optionsHash(entry, options);
  if (upToDate(signaturePath, outfile, hash, rootDir)) {
    return { key: name, outfile, cached: true, ms: performance.now() - started };
  }
  mkdirSync(buildDir, { recursive: true });
  let result: Awaited<ReturnType<typeof build>>;
  try {
    result = await build({
      ...options,
      entryPoints: [entry],
      outfile,
      absWorkingDir: rootDir,
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
  } catch (cause) {
    const detail =
      cause !== null && typeof cause === 'object' && 'errors' in cause && Array.isArray(cause.errors)
        ? (cause.errors as { text: string; location?: { file: string; line: number } | null }[])
            .map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`)
            .join('\n')
        : String(cause);
    throw new LambdaBuildError(`esbuild failed for ${relative(rootDir, entry)}:\n${detail}`, { cause });
  }
  const suffix = `.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  // The map first: a reader that sees the new bundle also finds its map.
  const files = [...(result.outputFiles ?? [])].sort(
    (a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')),
  );
  for (const file of files) {
    writeFileSync(`${file.path}${suffix}`, file.contents);
    renameSync(`${file.path}${suffix}`, file.path);
  }
  const inputs: BuildSignature['inputs'] = {};
  for (const input of Object.keys(result.metafile?.inputs ?? {})) {
    const stat = statSync(resolve(rootDir, input), { throwIfNoEntry: false });
    if (stat !== undefined) inputs[input] = [stat.mtimeMs, stat.size];
  }
  writeFileSync(
    `${signaturePath}${suffix}`,
    JSON.stringify({ options: hash, inputs } satisfies BuildSignature),
  );
  renameSync(`${signaturePath}${suffix}`, signaturePath);
  return { key: name, outfile, cached: false, ms: performance.now() - started };
};

export interface BuiltFunctions {
  /** The bundled worker bootstrap (local/lambda/worker.ts). */
  runtimeFile: string;
  entries: { spec: LambdaFunctionSpec; file: string; exportName: string }[];
  builds: BuildReport[];
  buildMs: number;
}

/**
 * Bundles the runtime bootstrap and every function (in parallel: esbuild runs the builds concurrently). Also
 * used by the integration global-setup to warm `.local/build` once for all test workers.
 */
export const buildFunctions = async (o: {
  functions: LambdaFunctionSpec[];
  esbuild: EsbuildConfig;
  rootDir: string;
  buildDir?: string;
}): Promise<BuiltFunctions> => {
  const buildDir = o.buildDir ?? join(o.rootDir, '.local', 'build');
  const started = performance.now();
  const bundleOptions = esbuildOptions(o.esbuild);
  const workerSource = join(__dirname, 'worker.ts');
  const entries = o.functions.map((spec) => ({ spec, ...handlerEntry(o.rootDir, spec.handler) }));
  const [runtimeBuild, ...builds] = await Promise.all([
    bundle(
      workerSource,
      '_lambda-runtime',
      { bundle: true, platform: 'node', format: 'cjs', target: 'node22', sourcemap: false },
      dirname(workerSource),
      buildDir,
    ),
    ...entries.map(({ spec, file }) => bundle(file, spec.key, bundleOptions, o.rootDir, buildDir)),
  ]);
  if (runtimeBuild === undefined) throw new LambdaServiceError('The Lambda runtime bootstrap was not built');
  return { runtimeFile: runtimeBuild.outfile, entries, builds, buildMs: performance.now() - started };
};

// ---------------------------------------------------------------------------------------------------------
// Sandboxes: one worker thread runs one invocation at a time, like a Lambda execution environment.

type SandboxOutcome =
  | { kind: 'result'; message: Extract<WorkerMessage, { type: 'result' }> }
  | { kind: 'timeout' }
  | { kind: 'exit'; code: number };

class Sandbox {
  readonly worker: Worker;
  idleTimer: NodeJS.Timeout | undefined;
  readonly ready: Promise<{ ok: true; initDurationMs: number } | { ok: false; error: FunctionErrorPayload }>;
  alive = true;
  used = false;
  private pending: ((outcome: SandboxOutcome) => void) | undefined;

  constructor(workerFile: string, init: WorkerInit, env: Record<string, string>, logStream: WriteStream) {
    this.worker = new Worker(workerFile, { workerData: init, env, stdout: true, stderr: true });
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

class FunctionRuntime {
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

// ---------------------------------------------------------------------------------------------------------
// Function name resolution, as Lambda accepts it: name, partial ARN, full ARN, each with an optional qualifier.

const NAME_PATTERN =
  /^(?:arn:aws[a-zA-Z-]*:lambda:(?<region>[a-z0-9-]+):(?<account>\d{12}):function:|(?<partialAccount>\d{12}):function:)?(?<name>[A-Za-z0-9_.-]+)(?::(?<qualifier>[$A-Za-z0-9_-]+))?$/;

class ServiceException extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = errorType;
  }
}

const functionNotFound = (what: string): ServiceException =>
  new ServiceException(404, 'ResourceNotFoundException', `Function not found: ${what}`);

// ---------------------------------------------------------------------------------------------------------

const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD = 1024 * 1024;
const MAX_RECORDS = 10_000;

const payloadTooLarge = (limit: number): ServiceException =>
  new ServiceException(
    413,
    'RequestTooLargeException',
    `Request must be smaller than ${limit} bytes for the Invoke operation`,
  );

const actionGroupFields = (payload: string): { tool?: string; sessionId?: string } => {
  // Cheap pre-check: most payloads (Step Functions tasks) are not action-group events.
  if (!payload.includes('"function"')) return {};
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed !== 'object' || parsed === null) return {};
    const record = parsed as Record<string, unknown>;
    return {
      ...(typeof record.function === 'string' ? { tool: record.function } : {}),
      ...(typeof record.sessionId === 'string' ? { sessionId: record.sessionId } : {}),
    };
  } catch {
    return {};
  }
};

const sleep = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

const errorPayload = (errorType: string, errorMessage: string): string =>
  JSON.stringify({ errorType, errorMessage, trace: [] } satisfies FunctionErrorPayload);

/** Bundles every function, then serves the Lambda Invoke API on 127.0.0.1. */
export const startLambdaService = async (options: StartLambdaServiceOptions): Promise<LambdaService> => {
  const { region, rootDir } = options;
  const buildDir = options.buildDir ?? join(rootDir, '.local', 'build');
  const logDir = options.logDir ?? join(rootDir, '.local', 'logs');
  const maxConcurrency = options.maxConcurrencyPerFunction ?? 10;
  const idleMs = options.sandboxIdleMs ?? 5 * 60_000;
  const log = options.log ?? (() => {});
  let sharedEnvironment = { ...(options.sharedEnvironment ?? {}) };
  mkdirSync(logDir, { recursive: true });

  const { runtimeFile, entries, builds, buildMs } = await buildFunctions({
    functions: options.functions,
    esbuild: options.esbuild,
    rootDir,
    buildDir,
  });
  const cachedCount = builds.filter((b) => b.cached).length;
  log(
    `Bundled ${builds.length} functions in ${(buildMs / 1000).toFixed(2)} s (${cachedCount} unchanged) into ${relative(rootDir, buildDir) || buildDir}`,
  );

  const logStreams = new Map<string, WriteStream>();
  const runtimes = new Map<string, FunctionRuntime>();
  entries.forEach(({ spec, exportName }, i) => {
    const outfile = builds[i]?.outfile;
    if (outfile === undefined) throw new LambdaServiceError(`No bundle for ${spec.key}`);
    const logStream = createWriteStream(join(logDir, `${spec.key}.log`), { flags: 'a' });
    // Up to maxConcurrencyPerFunction sandboxes pipe into it at once (two pipes each).
    logStream.setMaxListeners(0);
    logStreams.set(spec.key, logStream);
    const arn = lambdaArn(region, spec.name);
    const init: WorkerInit = {
      bundlePath: outfile,
      handlerExport: exportName,
      enableSourceMaps: (spec.environment.NODE_OPTIONS ?? '').includes('--enable-source-maps'),
    };
    const newSandbox = (): Sandbox => {
      const env: Record<string, string> = {
        ...(process.env.PATH === undefined ? {} : { PATH: process.env.PATH }),
        LANG: 'en_US.UTF-8',
        // No X-Ray daemon and no CloudWatch agent locally: the tracer is off and EMF metrics are not printed.
        POWERTOOLS_TRACE_ENABLED: 'false',
        POWERTOOLS_METRICS_DISABLED: 'true',
        ...spec.environment,
        ...sharedEnvironment,
        // Reserved variables: Lambda sets these itself and a function cannot override them.
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_LAMBDA_FUNCTION_NAME: spec.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
        LAMBDA_TASK_ROOT: buildDir,
        _HANDLER: spec.handler,
        AWS_ACCESS_KEY_ID: sharedEnvironment.AWS_ACCESS_KEY_ID ?? 'local',
        AWS_SECRET_ACCESS_KEY: sharedEnvironment.AWS_SECRET_ACCESS_KEY ?? 'local',
      };
      return new Sandbox(runtimeFile, init, env, logStream);
    };
    runtimes.set(spec.name, new FunctionRuntime(spec, arn, maxConcurrency, idleMs, newSandbox));
  });

  const faults = new Map<string, Map<string, FaultState>>();
  const records: InvocationRecord[] = [];
  const background = new Set<Promise<unknown>>();
  let closed = false;

  const resolveFunction = (rawName: string, qualifier: string | null): FunctionRuntime => {
    const match = NAME_PATTERN.exec(rawName);
    if (match?.groups === undefined) {
      throw new ServiceException(400, 'InvalidParameterValueException', `Invalid function name: ${rawName}`);
    }
    const { name, region: arnRegion, account, partialAccount, qualifier: nameQualifier } = match.groups;
    const runtime = name === undefined ? undefined : runtimes.get(name);
    const accountId = account ?? partialAccount;
    if (nameQualifier !== undefined && qualifier !== null && nameQualifier !== qualifier) {
      throw new ServiceException(
        400,
        'InvalidParameterValueException',
        'The derived qualifier from the function name does not match the specified qualifier.',
      );
    }
    const version = nameQualifier ?? qualifier ?? '$LATEST';
    if (
      runtime === undefined ||
      (arnRegion !== undefined && arnRegion !== region) ||
      (accountId !== undefined && accountId !== LOCAL_ACCOUNT_ID)
    ) {
      throw functionNotFound(
        rawName.startsWith('arn:')
          ? rawName
          : lambdaArn(arnRegion ?? region, `${name ?? rawName}`, accountId),
      );
    }
    if (version !== '$LATEST') {
      throw functionNotFound(`${runtime.arn}:${version} (the local stack deploys $LATEST only)`);
    }
    return runtime;
  };

  const takeFault = (fields: { tool?: string; sessionId?: string }): FaultState | undefined =>
    fields.tool === undefined || fields.sessionId === undefined
      ? undefined
      : faults.get(fields.sessionId)?.get(fields.tool);

  const execute = async (
    runtime: FunctionRuntime,
    payload: string,
    invocationType: InvocationType,
    clientContext: unknown,
    requestId: string = randomUUID(),
  ): Promise<InvokeResult> => {
    const { spec } = runtime;
    const started = performance.now();
    const startedAt = new Date();
    const timeoutMs = spec.timeoutSeconds * 1000;
    const fields = actionGroupFields(payload);
    const fault = takeFault(fields);
    const logStream = logStreams.get(spec.key);
    let coldStart = false;
    let recordExtra: Pick<InvocationRecord, 'errorType'> = {};

    const finish = (
      outcome: InvocationOutcome,
      result: Omit<InvokeResult, 'requestId' | 'statusCode'>,
    ): InvokeResult => {
      const durationMs = performance.now() - started;
      records.push({
        requestId,
        functionName: spec.name,
        invocationType,
        startedAt: startedAt.toISOString(),
        durationMs,
        outcome,
        ...recordExtra,
        coldStart,
        ...fields,
      });
      if (records.length > MAX_RECORDS) records.splice(0, records.length - MAX_RECORDS);
      logStream?.write(
        `END RequestId: ${requestId}\nREPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${spec.memorySize} MB\tOutcome: ${outcome}\n`,
      );
      return { requestId, statusCode: invocationType === 'Event' ? 202 : 200, ...result };
    };
    const functionError = (outcome: InvocationOutcome, errorType: string, message: string): InvokeResult => {
      recordExtra = { errorType };
      return finish(outcome, { functionError: 'Unhandled', payload: errorPayload(errorType, message) });
    };
    // Lambda's wording, prefixed with time and request id as in CloudWatch.
    const timedOut = (): InvokeResult =>
      functionError(
        'timeout',
        'Sandbox.Timedout',
        `${new Date().toISOString()} ${requestId} Task timed out after ${spec.timeoutSeconds.toFixed(2)} seconds`,
      );

    logStream?.write(`START RequestId: ${requestId} Version: $LATEST\n`);
    // An injected delay is time the tool spends, so it counts against the timeout; waiting for a free sandbox
    // and the cold start (Lambda's separate init phase) do not.
    let delayedMs = 0;
    if (fault !== undefined && fault.delayMs > 0) {
      delayedMs = Math.min(fault.delayMs, timeoutMs);
      await sleep(Math.min(fault.delayMs, timeoutMs));
      if (fault.delayMs >= timeoutMs) return timedOut();
    }
    if (fault !== undefined && fault.remainingFailures > 0) {
      fault.remainingFailures--;
      return functionError(
        'injected-failure',
        fault.error,
        `Fault injected by the local stack: tool ${fields.tool} failed for session ${fields.sessionId} (${fault.remainingFailures} more to fail)`,
      );
    }

    const { sandbox, cold } = await runtime.acquire();
    coldStart = cold;
    let recycle = false;
    try {
      const ready = await sandbox.ready;
      if (!ready.ok) {
        recycle = true;
        recordExtra = { errorType: ready.error.errorType };
        return finish('error', { functionError: 'Unhandled', payload: JSON.stringify(ready.error) });
      }
      if (cold) logStream?.write(`INIT_REPORT Init Duration: ${ready.initDurationMs.toFixed(2)} ms\n`);
      const deadlineMs = Date.now() + timeoutMs - delayedMs;
      const message: InvokeMessage = {
        type: 'invoke',
        requestId,
        payload,
        deadlineMs,
        context: {
          functionName: spec.name,
          functionVersion: '$LATEST',
          invokedFunctionArn: runtime.arn,
          memoryLimitInMB: String(spec.memorySize),
          logGroupName: `/aws/lambda/${spec.name}`,
          logStreamName: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
          ...(clientContext === undefined ? {} : { clientContext }),
        },
      };
      const outcome = await sandbox.run(message, deadlineMs - Date.now());
      if (outcome.kind === 'timeout') {
        recycle = true;
        return timedOut();
      }
      if (outcome.kind === 'exit') {
        recycle = true;
        return functionError(
          'error',
          'Runtime.ExitError',
          `RequestId: ${requestId} Error: Runtime exited with error: exit status ${outcome.code}`,
        );
      }
      if (fault !== undefined && fault.remainingCrashes > 0) {
        fault.remainingCrashes--;
        recycle = true;
        return functionError(
          'injected-crash',
          'Runtime.ExitError',
          `RequestId: ${requestId} Error: Runtime exited with error: signal: killed (fault injected by the local stack: tool ${fields.tool} crashed after side effect)`,
        );
      }
      const result = outcome.message;
      if (result.ok) return finish('success', { payload: result.payload });
      recordExtra = { errorType: result.error.errorType };
      recycle = result.fatal === true;
      return finish('error', { functionError: 'Unhandled', payload: JSON.stringify(result.error) });
    } finally {
      runtime.release(sandbox, recycle);
    }
  };

  const invokeResolved = async (
    runtime: FunctionRuntime,
    payload: string,
    invocationType: InvocationType,
    clientContext: unknown,
  ): Promise<InvokeResult> => {
    if (closed)
      throw new ServiceException(503, 'ServiceException', 'The local Lambda service is shutting down');
    if (invocationType === 'DryRun') return { requestId: randomUUID(), statusCode: 204, payload: '' };
    if (invocationType === 'Event') {
      const requestId = randomUUID();
      const run = execute(runtime, payload, invocationType, clientContext, requestId).catch(
        (error: unknown) => {
          log(`Event invocation of ${runtime.spec.name} failed: ${String(error)}`);
        },
      );
      background.add(run);
      void run.finally(() => background.delete(run));
      return { requestId, statusCode: 202, payload: '' };
    }
    return execute(runtime, payload, invocationType, clientContext);
  };

  const normalizePayload = (body: Buffer): string => {
    const text = body.toString('utf8');
    if (text.trim() === '') return '{}';
    try {
      JSON.parse(text);
    } catch {
      throw new ServiceException(
        400,
        'InvalidRequestContentException',
        'Could not parse request body into json',
      );
    }
    return text;
  };

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const sendServiceError = (res: ServerResponse, error: ServiceException): void => {
    sendJson(
      res,
      error.statusCode,
      { Type: 'User', message: error.message },
      { 'x-amzn-errortype': error.errorType },
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const invokeMatch = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (invokeMatch?.[1] !== undefined && req.method === 'POST') {
      const invocationType = (req.headers['x-amz-invocation-type'] ?? 'RequestResponse') as string;
      if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
        throw new ServiceException(
          400,
          'InvalidParameterValueException',
          `Invalid InvocationType: ${invocationType}`,
        );
      }
      const runtime = resolveFunction(decodeURIComponent(invokeMatch[1]), url.searchParams.get('Qualifier'));
      const limit = invocationType === 'Event' ? MAX_ASYNC_PAYLOAD : MAX_SYNC_PAYLOAD;
      const body = await readBody(req, limit, () => payloadTooLarge(limit));
      const payload = normalizePayload(body);
      const contextHeader = req.headers['x-amz-client-context'];
      let clientContext: unknown;
      if (typeof contextHeader === 'string' && contextHeader !== '') {
        try {
          clientContext = JSON.parse(Buffer.from(contextHeader, 'base64').toString('utf8'));
        } catch {
          throw new ServiceException(
            400,
            'InvalidRequestContentException',
            'Client context must be base64 JSON',
          );
        }
      }
      const result = await invokeResolved(runtime, payload, invocationType as InvocationType, clientContext);
      const headers: Record<string, string> = { 'x-amzn-requestid': result.requestId };
      if (result.statusCode === 200) {
        headers['content-type'] = 'application/json';
        headers['x-amz-executed-version'] = '$LATEST';
      }
      if (result.functionError !== undefined) headers['x-amz-function-error'] = result.functionError;
      res.writeHead(result.statusCode, headers);
      res.end(result.payload);
      return;
    }
    const faultMatch = /^\/_local\/tool-faults\/([^/]+)$/.exec(url.pathname);
    if (faultMatch?.[1] !== undefined) {
      const sessionId = decodeURIComponent(faultMatch[1]);
      if (req.method === 'DELETE') {
        faults.delete(sessionId);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'PUT') {
        const body = (await readBody(req, 64 * 1024, () => payloadTooLarge(64 * 1024))).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          sendJson(res, 400, { message: 'Tool faults must be a JSON object' });
          return;
        }
        const result = toolFaultsSchema.safeParse(parsed);
        if (!result.success) {
          sendJson(res, 400, {
            message: 'Invalid tool faults',
            issues: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
          });
          return;
        }
        service.setToolFaults(sessionId, result.data);
        sendJson(res, 200, { sessionId, faults: result.data });
        return;
      }
    }
    if (url.pathname === '/_local/invocations' && req.method === 'GET') {
      sendJson(res, 200, records);
      return;
    }
    if (url.pathname === '/_local/health' && req.method === 'GET') {
      sendJson(res, 200, { service: 'lambda', functions: [...runtimes.keys()] });
      return;
    }
    throw new ServiceException(
      404,
      'UnknownOperationException',
      `The local Lambda service implements Invoke only (got ${req.method} ${url.pathname})`,
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof ServiceException) {
        sendServiceError(res, error);
        return;
      }
      log(`Lambda service error: ${error instanceof Error ? error.stack : String(error)}`);
      sendJson(
        res,
        500,
        { Type: 'Service', message: error instanceof Error ? error.message : String(error) },
        { 'x-amzn-errortype': 'ServiceException' },
      );
    });
  });
  // Long synchronous invocations (plan: 120 s) must not be cut by Node's default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;

  const service: LambdaService = {
    url: `http://127.0.0.1:${port}`,
    region,
    functions: () => [...runtimes.values()].map((r) => r.spec),
    builds,
    buildMs,
    async invoke(functionName, payload, invokeOptions = {}) {
      const runtime = resolveFunction(functionName, null);
      const text =
        typeof payload === 'string' ? normalizePayload(Buffer.from(payload)) : JSON.stringify(payload ?? {});
      return invokeResolved(runtime, text, invokeOptions.invocationType ?? 'RequestResponse', undefined);
    },
    setSharedEnvironment(env) {
      sharedEnvironment = { ...env };
      for (const runtime of runtimes.values()) runtime.recycleIdle();
    },
    setToolFaults(sessionId, toolFaults) {
      const parsed = toolFaultsSchema.parse(toolFaults);
      const states = new Map<string, FaultState>();
      for (const [tool, fault] of Object.entries(parsed)) {
        states.set(tool, {
          remainingFailures: fault.failTimes ?? 0,
          error: fault.error ?? 'ToolFaultInjected',
          delayMs: fault.delayMs ?? 0,
          remainingCrashes: fault.crashAfterSideEffect ?? 0,
        });
      }
      faults.set(sessionId, states);
    },
    clearToolFaults(sessionId) {
      if (sessionId === undefined) faults.clear();
      else faults.delete(sessionId);
    },
    invocations: () => [...records],
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await Promise.all([...runtimes.values()].map((runtime) => runtime.close()));
      await Promise.allSettled([...background]);
      await Promise.all(
        [...logStreams.values()].map((stream) => new Promise<void>((ok) => stream.end(() => ok()))),
      );
    },
  };
  log(
    `Lambda service on ${service.url} (${runtimes.size} functions: ${[...runtimes.values()].map((r) => r.spec.key).join(', ')})`,
  );
  return service;
};

// ---------------------------------------------------------------------------------------------------------
// Control client, for a CLI in another process than the stack.

/** Sets a session's tool faults on a running local Lambda service (`PUT /_local/tool-faults/<sessionId>`). */
export const putToolFaults = async (
  lambdaEndpoint: string,
  sessionId: string,
  faults: ToolFaults,
): Promise<void> => {
  const url = `${lambdaEndpoint.replace(/\/$/, '')}/_local/tool-faults/${encodeURIComponent(sessionId)}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(toolFaultsSchema.parse(faults)),
  });
  if (!response.ok) {
    throw new LambdaServiceError(`Setting tool faults failed (${response.status}): ${await response.text()}`);
  }
};

/** Removes a session's tool faults from a running local Lambda service. */
export const deleteToolFaults = async (lambdaEndpoint: string, sessionId: string): Promise<void> => {
  const url = `${lambdaEndpoint.replace(/\/$/, '')}/_local/tool-faults/${encodeURIComponent(sessionId)}`;
  const response = await fetch(url, { method: 'DELETE' });
  if (!response.ok) {
    throw new LambdaServiceError(
      `Clearing tool faults failed (${response.status}): ${await response.text()}`,
    );
  }
};
