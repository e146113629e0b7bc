/**
 * Runs a parsed Logs Insights query over log events: each command in order, rows as field maps.
 * Semantics not pinned by AWS's pages are chosen here and named: numbers from strings (values.ts); `stats ... by`
 * keeps events whose group field is missing as their own group (its value shown empty); `sort` without asc|desc
 * sorts descending; a comparison with a missing field is false (`!=` too); a parse that does not match leaves the event's fields as they were (AWS: "you still see it in
 * the results, but without the extracted fields").
 */
import type { Aggregate, Command, Expr, Operand, Pattern, Query } from './ast';
import { extract } from './glob';
import { compareForSort, type NumberRule, toNumber, toText, type Value } from './values';

export type Row = Map<string, Value>;

export interface RunOptions {
  numberRule?: NumberRule;
}

export interface QueryResult {
  /** The columns shown: the last fields/display list, or the stats columns, or @timestamp and @message. */
  columns: string[];
  rows: Row[];
}

const operandValue = (row: Row, operand: Operand): Value | undefined => {
  if (operand.kind === 'literal') return operand.value;
  if (operand.kind === 'field') return row.get(operand.name);
  const value = row.get(operand.field);
  const present = value !== undefined && value !== null;
  return operand.name === 'ispresent' ? present : !present || value === '';
};

const matches = (value: Value | undefined, pattern: Pattern): boolean => {
  const text = toText(value);
  if (text === undefined) return false;
  return pattern.kind === 'regex' ? pattern.regex.test(text) : text.includes(pattern.text);
};

/** `=`/`!=` compare as numbers when either side is a number literal or value, else as text; `<`/`>` as numbers. */
const compare = (row: Row, expr: Extract<Expr, { kind: 'compare' }>, rule: NumberRule): boolean => {
  const left = operandValue(row, expr.left);
  const right = operandValue(row, expr.right);
  // A missing field satisfies no comparison, `!=` included (unconfirmed; `not ispresent(f)` asks for it).
  if (left === undefined || left === null || right === undefined || right === null) return false;
  const numeric = typeof left === 'number' || typeof right === 'number';
  if (expr.op === '=' || expr.op === '!=') {
    const equal = numeric ? toNumber(left, rule) === toNumber(right, rule) : String(left) === String(right);
    return expr.op === '=' ? equal : !equal;
  }
  const a = toNumber(left, rule);
  const b = toNumber(right, rule);
  if (a === undefined || b === undefined) return false;
  return expr.op === '<' ? a < b : expr.op === '<=' ? a <= b : expr.op === '>' ? a > b : a >= b;
};

export const evaluate = (row: Row, expr: Expr, rule: NumberRule): boolean => {
  switch (expr.kind) {
    case 'or':
      return evaluate(row, expr.left, rule) || evaluate(row, expr.right, rule);
    case 'and':
      return evaluate(row, expr.left, rule) && evaluate(row, expr.right, rule);
    case 'not':
      return !evaluate(row, expr.operand, rule);
    case 'compare':
      return compare(row, expr, rule);
    case 'match':
      return matches(operandValue(row, expr.operand), expr.pattern);
    case 'in': {
      const value = operandValue(row, expr.operand);
      return expr.values.some((v) =>
        typeof v === 'number' ? toNumber(value, rule) === v : toText(value) === v,
      );
    }
    case 'truthy': {
      const value = operandValue(row, expr.operand);
      return value !== undefined && value !== null && value !== false && value !== '';
    }
  }
};

const aggregateOf = (rows: Row[], aggregate: Aggregate, rule: NumberRule): Value => {
  const { fn, field } = aggregate;
  if (field === undefined) return rows.length;
  const values = rows.map((r) => r.get(field)).filter((v) => v !== undefined && v !== null) as Value[];
  if (fn === 'count') return values.length;
  if (fn === 'count_distinct') return new Set(values.map(String)).size;
  const numbers = values.map((v) => toNumber(v, rule)).filter((n): n is number => n !== undefined);
  if (numbers.length === 0) return null;
  if (fn === 'sum') return numbers.reduce((s, n) => s + n, 0);
  if (fn === 'avg') return numbers.reduce((s, n) => s + n, 0) / numbers.length;
  return fn === 'min' ? Math.min(...numbers) : Math.max(...numbers);
};

const stats = (rows: Row[], command: Extract<Command, { kind: 'stats' }>, rule: NumberRule): Row[] => {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = JSON.stringify(command.by.map((f) => row.get(f) ?? null));
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  if (groups.size === 0 && command.by.length === 0) groups.set('[]', []);
  return [...groups.entries()].map(([key, group]) => {
    const out: Row = new Map();
    (JSON.parse(key) as Value[]).forEach((value, i) => {
      out.set(command.by[i] as string, value);
    });
    for (const aggregate of command.aggregates) out.set(aggregate.alias, aggregateOf(group, aggregate, rule));
    return out;
  });
};

const sortRows = (rows: Row[], keys: Extract<Command, { kind: 'sort' }>['keys']): Row[] =>
  [...rows].sort((a, b) => {
    for (const { field, order } of keys) {
      const x = a.get(field);
      const y = b.get(field);
      const missingX = x === undefined || x === null;
      const missingY = y === undefined || y === null;
      // Missing values last in either order.
      if (missingX !== missingY) return missingX ? 1 : -1;
      const c = compareForSort(x, y);
      if (c !== 0) return order === 'asc' ? c : -c;
    }
    return 0;
  });

const parseInto = (rows: Row[], command: Extract<Command, { kind: 'parse' }>): Row[] => {
  for (const row of rows) {
    const text = toText(row.get(command.source));
    const fields = text === undefined ? undefined : extract(command.regex, command.names, text);
    if (fields) for (const [name, value] of Object.entries(fields)) row.set(name, value);
  }
  return rows;
};

/** Runs the query's commands in order over the events (each a row of fields; they are copied, not changed). */
export const runQuery = (query: Query, events: Row[], options: RunOptions = {}): QueryResult => {
  const rule = options.numberRule ?? 'leading';
  let rows = events.map((e) => new Map(e));
  let columns: string[] = ['@timestamp', '@message'];
  for (const command of query.commands) {
    switch (command.kind) {
      case 'fields':
        for (const row of rows)
          for (const f of command.fields) if (f.alias !== f.name) row.set(f.alias, row.get(f.name) ?? null);
        columns = command.fields.map((f) => f.alias);
        break;
      case 'filter':
        rows = rows.filter((row) => evaluate(row, command.expr, rule));
        break;
      case 'parse':
        rows = parseInto(rows, command);
        break;
      case 'stats':
        rows = stats(rows, command, rule);
        columns = [...command.by, ...command.aggregates.map((a) => a.alias)];
        break;
      case 'sort':
        rows = sortRows(rows, command.keys);
        break;
      case 'limit':
        rows = rows.slice(0, command.count);
        break;
    }
  }
  return { columns, rows };
};
