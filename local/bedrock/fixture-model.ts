/**
 * The fixture model for offline runs: a deterministic planner from goal + tool specs to the next Converse answer.
 * It is not a model and judges nothing; it answers the same request the same way so local runs, tests and the
 * benchmark are repeatable without Bedrock.
 */
import type { ConverseRequestBody, ConverseToolSpec } from './converse-request';
import { isJsonObject, type JsonObject, type JsonValue, stableStringify } from './json';

// Its answers follow the shape of a careful agent's plan: gather facts with every relevant tool that needs
// nothing but the goal, then hand those results to the tools that synthesize (they take a list of findings),
// then summarize. It reads only the request, so the same request always gets the same answer.

export type PlannedBlock = { text: string } | { toolUse: { name: string; input: JsonObject } };

export interface PlannedAnswer {
  content: PlannedBlock[];
  stopReason: 'end_turn' | 'tool_use';
}

export interface Goal {
  tenantId: string | undefined;
  /** The goal without the `Tenant:` line. */
  text: string;
  /** First sentence of the goal, at most 80 characters: used in titles, default strings and the summary. */
  short: string;
}

/** What the history holds: every tool call with its outcome (undefined while unanswered). */
interface PastCall {
  name: string;
  inputKey: string;
  outcome?: { status: 'success' | 'error'; line: string; summary?: string };
}

const TENANT_LINE = /^\s*tenant\s*:\s*(\S+)\s*$/im;
const DEFAULT_NUMBER = 30;
const SHORT_GOAL_CHARS = 80;
const RESULT_LINE_CHARS = 160;

// Words that say nothing about which tool fits. `tenant` is here because every tool of this system is
// tenant-scoped, so it would make every tool look relevant.
const STOPWORDS = new Set(
  (
    'a an and any are as at be been but by can could did do does each either for from get gets given has have how ' +
    'i if in into is it its itself just let me more most my need needs no not of on only or our out over per please ' +
    'should so some such than that the their them then there these they this those through to too under up us use ' +
    'used uses using via want was we were what when where which while who why will with within would you your ' +
    'tenant tenants tool tools'
  ).split(' '),
);

/** A light suffix stripper: enough to match "billing"/"bills"/"billed" or "optimization"/"optimize". */
export const stem = (word: string): string => {
  let w = word.toLowerCase();
  if (w.length <= 3) return w;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length - 3 >= 3) w = w.slice(0, -3);
  else if (w.endsWith('ed') && w.length - 2 >= 3) w = w.slice(0, -2);
  for (const [suffix, replacement] of [
    ['ization', 'iz'],
    ['isation', 'iz'],
    ['ation', 'at'],
  ] as const) {
    if (w.endsWith(suffix) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length) + replacement;
      break;
    }
  }
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  return w;
};

/** Words of a text or identifier (snake_case, kebab-case, camelCase), lower-cased. */
const words = (text: string): string[] =>
  text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');

const keywords = (text: string): Set<string> =>
  new Set(
    words(text)
      .filter((w) => w.length >= 3 && !/^\d+$/.test(w) && !STOPWORDS.has(w))
      .map(stem),
  );

const compact = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 3).trimEnd()}...`;
};

const shortForm = (text: string): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  const sentence = (flat.split(/(?<=[.!?])\s/)[0] ?? flat).replace(/[.!?]+$/, '');
  if (sentence.length <= SHORT_GOAL_CHARS) return sentence;
  const cut = sentence.slice(0, SHORT_GOAL_CHARS - 3);
  const space = cut.lastIndexOf(' ');
  return `${space > 20 ? cut.slice(0, space) : cut}...`;
};

/**
 * The goal is the first user message: a `Tenant: <id>` line plus the goal text. When the message labels its
 * lines (`Agent:`, `Goal:`, `Context:`), the `Goal:` line is the goal; otherwise every non-tenant line is.
 */
export const readGoal = (request: ConverseRequestBody): Goal => {
  const first = request.messages?.[0];
  const raw = (first?.content ?? [])
    .flatMap((block) => (block.text !== undefined ? [block.text] : []))
    .join('\n');
  const tenantId = TENANT_LINE.exec(raw)?.[1] ?? request.requestMetadata?.tenantId;
  const lines = raw.split('\n').filter((line) => !TENANT_LINE.test(line));
  const goalLine = lines.find((line) => /^\s*goal\s*:/i.test(line));
  const text = (goalLine !== undefined ? [goalLine] : lines)
    .map((line) => line.replace(/^\s*goal\s*:\s*/i, ''))
    .join('\n')
    .trim();
  return { tenantId, text, short: shortForm(text) || 'the goal' };
};

const toolSpecsOf = (request: ConverseRequestBody): ConverseToolSpec[] =>
  (request.toolConfig?.tools ?? []).flatMap((tool) => (tool.toolSpec ? [tool.toolSpec] : []));

/** Tools whose name or description shares a keyword with the goal; all tools when none does. */
export const selectRelevantTools = (goalText: string, tools: ConverseToolSpec[]): ConverseToolSpec[] => {
  const goalWords = keywords(goalText);
  const relevant = tools.filter((tool) => {
    const toolWords = keywords(`${tool.name.replace(/[_-]/g, ' ')} ${tool.description ?? ''}`);
    return [...toolWords].some((w) => goalWords.has(w));
  });
  return relevant.length > 0 ? relevant : tools;
};

const schemaOf = (value: JsonValue | undefined): JsonObject => (isJsonObject(value) ? value : {});

/** The first non-null JSON schema type of a property (`["string","null"]` counts as string). */
const typeOf = (schema: JsonObject): string | undefined => {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.find((t): t is string => typeof t === 'string' && t !== 'null');
  if (schema.enum !== undefined) return 'string';
  if (schema.properties !== undefined) return 'object';
  return undefined;
};

const requiredOf = (schema: JsonObject): string[] =>
  Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];

const isStringArray = (schema: JsonObject): boolean =>
  typeOf(schema) === 'array' && typeOf(schemaOf(schema.items)) === 'string';

/** A synthesis tool needs a list of strings (findings) that only earlier results can provide. */
export const isSynthesisTool = (tool: ConverseToolSpec): boolean => {
  const schema = tool.inputSchema.json;
  const properties = schemaOf(schema.properties);
  return requiredOf(schema).some((name) => isStringArray(schemaOf(properties[name])));
};

/** A number written next to a word of the parameter's name, as in "90 days" for `lookback_days`. */
export const numberFromGoal = (paramName: string, goalText: string): number | undefined => {
  const nameStems = new Set(
    words(paramName)
      .filter((w) => !STOPWORDS.has(w))
      .map(stem),
  );
  const tokens = goalText.match(/\d+(?:[.,]\d+)*|[a-zA-Z]+/g) ?? [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (!/^\d/.test(token)) continue;
    const neighbours = [tokens[i - 1], tokens[i + 1]].filter(
      (t): t is string => t !== undefined && /^[a-zA-Z]/.test(t),
    );
    if (neighbours.some((n) => nameStems.has(stem(n)))) return Number(token.replace(/,/g, ''));
  }
  return undefined;
};

const clampNumber = (value: number, schema: JsonObject, integer: boolean): number => {
  let v = integer ? Math.round(value) : value;
  if (typeof schema.minimum === 'number') v = Math.max(v, schema.minimum);
  if (typeof schema.maximum === 'number') v = Math.min(v, schema.maximum);
  return v;
};

interface FillContext {
  goal: Goal;
  findings: string[];
}

const fillParam = (
  name: string,
  schema: JsonObject,
  required: boolean,
  ctx: FillContext,
): JsonValue | undefined => {
  if (/tenant_?id$/i.test(name) && ctx.goal.tenantId !== undefined) return ctx.goal.tenantId;
  const type = typeOf(schema);
  if (type === 'integer' || type === 'number') {
    const integer = type === 'integer';
    const fromGoal = numberFromGoal(name, ctx.goal.text);
    if (fromGoal !== undefined) return clampNumber(fromGoal, schema, integer);
    if (!required) return undefined;
    if (typeof schema.default === 'number') return schema.default;
    if (typeof schema.minimum === 'number') return clampNumber(schema.minimum, schema, integer);
    return clampNumber(DEFAULT_NUMBER, schema, integer);
  }
  if (!required) return undefined;
  if (schema.default !== undefined) return schema.default;
  switch (type) {
    case 'string': {
      if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] ?? null;
      const text = /title$/i.test(name) ? `Optimization report: ${ctx.goal.short}` : ctx.goal.short;
      return typeof schema.maxLength === 'number' ? text.slice(0, schema.maxLength) : text;
    }
    case 'boolean':
      return false;
    case 'array': {
      if (!isStringArray(schema)) return [];
      const lines = ctx.findings.length > 0 ? ctx.findings : [ctx.goal.short];
      return typeof schema.maxItems === 'number' ? lines.slice(0, schema.maxItems) : lines;
    }
    case 'object':
      return fillObject(schema, ctx);
    default:
      return null;
  }
};

const fillObject = (schema: JsonObject, ctx: FillContext): JsonObject => {
  const properties = schemaOf(schema.properties);
  const required = requiredOf(schema);
  const input: JsonObject = {};
  for (const [name, property] of Object.entries(properties)) {
    const value = fillParam(name, schemaOf(property), required.includes(name), ctx);
    if (value !== undefined) input[name] = value;
  }
  for (const name of required) {
    if (!(name in input)) input[name] = ctx.goal.short;
  }
  return input;
};

/** The input the policy gives a tool: required parameters always, optional ones only when the goal says. */
export const fillToolInput = (tool: ConverseToolSpec, goal: Goal, findings: string[]): JsonObject =>
  fillObject(tool.inputSchema.json, { goal, findings });

/** The opening and closing delimiters of a tool result's data block (shared/agent/conversation.ts): not the data. */
const DATA_BLOCK_DELIMITER = /^<\/?tool_output nonce="[0-9a-f]+">$/;

/** One line for a tool result: its JSON `summary` when it has one, else the first 160 characters of its data. */
export const resultLine = (
  blocks: { text?: string; json?: JsonValue }[],
): { line: string; summary?: string } => {
  const content = blocks.filter(
    (block) => block.text === undefined || !DATA_BLOCK_DELIMITER.test(block.text),
  );
  for (const block of content) {
    let value: JsonValue | undefined = block.json;
    if (value === undefined && block.text !== undefined) {
      try {
        value = JSON.parse(block.text) as JsonValue;
      } catch {
        // plain text result: used as it is below
      }
    }
    if (isJsonObject(value) && typeof value.summary === 'string' && value.summary.trim() !== '') {
      return { line: compact(value.summary, RESULT_LINE_CHARS), summary: value.summary };
    }
  }
  const raw = content
    .map((block) =>
      block.text !== undefined ? block.text : block.json !== undefined ? stableStringify(block.json) : '',
    )
    .join(' ');
  return { line: compact(raw, RESULT_LINE_CHARS) || '(empty result)' };
};

const pastCalls = (request: ConverseRequestBody): PastCall[] => {
  const byId = new Map<string, PastCall>();
  const calls: PastCall[] = [];
  for (const message of request.messages ?? []) {
    for (const block of message.content) {
      if (block.toolUse) {
        const call: PastCall = { name: block.toolUse.name, inputKey: stableStringify(block.toolUse.input) };
        byId.set(block.toolUse.toolUseId, call);
        calls.push(call);
      } else if (block.toolResult) {
        const call = byId.get(block.toolResult.toolUseId);
        if (call)
          call.outcome = {
            status: block.toolResult.status ?? 'success',
            ...resultLine(block.toolResult.content),
          };
      }
    }
  }
  return calls;
};

const callKey = (name: string, input: JsonObject): string => `${name}\u0000${stableStringify(input)}`;

const toolUseAnswer = (calls: { name: string; input: JsonObject }[]): PlannedAnswer => ({
  content: calls.map((call) => ({ toolUse: { name: call.name, input: call.input } })),
  stopReason: 'tool_use',
});

const summaryText = (goal: Goal, calls: PastCall[]): string => {
  const done = calls.filter((c) => c.outcome?.status === 'success');
  const failed = calls.filter((c) => c.outcome?.status === 'error');
  const lines = [
    `Finished: ${goal.short}${goal.tenantId !== undefined ? ` (tenant ${goal.tenantId})` : ''}.`,
  ];
  if (done.length > 0) {
    lines.push('Results:', ...done.map((c) => `- ${c.name}: ${c.outcome?.line ?? ''}`));
  }
  if (failed.length > 0) {
    lines.push(
      'Failed tool calls (not retried with the same input; their part of the goal is not done):',
      ...failed.map((c) => `- ${c.name}: ${c.outcome?.line ?? ''}`),
    );
  }
  if (calls.length === 0) lines.push('No tool call was needed or available for this goal.');
  return lines.join('\n');
};

/**
 * The next answer for a Converse request: first every relevant gather tool at once, then the synthesis
 * tools fed with the gather results, then a final summary. A tool is never called twice with the same
 * input, so a failed call is not repeated; it is reported in the summary. A forced toolChoice is obeyed.
 */
export const planFixtureAnswer = (request: ConverseRequestBody): PlannedAnswer => {
  const goal = readGoal(request);
  const tools = toolSpecsOf(request);
  const calls = pastCalls(request);
  const calledKeys = new Set(calls.map((c) => `${c.name}\u0000${c.inputKey}`));
  const synthesisNames = new Set(tools.filter(isSynthesisTool).map((t) => t.name));
  const relevant = selectRelevantTools(goal.text, tools);
  const gather = relevant.filter((t) => !synthesisNames.has(t.name));
  const synthesis = relevant.filter((t) => synthesisNames.has(t.name));

  const findings = calls
    .filter((c) => !synthesisNames.has(c.name) && c.outcome?.status === 'success')
    .map((c) => c.outcome?.line ?? '');
  const notCalledYet = (call: { name: string; input: JsonObject }): boolean =>
    !calledKeys.has(callKey(call.name, call.input));

  const forced = request.toolConfig?.toolChoice;
  if (forced?.tool) {
    const tool = tools.find((t) => t.name === forced.tool?.name);
    if (tool) return toolUseAnswer([{ name: tool.name, input: fillToolInput(tool, goal, findings) }]);
  }

  const gatherCalls = gather
    .map((t) => ({ name: t.name, input: fillToolInput(t, goal, []) }))
    .filter(notCalledYet);
  if (gatherCalls.length > 0) return toolUseAnswer(gatherCalls);

  const synthesisCalls = synthesis
    .map((t) => ({ name: t.name, input: fillToolInput(t, goal, findings) }))
    .filter(notCalledYet);
  if (synthesisCalls.length > 0) return toolUseAnswer(synthesisCalls);

  if (forced?.any) {
    // "any" obliges the model to call some tool even when it would rather answer.
    const tool = gather[0] ?? synthesis[0] ?? tools[0];
    if (tool) return toolUseAnswer([{ name: tool.name, input: fillToolInput(tool, goal, findings) }]);
  }
  return { content: [{ text: summaryText(goal, calls) }], stopReason: 'end_turn' };
};
