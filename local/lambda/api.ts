/**
 * The Lambda Invoke API on loopback: runs each function's esbuild bundle in worker threads, and takes a session's
 * tool faults on `PUT /_local/tool-faults/<sessionId>` (the CLI sets them from another process).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { readBody } from '../aws/http';
import { localSqsClient } from '../sqs/client';
import { defaultBuildDir } from '../stack/data-dir';
import { type EsbuildConfig, lambdaArn } from '../stack/serverless-config';
import { AsyncInvocations } from './async-invocations';
import { type BuildReport, buildFunctions, taskRootOf } from './bundles';
import { LambdaServiceError, payloadTooLarge, ServiceException } from './errors';
import { type LambdaFunctionSpec, resolveFunction } from './functions';
import { type DeployedFunction, type InvocationRecord, type InvocationType, Invoker } from './invocations';
import { Sandbox, SandboxPool, sandboxEnvironment } from './sandboxes';
import { ToolFaultInjector, toolFaultsSchema } from './tool-faults';
import type { WorkerInit } from './worker';

export type { LambdaFunctionSpec } from './functions';
export type { InvocationRecord } from './invocations';

export interface StartLambdaServiceOptions {
  functions: LambdaFunctionSpec[];
  region: string;
  /** custom.esbuild of serverless.yml. */
  esbuild: EsbuildConfig;
  /** Repository root: handler paths are relative to it. */
  rootDir: string;
  /** Where bundles go (default `<data dir>/build`, see local/stack/data-dir.ts). */
  buildDir?: string;
  /** Where `<fn>.log` files go (default `<rootDir>/.local/logs`). */
  logDir?: string;
  /** Endpoint variables and the like, added to every function's environment (see setSharedEnvironment). */
  sharedEnvironment?: Record<string, string>;
  /** Sandboxes per function before further invocations wait (default 10). */
  maxConcurrencyPerFunction?: number;
  /** An idle sandbox is ended after this long; the next invocation is a cold start (default 5 min). */
  sandboxIdleMs?: number;
  /** Where on-failure records of Event invocations go (the local SQS); without it they are logged and dropped. */
  sqsEndpoint?: string;
  /** Waits before the retries of a failed Event invocation (AWS: about 1 and 2 minutes; default 1 s and 2 s). */
  asyncRetryDelaysMs?: number[];
  port?: number;
  /**
   * The local X-Ray daemon (`127.0.0.1:<port>`): every function traces as with active tracing (the tracer on,
   * AWS_XRAY_DAEMON_ADDRESS, `_X_AMZN_TRACE_ID` per invocation) and each invocation's function segment is sent.
   */
  xrayDaemonAddress?: string;
  log?: (line: string) => void;
}

export interface LambdaService {
  url: string;
  functions(): LambdaFunctionSpec[];
  /** Replaces the variables added to every function's environment; sandboxes started before are recycled. */
  setSharedEnvironment(env: Record<string, string>): void;
  invocations(): InvocationRecord[];
  builds: BuildReport[];
  buildMs: number;
  close(): Promise<void>;
}

const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD = 1024 * 1024;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const TOOL_FAULTS_PATH = /^\/_local\/tool-faults\/([^/]+)$/;

const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** An empty body is `{}`, as Lambda takes it; anything else must be JSON. */
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

const clientContextOf = (req: IncomingMessage): unknown => {
  const header = req.headers['x-amz-client-context'];
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw new ServiceException(400, 'InvalidRequestContentException', 'Client context must be base64 JSON');
  }
};

interface Routes {
  region: string;
  functions: Map<string, DeployedFunction>;
  invoker: Invoker;
  faults: ToolFaultInjector;
}

/** POST /2015-03-31/functions/<name>/invocations: the Invoke operation. */
const invokeRoute = async (
  r: Routes,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  rawName: string,
) => {
  const invocationType = (req.headers['x-amz-invocation-type'] ?? 'RequestResponse') as string;
  if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
    throw new ServiceException(
      400,
      'InvalidParameterValueException',
      `Invalid InvocationType: ${invocationType}`,
    );
  }
  const fn = resolveFunction(
    r.functions,
    r.region,
    decodeURIComponent(rawName),
    url.searchParams.get('Qualifier'),
  );
  const limit = invocationType === 'Event' ? MAX_ASYNC_PAYLOAD : MAX_SYNC_PAYLOAD;
  const payload = normalizePayload(await readBody(req, limit, () => payloadTooLarge(limit)));
  const traceHeader = req.headers['x-amzn-trace-id'];
  const result = await r.invoker.invoke(
    fn,
    payload,
    invocationType as InvocationType,
    clientContextOf(req),
    typeof traceHeader === 'string' ? traceHeader : undefined,
  );
  const headers: Record<string, string> = { 'x-amzn-requestid': result.requestId };
  if (result.statusCode === 200) {
    headers['content-type'] = 'application/json';
    headers['x-amz-executed-version'] = '$LATEST';
  }
  if (result.functionError !== undefined) headers['x-amz-function-error'] = result.functionError;
  res.writeHead(result.statusCode, headers);
  res.end(result.payload);
};

/** PUT /_local/tool-faults/<sessionId>: replaces a session's tool faults. */
const toolFaultsRoute = async (r: Routes, req: IncomingMessage, res: ServerResponse, sessionId: string) => {
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
    sendJson(res, 400, { message: 'Invalid tool faults', issues: zodIssues(result.error) });
    return;
  }
  r.faults.set(sessionId, result.data);
  sendJson(res, 200, { sessionId, faults: result.data });
};

const route = async (r: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const invokeMatch = INVOKE_PATH.exec(url.pathname);
  if (invokeMatch?.[1] !== undefined && req.method === 'POST')
    return invokeRoute(r, req, res, url, invokeMatch[1]);
  const faultMatch = TOOL_FAULTS_PATH.exec(url.pathname);
  if (faultMatch?.[1] !== undefined && req.method === 'PUT') {
    return toolFaultsRoute(r, req, res, decodeURIComponent(faultMatch[1]));
  }
  throw new ServiceException(
    404,
    'UnknownOperationException',
    `The local Lambda service implements Invoke only (got ${req.method} ${url.pathname})`,
  );
};

/** Lambda's error answer for a ServiceException; anything else is a 500 ServiceException, logged. */
const sendError = (res: ServerResponse, error: unknown, log: (line: string) => void): void => {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof ServiceException) {
    sendJson(
      res,
      error.statusCode,
      { Type: 'User', message: error.message },
      { 'x-amzn-errortype': error.errorType },
    );
    return;
  }
  log(`Lambda service error: ${error instanceof Error ? error.stack : String(error)}`);
  const message = error instanceof Error ? error.message : String(error);
  sendJson(res, 500, { Type: 'Service', message }, { 'x-amzn-errortype': 'ServiceException' });
};

const listen = async (routes: Routes, port: number, log: (line: string) => void) => {
  const server = createServer((req, res) => {
    route(routes, req, res).catch((error: unknown) => sendError(res, error, log));
  });
  // Long synchronous invocations (plan: 120 s) must not be cut by Node's default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

/** A function's log file and sandbox pool; its sandboxes start with the shared environment of that moment. */
const deployFunction = (
  spec: LambdaFunctionSpec,
  bundle: { bundlePath: string; exportName: string; runtimeFile: string },
  o: Pick<
    StartLambdaServiceOptions,
    'region' | 'maxConcurrencyPerFunction' | 'sandboxIdleMs' | 'xrayDaemonAddress'
  > & {
    buildDir: string;
    logDir: string;
    sharedEnvironment: () => Record<string, string>;
  },
): DeployedFunction => {
  const logStream: WriteStream = createWriteStream(join(o.logDir, `${spec.key}.log`), { flags: 'a' });
  // Up to maxConcurrencyPerFunction sandboxes pipe into it at once (two pipes each).
  logStream.setMaxListeners(0);
  const init: WorkerInit = {
    bundlePath: bundle.bundlePath,
    handlerExport: bundle.exportName,
    enableSourceMaps: (spec.environment.NODE_OPTIONS ?? '').includes('--enable-source-maps'),
  };
  const newSandbox = () =>
    new Sandbox(
      bundle.runtimeFile,
      init,
      sandboxEnvironment(
        spec,
        o.sharedEnvironment(),
        o.region,
        taskRootOf(o.buildDir, spec.key),
        o.xrayDaemonAddress,
      ),
      logStream,
    );
  const arn = lambdaArn(o.region, spec.name);
  const maxConcurrency = o.maxConcurrencyPerFunction ?? 10;
  const pool = new SandboxPool(spec, arn, maxConcurrency, o.sandboxIdleMs ?? 5 * 60_000, newSandbox);
  return { spec, arn, pool, logStream };
};

/** Bundles every function, then serves the Lambda Invoke API on 127.0.0.1. */
export const startLambdaService = async (options: StartLambdaServiceOptions): Promise<LambdaService> => {
  const { region, rootDir } = options;
  const buildDir = options.buildDir ?? defaultBuildDir(rootDir);
  const logDir = options.logDir ?? join(rootDir, '.local', 'logs');
  const log = options.log ?? (() => {});
  let sharedEnvironment = { ...(options.sharedEnvironment ?? {}) };
  mkdirSync(logDir, { recursive: true });

  const built = await buildFunctions({
    functions: options.functions,
    esbuild: options.esbuild,
    rootDir,
    buildDir,
  });
  const { builds, buildMs } = built;
  const cachedCount = builds.filter((b) => b.cached).length;
  log(
    `Bundled ${builds.length} functions in ${(buildMs / 1000).toFixed(2)} s (${cachedCount} unchanged) into ${relative(rootDir, buildDir) || buildDir}`,
  );

  const functions = new Map<string, DeployedFunction>();
  built.entries.forEach(({ spec, exportName }, i) => {
    const outfile = builds[i]?.outfile;
    if (outfile === undefined) throw new LambdaServiceError(`No bundle for ${spec.key}`);
    const fn = deployFunction(
      spec,
      { bundlePath: outfile, exportName, runtimeFile: built.runtimeFile },
      {
        ...options,
        buildDir,
        logDir,
        sharedEnvironment: () => sharedEnvironment,
      },
    );
    functions.set(spec.name, fn);
  });

  const faults = new ToolFaultInjector();
  const sqs = options.sqsEndpoint === undefined ? undefined : localSqsClient(options.sqsEndpoint, region);
  const asyncInvocations = new AsyncInvocations({
    log,
    ...(sqs === undefined ? {} : { sqs }),
    ...(options.asyncRetryDelaysMs === undefined ? {} : { retryDelaysMs: options.asyncRetryDelaysMs }),
  });
  const invoker = new Invoker(faults, log, asyncInvocations, options.xrayDaemonAddress);
  const { server, url } = await listen({ region, functions, invoker, faults }, options.port ?? 0, log);
  let closed = false;
  log(
    `Lambda service on ${url} (${functions.size} functions: ${[...functions.values()].map((f) => f.spec.key).join(', ')})`,
  );
  return {
    url,
    functions: () => [...functions.values()].map((f) => f.spec),
    builds,
    buildMs,
    setSharedEnvironment(env) {
      sharedEnvironment = { ...env };
      for (const fn of functions.values()) fn.pool.recycleIdle();
    },
    invocations: () => [...invoker.records],
    async close() {
      if (closed) return;
      closed = true;
      const drained = invoker.close();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await Promise.all([...functions.values()].map((fn) => fn.pool.close()));
      await drained;
      sqs?.destroy();
      await Promise.all(
        [...functions.values()].map((fn) => new Promise<void>((ok) => fn.logStream.end(() => ok()))),
      );
    },
  };
};
