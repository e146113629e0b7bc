/** Runs one goal on a local stack and collects its counts: transitions, invocations, Converse calls, DynamoDB, tokens. */

import { costOf, rateFor, type TokenUsage } from '../../shared/agent/pricing';
import { tierSchema } from '../../shared/agent/profiles';
import { executionNameFor } from '../../shared/contracts/goal-events';
import { LocalError } from '../aws/errors';
import { type LocalClients, localClients, runGoal } from '../cli/run-goal';
import type { LocalStack } from '../stack/start';

export class BenchError extends LocalError {}

type Conversation = Awaited<ReturnType<LocalClients['store']['loadConversation']>>;

/** One goal's figures; every count is for this goal only (goals run one after another on the stack). */
export interface GoalMeasurement {
  sessionId: string;
  status: string;
  turns: number;
  toolCalls: number;
  stateTransitions: number;
  historyEvents: number;
  lambdaInvocations: Record<string, number>;
  coldStarts: number;
  converseCalls: number;
  /** Committed turns per model id. */
  models: Record<string, number>;
  dynamodbRequests: Record<string, number>;
  tokens: TokenUsage;
  costUsd: number;
  /** The same turns priced as if no prompt caching happened: cache reads and writes billed as plain input. */
  costWithoutCachingUsd: number;
  /** Information only: depends on the machine and its load. */
  wallMs: number;
}

/** Sum of a count-per-key record (Lambda invocations per function, DynamoDB requests per operation). */
export const totalOf = (values: Record<string, number>): number =>
  Object.values(values).reduce((a, b) => a + b, 0);

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** What the same tokens would cost without prompt caching (cache reads and writes billed as plain input). */
const costWithoutCaching = (conversation: Conversation, sessionId: string): number => {
  let total = 0;
  for (const message of conversation.messages) {
    if (message.role !== 'assistant' || message.usage === undefined || message.modelId === undefined)
      continue;
    const tier = tierSchema.safeParse(message.tier);
    if (!tier.success)
      throw new BenchError(`Turn ${message.turn} of ${sessionId} has no known tier: ${String(message.tier)}`);
    const rate = rateFor(message.modelId, tier.data);
    const { input, output, cacheRead, cacheWrite } = message.usage;
    total += costOf({ input: input + cacheRead + cacheWrite, output, cacheRead: 0, cacheWrite: 0 }, rate);
  }
  return Math.round(total * 1e8) / 1e8;
};

/** The Lambda invocations since `before`, once intake's (asynchronous, from the bus) has landed. */
const invocationsSince = async (stack: LocalStack, before: number, functionKeys: Map<string, string>) => {
  // The bus invokes intake asynchronously; its record lands when it returns, normally long before now.
  let invocations = stack.lambda.invocations().slice(before);
  for (let i = 0; i < 40 && !invocations.some((r) => functionKeys.get(r.functionName) === 'intake'); i++) {
    await sleep(25);
    invocations = stack.lambda.invocations().slice(before);
  }
  return invocations;
};

/** Invocations per function key, sorted by key. */
const countByFunction = (
  invocations: { functionName: string }[],
  functionKeys: Map<string, string>,
): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of invocations) {
    const key = functionKeys.get(r.functionName) ?? r.functionName;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
};

/**
 * Puts `event` on the stack's bus, waits for the session and its execution to end, and reads every counter. The
 * stack must count DynamoDB requests (countDynamoDbRequests) and run nothing else meanwhile: Lambda and DynamoDB
 * counts are the differences from before the goal.
 */
export const measureGoal = async (
  stack: LocalStack,
  event: Record<string, unknown>,
): Promise<GoalMeasurement> => {
  const detail = event.detail as { tenantId?: unknown; goalId?: unknown } | undefined;
  const tenantId = detail?.tenantId;
  const goalId = detail?.goalId;
  if (typeof tenantId !== 'string' || typeof goalId !== 'string') {
    throw new BenchError('A benchmark goal needs detail.tenantId and a unique detail.goalId');
  }
  const functionKeys = new Map(stack.lambda.functions().map((fn) => [fn.name, fn.key]));
  const invocationsBefore = stack.lambda.invocations().length;
  stack.resetDynamoDbRequests();
  const started = performance.now();

  const summary = await runGoal({ stack, event, pollMs: 25, timeoutMs: 60_000 });
  if (summary.sessionId === null)
    throw new BenchError(`The goal did not start: ${summary.error ?? 'unknown'}`);
  const sessionId = summary.sessionId;

  // The session ends (Finalize writes it) a little before the execution does.
  const executionName = executionNameFor(tenantId, sessionId);
  const execution = stack.stepFunctions.executions().find((r) => r.name === executionName);
  if (execution === undefined) throw new BenchError(`No execution ${executionName} for session ${sessionId}`);
  const record = await stack.stepFunctions.waitForExecution(execution.executionArn, 30_000);
  const wallMs = performance.now() - started;

  const invocations = await invocationsSince(stack, invocationsBefore, functionKeys);
  const dynamodbRequests = stack.dynamodbRequests();
  const converseCalls = stack.bedrock.calls().filter((c) => c.sessionId === sessionId).length;
  const conversation = await localClients(stack.env).store.loadConversation(tenantId, sessionId);

  return {
    sessionId,
    status: summary.status,
    turns: summary.turns,
    toolCalls: summary.toolCalls,
    stateTransitions: record.stateTransitions,
    historyEvents: record.historyEventCount,
    lambdaInvocations: countByFunction(invocations, functionKeys),
    coldStarts: invocations.filter((r) => r.coldStart).length,
    converseCalls,
    models: summary.models,
    dynamodbRequests,
    tokens: summary.tokens,
    costUsd: summary.costUsd,
    costWithoutCachingUsd: costWithoutCaching(conversation, sessionId),
    wallMs,
  };
};
