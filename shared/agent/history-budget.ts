/** Continue-as-new: a conservative estimate of the history events this execution has written, and its budget. */

/**
 * "Maximum execution history size: 25,000 events" (Standard workflows); past it the execution fails.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
 */
export const HISTORY_EVENT_LIMIT = 25_000;

/** HISTORY_EVENT_BUDGET's default: a fifth under the limit, room for the last turn, retries and the ending states. */
export const DEFAULT_HISTORY_EVENT_BUDGET = 20_000;

/*
 * Events per state of statemachines/agent-goal.asl.json. A Lambda Task writes TaskStateEntered,
 * LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded and TaskStateExited (5), and each retry
 * adds a failed, a scheduled and a started event (3): counted as if every Task were retried once, 8. A Choice
 * writes ChoiceStateEntered/Exited (2); the Map writes MapStateEntered, MapStateStarted, MapStateSucceeded and
 * MapStateExited (4) and per item MapIterationStarted/Succeeded (2) around its RunTool Task.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
 */
const TASK = 5 + 3;
const CHOICE = 2;
const MAP = 4;
/** One turn: Plan, HasToolCalls, RunTools. */
export const EVENTS_PER_TURN = TASK + CHOICE + MAP;
/** One tool call: its Map iteration and its RunTool Task. */
export const EVENTS_PER_CALL = 2 + TASK;
/** ExecutionStarted, StartSession, the Plan and Choice that decide to end, the ending Task, the execution's end. */
export const EVENTS_FIXED = 1 + TASK + TASK + CHOICE + TASK + 1;

/** The history events an execution has written after `turns` turns with `calls` tool calls, over-counted. */
export const estimatedHistoryEvents = (turns: number, calls: number): number =>
  EVENTS_FIXED + turns * EVENTS_PER_TURN + calls * EVENTS_PER_CALL;

/**
 * Whether the next turn could take the execution past its budget: the estimate after one more turn with as many
 * calls as the busiest turn so far (at least one) is over it, so the session continues in a fresh execution first.
 */
export const shouldContinueAsNew = (
  turns: number,
  calls: number,
  busiestTurnCalls: number,
  budget: number,
): boolean => estimatedHistoryEvents(turns + 1, calls + Math.max(1, busiestTurnCalls)) > budget;
