/**
 * The local Lambda logs (`.local/logs/<functionKey>.log`) as CloudWatch log events for Logs Insights.
 *
 * One event per line. `@log` is `<account id>:<log group>` (AWS's discovered-fields page:
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html, read
 * 2026-12-02), the group being `/aws/lambda/<function name>`. `@logStream` is the invocation's stream as the local
 * Lambda names it (logStreamNameOf): a line belongs to the invocation whose request id it carries (Powertools'
 * `function_request_id`, or the START/END/REPORT line's own), else to the invocation opened last and not yet ended
 * (concurrent invocations of one function share the file). `@timestamp` is the line's own `timestamp` (Powertools),
 * else that of the nearest timed line of the file, else the file's modification time. JSON lines also give their
 * fields, nested ones flattened with dots (`trace.costUsd`), as Logs Insights discovers them.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logStreamNameOf } from '../lambda/invocations';
import type { Row } from './executor';
import type { Value } from './values';

export interface LogGroupSource {
  /** The function's key under `functions:` (names the log file). */
  key: string;
  /** Its deployed name. */
  name: string;
}

const REQUEST_LINE = /^(START|END|REPORT) RequestId: ([0-9a-f-]{36})/;

/** A JSON object's fields, nested objects and arrays flattened with dots (`trace.costUsd`, `list.0`). */
export const flattenJson = (value: unknown, prefix = '', into: Row = new Map()): Row => {
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>))
      flattenJson(inner, prefix === '' ? key : `${prefix}.${key}`, into);
  } else if (prefix !== '') {
    into.set(prefix, value === undefined ? null : (value as Value));
  }
  return into;
};

const jsonOf = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    // Not JSON after all (a line that starts with a brace): it is an event with @message only.
    return undefined;
  }
};

const timeOf = (json: Record<string, unknown> | undefined): number | undefined => {
  const t = json?.timestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : typeof t === 'number' ? t : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
};

/** Tracks which invocation each line of one function's file belongs to. */
class OpenInvocations {
  readonly #open: string[] = [];
  #last: string | undefined;

  requestIdOf(line: string, json: Record<string, unknown> | undefined): string | undefined {
    const request = REQUEST_LINE.exec(line);
    if (request) {
      const [, kind, id] = request as unknown as [string, string, string];
      if (kind === 'START') {
        this.#open.push(id);
        this.#last = id;
      } else if (kind === 'END') {
        const i = this.#open.indexOf(id);
        if (i !== -1) this.#open.splice(i, 1);
      }
      return id;
    }
    const own = json?.function_request_id;
    if (typeof own === 'string') return own;
    return this.#open.at(-1) ?? this.#last;
  }
}

/** One function's log text as events (pure: the caller reads the file). */
export const eventsOfLog = (
  text: string,
  group: { logGroupName: string; accountId: string },
  fallbackTimeMs: number,
): Row[] => {
  const invocations = new OpenInvocations();
  const lines = text.split('\n').filter((line) => line !== '');
  const events = lines.map((line) => {
    const json = jsonOf(line);
    const row: Row = json ? flattenJson(json) : new Map();
    const requestId = invocations.requestIdOf(line, json);
    row.set('@message', line);
    row.set('@log', `${group.accountId}:${group.logGroupName}`);
    row.set('@logStream', requestId === undefined ? null : logStreamNameOf(requestId));
    row.set('@timestamp', timeOf(json) ?? null);
    return row;
  });
  fillTimestamps(events, fallbackTimeMs);
  return events;
};

/** Untimed lines take the time of the timed line before them, or after them, or the fallback. */
const fillTimestamps = (events: Row[], fallbackTimeMs: number): void => {
  let next: Value = null;
  const after: Value[] = new Array(events.length);
  for (let i = events.length - 1; i >= 0; i--) {
    next = (events[i] as Row).get('@timestamp') ?? next;
    after[i] = next;
  }
  let previous: Value = null;
  events.forEach((event, i) => {
    const own = event.get('@timestamp');
    if (own !== null && own !== undefined) previous = own;
    else event.set('@timestamp', previous ?? after[i] ?? fallbackTimeMs);
  });
};

/** Every function's events from `<logDir>/<key>.log`, functions without a file left out; file order kept. */
export const readLambdaLogEvents = (logDir: string, groups: LogGroupSource[], accountId: string): Row[] =>
  groups.flatMap((group) => {
    const file = join(logDir, `${group.key}.log`);
    let text: string;
    let mtimeMs: number;
    try {
      text = readFileSync(file, 'utf8');
      mtimeMs = statSync(file).mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return eventsOfLog(text, { logGroupName: `/aws/lambda/${group.name}`, accountId }, Math.round(mtimeMs));
  });
