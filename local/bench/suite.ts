/** The benchmark's task suite: goal events with their model scripts (and tool faults) in events/suite/, validated on load. */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { z } from 'zod';
import { busEnvelopeSchema, goalDetailSchema } from '../../shared/contracts/goal-events';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { modelScriptSchema, type ParsedModelScript } from '../bedrock/script';
import { type ToolFaults, toolFaultsSchema } from '../lambda/tool-faults';
import { BenchError } from './errors';

export const SUITE_DIR = join('events', 'suite');

/** Map states run at most this many tool calls of a turn at once; the suite stays within it. */
export const MAX_TOOL_CALLS_PER_TURN = 4;

const suiteGoalSchema = z.strictObject({
  description: z.string().min(1),
  // The bench gives each run its own goalId, so a file must not fix one.
  event: busEnvelopeSchema.extend({
    detail: goalDetailSchema.refine((d) => d.goalId === undefined, {
      message: 'leave goalId out: every run gets its own',
    }),
  }),
  modelScript: modelScriptSchema,
  toolFaults: toolFaultsSchema.optional(),
});

export interface SuiteGoal {
  /** The file name without `.json`, e.g. `05-sample-shape-globex`. */
  name: string;
  file: string;
  description: string;
  tenantId: string;
  event: Record<string, unknown>;
  modelScript: ParsedModelScript;
  toolFaults?: ToolFaults;
  /** The script throttles the model or the goal has tool faults: retries add work beyond the loop's own. */
  injectsFaults: boolean;
  /** What the script plays when every turn is answered: one turn per script turn, its tool calls summed. */
  expected: { turns: number; toolCalls: number };
}

/** Turns and tool calls a script plays out; throttled attempts of a turn are the same turn. */
export const scriptShape = (script: ParsedModelScript): { turns: number; toolCalls: number } => ({
  turns: script.turns.length,
  toolCalls: script.turns.reduce((sum, turn) => sum + (turn.toolUse?.length ?? 0), 0),
});

/** Rules the schema cannot say: only the last turn answers, at most 4 calls per turn, maxTurns lets it finish. */
const shapeProblems = (goal: z.infer<typeof suiteGoalSchema>): string[] => {
  const problems: string[] = [];
  const turns = goal.modelScript.turns;
  turns.forEach((turn, i) => {
    const calls = turn.toolUse?.length ?? 0;
    if (calls > MAX_TOOL_CALLS_PER_TURN)
      problems.push(`modelScript.turns.${i}: ${calls} tool calls, at most ${MAX_TOOL_CALLS_PER_TURN}`);
    if (i < turns.length - 1 && calls === 0)
      problems.push(`modelScript.turns.${i}: only the last turn may answer without tool calls`);
  });
  if ((turns.at(-1)?.toolUse?.length ?? 0) > 0)
    problems.push('modelScript: the last turn must answer (text without toolUse) so the goal completes');
  const maxTurns = goal.event.detail.constraints?.maxTurns;
  if (maxTurns === undefined || maxTurns < turns.length)
    problems.push(`event.detail.constraints.maxTurns must be at least ${turns.length}, the script's turns`);
  return problems;
};

export const parseSuiteGoal = (file: string, raw: unknown): SuiteGoal => {
  const parsed = suiteGoalSchema.safeParse(raw);
  if (!parsed.success)
    throw new BenchError(`Invalid suite goal ${file}:\n  ${zodIssues(parsed.error).join('\n  ')}`);
  const problems = shapeProblems(parsed.data);
  if (problems.length > 0) throw new BenchError(`Invalid suite goal ${file}:\n  ${problems.join('\n  ')}`);
  const { description, event, modelScript, toolFaults } = parsed.data;
  return {
    name: basename(file, '.json'),
    file,
    description,
    tenantId: event.detail.tenantId,
    // The event as written (not the parsed copy), so the bus gets exactly the file's envelope.
    event: (raw as { event: Record<string, unknown> }).event,
    modelScript,
    ...(toolFaults === undefined ? {} : { toolFaults }),
    injectsFaults: toolFaults !== undefined || modelScript.turns.some((turn) => turn.error !== undefined),
    expected: scriptShape(modelScript),
  };
};

const readJson = (path: string, file: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BenchError(`Cannot read suite goal ${file}: ${(error as Error).message}`, { cause: error });
  }
};

/**
 * Every `events/suite/*.json`, in name order; `only` keeps the goals whose name contains one of its entries (e.g.
 * `01`, `twenty`), and an entry that matches nothing is an error rather than a smaller suite.
 */
export const loadSuite = (rootDir: string, only?: string[]): SuiteGoal[] => {
  const dir = join(rootDir, SUITE_DIR);
  const goals = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => parseSuiteGoal(relative(rootDir, join(dir, name)), readJson(join(dir, name), name)));
  if (goals.length === 0) throw new BenchError(`No suite goals in ${SUITE_DIR}`);
  if (only === undefined || only.length === 0) return goals;
  const unmatched = only.filter((entry) => !goals.some((g) => g.name.includes(entry)));
  if (unmatched.length > 0)
    throw new BenchError(
      `--goals ${unmatched.join(', ')} match no goal in ${SUITE_DIR} (${goals.map((g) => g.name).join(', ')})`,
    );
  return goals.filter((g) => only.some((entry) => g.name.includes(entry)));
};
