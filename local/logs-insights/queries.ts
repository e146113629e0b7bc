/** The queries `sovereign-agent logs` runs: saved ones (shared/observability/queries), a file, or the default. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Query } from './ast';
import { LogsInsightsQueryError } from './errors';

/** The saved queries' folder: the same files the QueryDefinition resources embed. */
export const SAVED_QUERIES_DIR = join(__dirname, '..', '..', 'shared', 'observability', 'queries');

/** Every trace record and exception line, oldest first (the default of `sovereign-agent logs`). */
export const DEFAULT_QUERY = `fields @timestamp, @log, message, sessionId, turn, trace.kind, function, modelId, outcome, errorKind, exception.message, latencyMs
| filter @message like /"trace":/ or @message like /"exception":/
| sort @timestamp asc`;

export const savedQueryNames = (dir = SAVED_QUERIES_DIR): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.logsinsights'))
    .map((f) => f.slice(0, -'.logsinsights'.length))
    .sort();

export const readSavedQuery = (name: string, dir = SAVED_QUERIES_DIR): string => {
  const names = savedQueryNames(dir);
  if (!names.includes(name))
    throw new LogsInsightsQueryError(`No saved query "${name}" (saved: ${names.join(', ')})`);
  return readFileSync(join(dir, `${name}.logsinsights`), 'utf8');
};

/** `filter sessionId = "<id>"` as the query's first command: only that session's lines reach the rest. */
export const forSession = (query: Query, sessionId: string): Query => {
  const filter: Command = {
    kind: 'filter',
    expr: {
      kind: 'compare',
      op: '=',
      left: { kind: 'field', name: 'sessionId' },
      right: { kind: 'literal', value: sessionId },
    },
    text: `filter sessionId = ${JSON.stringify(sessionId)}`,
  };
  return { commands: [filter, ...query.commands] };
};
