/** `sovereign-agent logs`: a Logs Insights query (saved, from a file, or the default) over the local Lambda logs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalError } from '../aws/errors';
import type { Query } from '../logs-insights/ast';
import { runQuery } from '../logs-insights/executor';
import { readLambdaLogEvents } from '../logs-insights/log-source';
import { parseQuery } from '../logs-insights/parser';
import { DEFAULT_QUERY, forSession, readSavedQuery } from '../logs-insights/queries';
import { formatTable, type ResultRow, resultRows } from '../logs-insights/results';
import type { ServerlessConfig } from '../stack/serverless-config';

export class LogsCommandError extends LocalError {}

export interface LogsOptions {
  session?: string;
  queryFile?: string;
  saved?: string;
}

/** The query text the flags pick: --query FILE, --saved NAME, or the default (trace and exception lines). */
export const queryTextOf = (options: LogsOptions): string => {
  if (options.queryFile !== undefined && options.saved !== undefined)
    throw new LogsCommandError('logs takes --query FILE or --saved NAME, not both');
  if (options.saved !== undefined) return readSavedQuery(options.saved);
  if (options.queryFile === undefined) return DEFAULT_QUERY;
  try {
    return readFileSync(options.queryFile, 'utf8');
  } catch (error) {
    throw new LogsCommandError(`Cannot read query file ${options.queryFile}: ${(error as Error).message}`);
  }
};

/** The query the flags ask for, parsed (a bad query fails here, before any log is read), with --session in front. */
export const prepareLogsQuery = (options: LogsOptions & { queryText?: string }): Query => {
  const parsed = parseQuery(options.queryText ?? queryTextOf(options));
  return options.session === undefined ? parsed : forSession(parsed, options.session);
};

/** Runs a query over `<dataDir>/logs` (function names and account from serverless.yml). */
export const runPreparedQuery = (
  dataDir: string,
  config: Pick<ServerlessConfig, 'accountId' | 'functions'>,
  query: Query,
): { columns: string[]; rows: ResultRow[] } => {
  const groups = Object.values(config.functions).map((fn) => ({ key: fn.key, name: fn.name }));
  const events = readLambdaLogEvents(join(dataDir, 'logs'), groups, config.accountId);
  const result = runQuery(query, events);
  return { columns: result.columns, rows: resultRows(result) };
};

export const runLogsQuery = (
  dataDir: string,
  config: Pick<ServerlessConfig, 'accountId' | 'functions'>,
  options: LogsOptions & { queryText?: string },
): { columns: string[]; rows: ResultRow[] } => runPreparedQuery(dataDir, config, prepareLogsQuery(options));

export const formatLogsResult = (result: { columns: string[]; rows: ResultRow[] }, json: boolean): string =>
  json ? JSON.stringify(result.rows) : formatTable(result.columns, result.rows);
