/** Query results as Logs Insights shows them: `@timestamp` as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), one object per row. */
import type { QueryResult } from './executor';
import type { Value } from './values';

export type ResultRow = Record<string, string | number | boolean | null>;

const timestampText = (value: Value | undefined): Value =>
  typeof value === 'number'
    ? new Date(value).toISOString().replace('T', ' ').replace('Z', '')
    : (value ?? null);

export const resultRows = (result: QueryResult): ResultRow[] =>
  result.rows.map((row) =>
    Object.fromEntries(
      result.columns.map((c) => [c, c === '@timestamp' ? timestampText(row.get(c)) : (row.get(c) ?? null)]),
    ),
  );

/** A plain-text table: one line per row, columns separated by two spaces, missing values empty. */
export const formatTable = (columns: string[], rows: ResultRow[]): string => {
  if (rows.length === 0) return 'no rows';
  const cells = rows.map((row) => columns.map((c) => (row[c] === null ? '' : String(row[c]))));
  const widths = columns.map((c, i) =>
    Math.min(80, Math.max(c.length, ...cells.map((r) => (r[i] as string).length))),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
};
