/**
 * Local Step Functions: runs STANDARD workflows with aws-local-stepfunctions behind the subset of the Step Functions
 * API (AWS JSON 1.0) that sovereign-agent and an operator use: StartExecution (intake), and ListExecutions,
 * DescribeExecution, StopExecution, GetExecutionHistory (listing, inspecting and stopping executions), and
 * SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat for Tasks of the callback pattern (task-tokens.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import {
  AwsApiError,
  decodeToken,
  encodeToken,
  epochSeconds,
  type OperationHandler,
  parseInput,
  startAwsJsonServer,
  utf8Length,
} from '../aws/json-protocol';
import { continueTrace } from '../xray/emitter';
import { type Execution, Executions } from './executions';
import { LambdaTaskRunner } from './lambda-tasks';
import type { RunInput } from './library';
import { type LoadedMachine, loadStateMachine, STATE_MACHINE_ARN, type StateMachineSpec } from './machines';
import { ExecutionFiles } from './persistence';
import { type ExecutionRecord, MAX_PAYLOAD_BYTES, nowIso } from './records';
import type { StatusChangeSink } from './status-events';
import { TaskTokens } from './task-tokens';

export type { StateMachineSpec } from './machines';
export type { ExecutionRecord } from './records';
export type { StatusChangeSink } from './status-events';

export interface StepFunctionsServiceOptions {
  stateMachines: StateMachineSpec[];
  /** When given, execution records and histories persist under `<dataDir>/executions/`. */
  dataDir?: string;
  region: string;
  /** Per state name: milliseconds to wait before each retry instead of the Retry's backoff (tests). */
  retryIntervalOverrides?: Record<string, number | number[]>;
  /** Defaults to a free port on 127.0.0.1. */
  port?: number;
  /** The local X-Ray daemon: executions are traced (tracingConfig enabled) and their segments sent there. */
  xrayDaemonAddress?: string;
}

export interface StepFunctionsService {
  url: string;
  executions(): ExecutionRecord[];
  waitForExecution(executionArn: string, timeoutMs?: number): Promise<ExecutionRecord>;
  /**
   * Where "Step Functions Execution Status Change" events go (the local default bus), as AWS sends them; until
   * connected they wait, and undefined disconnects.
   */
  connectStatusEvents(sink: StatusChangeSink | undefined): void;
  close(): Promise<void>;
}

const EXECUTION_NAME = /^[0-9A-Za-z_-]+$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/;

interface ApiContext {
  machines: Map<string, LoadedMachine>;
  executions: Executions;
  /** Executions are traced (a local X-Ray daemon runs). */
  traced: boolean;
  tokens: TaskTokens;
}

const machineFor = (ctx: ApiContext, arn: string): LoadedMachine => {
  if (!STATE_MACHINE_ARN.test(arn)) throw new AwsApiError('InvalidArn', `Invalid Arn: '${arn}'`);
  const loaded = ctx.machines.get(arn);
  if (!loaded) throw new AwsApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  return loaded;
};

const executionFor = (ctx: ApiContext, arn: string): Execution => {
  if (!EXECUTION_ARN.test(arn)) throw new AwsApiError('InvalidArn', `Invalid Arn: '${arn}'`);
  const exec = ctx.executions.find(arn);
  if (!exec) throw new AwsApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
  return exec;
};

const lengthError = (field: string, value: string, max: number) =>
  new AwsApiError(
    'ValidationException',
    `1 validation error detected: Value '${value.length > 100 ? `${value.slice(0, 100)}...` : value}' at '${field}' ` +
      `failed to satisfy constraint: Member must have length less than or equal to ${max}`,
  );

/** Length limits are model constraints: Step Functions answers them with ValidationException. */
const checkLengths = (name: string, input: string): void => {
  if (name.length > 80) throw lengthError('name', name, 80);
  if (name.length === 0) {
    throw new AwsApiError(
      'ValidationException',
      "1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  }
  if (utf8Length(input) > MAX_PAYLOAD_BYTES) throw lengthError('input', input, MAX_PAYLOAD_BYTES);
};

const parseExecutionInput = (input: string): RunInput => {
  try {
    return JSON.parse(input);
  } catch (err) {
    throw new AwsApiError(
      'InvalidExecutionInput',
      `Invalid State Machine Execution Input: '${(err as Error).message}'`,
    );
  }
};

const startExecution = (ctx: ApiContext, input: Record<string, unknown>, headers: IncomingHttpHeaders) => {
  const req = parseInput(
    z.object({
      stateMachineArn: z.string(),
      name: z.string().optional(),
      input: z.string().optional(),
      traceHeader: z.string().max(256).optional(),
    }),
    input,
    'StartExecution',
  );
  const name = req.name ?? randomUUID();
  const executionInput = req.input ?? '{}';
  checkLengths(name, executionInput);
  const loaded = machineFor(ctx, req.stateMachineArn);
  if (!EXECUTION_NAME.test(name)) throw new AwsApiError('InvalidName', `Invalid Name: '${name}'`);
  const parsedInput = parseExecutionInput(executionInput);
  const { partition, region, account } = loaded.arnParts;
  const executionArn = `arn:${partition}:states:${region}:${account}:execution:${loaded.spec.name}:${name}`;
  const existing = ctx.executions.find(executionArn);
  if (existing) {
    // StartExecution is idempotent for STANDARD workflows: same name and input while running -> same answer.
    if (existing.record.status === 'RUNNING' && existing.record.input === executionInput) {
      return { executionArn, startDate: epochSeconds(existing.record.startDate) };
    }
    throw new AwsApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
  }
  // The caller's trace goes on in the execution: the traceHeader parameter, else the request's X-Amzn-Trace-Id.
  const header = headers['x-amzn-trace-id'];
  const trace = ctx.traced
    ? continueTrace(req.traceHeader ?? (typeof header === 'string' ? header : undefined))
    : undefined;
  const exec = ctx.executions.start(loaded, executionArn, name, executionInput, parsedInput, trace);
  return { executionArn, startDate: epochSeconds(exec.record.startDate) };
};

/** The fields DescribeExecution and ListExecutions both answer with. */
const executionSummary = (r: ReturnType<typeof executionFor>['record']) => ({
  executionArn: r.executionArn,
  stateMachineArn: r.stateMachineArn,
  name: r.name,
  status: r.status,
  startDate: epochSeconds(r.startDate),
  ...(r.stopDate ? { stopDate: epochSeconds(r.stopDate) } : {}),
});

const describeExecution = (ctx: ApiContext, input: Record<string, unknown>) => {
  const { executionArn } = parseInput(z.object({ executionArn: z.string() }), input, 'DescribeExecution');
  const r = executionFor(ctx, executionArn).record;
  return {
    ...executionSummary(r),
    input: r.input,
    inputDetails: { included: true },
    ...(r.output !== undefined ? { output: r.output, outputDetails: { included: true } } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.cause !== undefined ? { cause: r.cause } : {}),
    redriveCount: 0,
    redriveStatus: 'NOT_REDRIVABLE',
  };
};

const pageSize = (maxResults: number | undefined) =>
  maxResults === undefined || maxResults === 0 ? 100 : maxResults;

const listExecutionsInput = z.object({
  stateMachineArn: z.string(),
  statusFilter: z
    .enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'])
    .optional(),
  maxResults: z.number().int().min(0).max(1000).optional(),
  nextToken: z.string().optional(),
});

/** Newest first, as Step Functions lists them. */
const listExecutions = (ctx: ApiContext, input: Record<string, unknown>) => {
  const req = parseInput(listExecutionsInput, input, 'ListExecutions');
  machineFor(ctx, req.stateMachineArn);
  const scope = `${req.stateMachineArn}|${req.statusFilter ?? ''}`;
  const offset = decodeToken(req.nextToken, scope, 'InvalidToken');
  const matching = ctx.executions
    .records()
    .filter(
      (r) =>
        r.stateMachineArn === req.stateMachineArn && (!req.statusFilter || r.status === req.statusFilter),
    )
    .sort((a, b) => b.startDate.localeCompare(a.startDate) || b.executionArn.localeCompare(a.executionArn));
  const size = pageSize(req.maxResults);
  return {
    executions: matching.slice(offset, offset + size).map(executionSummary),
    ...(offset + size < matching.length ? { nextToken: encodeToken(offset + size, scope) } : {}),
  };
};

const stopExecution = async (ctx: ApiContext, input: Record<string, unknown>) => {
  const req = parseInput(
    z.object({
      executionArn: z.string(),
      error: z.string().max(256).optional(),
      cause: z.string().max(32768).optional(),
    }),
    input,
    'StopExecution',
  );
  const exec = executionFor(ctx, req.executionArn);
  await ctx.executions.stop(exec, {
    ...(req.error !== undefined ? { error: req.error } : {}),
    ...(req.cause !== undefined ? { cause: req.cause } : {}),
  });
  return { stopDate: epochSeconds(exec.record.stopDate ?? nowIso()) };
};

const getExecutionHistoryInput = z.object({
  executionArn: z.string(),
  maxResults: z.number().int().min(0).max(1000).optional(),
  reverseOrder: z.boolean().optional(),
  nextToken: z.string().optional(),
  includeExecutionData: z.boolean().optional(),
});

const getExecutionHistory = (ctx: ApiContext, input: Record<string, unknown>) => {
  const req = parseInput(getExecutionHistoryInput, input, 'GetExecutionHistory');
  const exec = executionFor(ctx, req.executionArn);
  const scope = `${req.executionArn}|${req.reverseOrder ? 'r' : 'f'}`;
  const offset = decodeToken(req.nextToken, scope, 'InvalidToken');
  const ordered = req.reverseOrder ? [...exec.history].reverse() : exec.history;
  const size = pageSize(req.maxResults);
  const includeData = req.includeExecutionData ?? true;
  return {
    events: ordered.slice(offset, offset + size).map((e) => {
      const out: Record<string, unknown> = {
        timestamp: epochSeconds(e.timestamp),
        type: e.type,
        id: e.id,
        previousEventId: e.previousEventId,
      };
      if (e.detailsField && e.details) {
        const { input: _in, output: _out, ...withoutData } = e.details;
        out[e.detailsField] = includeData ? e.details : withoutData;
      }
      return out;
    }),
    ...(offset + size < ordered.length ? { nextToken: encodeToken(offset + size, scope) } : {}),
  };
};

const taskTokenInput = z.object({ taskToken: z.string().min(1) });

/** SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat: settle (or check) a callback Task's token; `{}` on success. */
const taskResponses = (ctx: ApiContext): Record<string, OperationHandler> => ({
  SendTaskSuccess: (input) => {
    const req = parseInput(taskTokenInput.extend({ output: z.string() }), input, 'SendTaskSuccess');
    ctx.tokens.succeed(req.taskToken, req.output);
    return {};
  },
  SendTaskFailure: (input) => {
    const req = parseInput(
      taskTokenInput.extend({
        error: z.string().max(256).optional(),
        cause: z.string().max(32768).optional(),
      }),
      input,
      'SendTaskFailure',
    );
    ctx.tokens.fail(req.taskToken, req.error, req.cause);
    return {};
  },
  SendTaskHeartbeat: (input) => {
    ctx.tokens.heartbeat(parseInput(taskTokenInput, input, 'SendTaskHeartbeat').taskToken);
    return {};
  },
});

const operations = (ctx: ApiContext): Record<string, OperationHandler> => ({
  ...taskResponses(ctx),
  StartExecution: (input, request) => startExecution(ctx, input, request.headers),
  DescribeExecution: (input) => describeExecution(ctx, input),
  ListExecutions: (input) => listExecutions(ctx, input),
  StopExecution: (input) => stopExecution(ctx, input),
  GetExecutionHistory: (input) => getExecutionHistory(ctx, input),
});

/** Loads the state machines (and, with dataDir, earlier executions), then serves the API on 127.0.0.1. */
export const startStepFunctionsService = async (
  o: StepFunctionsServiceOptions,
): Promise<StepFunctionsService> => {
  const tokens = new TaskTokens();
  const tasks = new LambdaTaskRunner(o.region, tokens);
  const machines = new Map(
    o.stateMachines.map((spec) => [spec.arn, loadStateMachine(spec, o.region, tasks)]),
  );
  const files = o.dataDir === undefined ? undefined : new ExecutionFiles(join(o.dataDir, 'executions'));
  const executions = new Executions({
    region: o.region,
    ...(o.retryIntervalOverrides ? { retryIntervalOverrides: o.retryIntervalOverrides } : {}),
    ...(files ? { files } : {}),
    ...(o.xrayDaemonAddress === undefined ? {} : { xrayDaemonAddress: o.xrayDaemonAddress }),
  });
  if (files) executions.restore(await files.load());
  const server = await startAwsJsonServer({
    targetPrefix: 'AWSStepFunctions',
    jsonVersion: '1.0',
    ...(o.port !== undefined ? { port: o.port } : {}),
    operations: operations({ machines, executions, tokens, traced: o.xrayDaemonAddress !== undefined }),
  });
  return {
    url: server.url,
    executions: () => executions.snapshots(),
    waitForExecution: (executionArn, timeoutMs = 30_000) => executions.waitFor(executionArn, timeoutMs),
    connectStatusEvents: (sink) => executions.statusEvents.connect(sink),
    close: async () => {
      await executions.close();
      // A stopped execution's waiting Task: its token closes (SendTask* answers TaskTimedOut).
      tokens.close();
      await server.close();
      await files?.flush();
      tasks.destroy();
    },
  };
};
