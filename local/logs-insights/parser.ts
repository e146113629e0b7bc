/** Parses a Logs Insights query into commands: fields/display, filter, parse, stats, sort, limit. */
import type { Aggregate, AggregateName, Command, FieldRef, Query } from './ast';
import { LogsInsightsQueryError } from './errors';
import { parseExpression, Tokens } from './expression';
import { globRegex, namedGroups, queryRegex } from './glob';
import { type Token, tokenize } from './lexer';

const AGGREGATES = new Set<AggregateName>(['count', 'sum', 'avg', 'min', 'max', 'count_distinct']);

/** Comma-separated items until the tokens end or `stop` is next. */
const commaList = <T>(t: Tokens, item: () => T, stop?: string): T[] => {
  const items = [item()];
  while (t.accept(',')) items.push(item());
  const rest = t.peek();
  if (rest && !(stop && rest.kind === 'name' && rest.text.toLowerCase() === stop))
    throw t.error(`unexpected "${rest.kind === 'number' ? rest.text : rest.text}"`);
  return items;
};

const fieldRef = (t: Tokens): FieldRef => {
  const name = t.name('a field');
  return { name, alias: t.accept('as') ? t.name('a name after "as"') : name };
};

const aggregate = (t: Tokens): Aggregate => {
  const fnName = t.name('an aggregate function').toLowerCase();
  if (!AGGREGATES.has(fnName as AggregateName))
    throw t.error(
      `unsupported aggregate function ${fnName}() (this runner has ${[...AGGREGATES].join(', ')})`,
    );
  t.expect('(');
  let field: string | undefined;
  if (t.accept('*')) field = undefined;
  else if (t.peek()?.kind === 'name') field = t.name('a field');
  t.expect(')');
  if (field === undefined && fnName !== 'count') throw t.error(`${fnName}() needs a field`);
  const text = `${fnName}(${field ?? (fnName === 'count' ? '' : '*')})`;
  return { fn: fnName as AggregateName, field, alias: t.accept('as') ? t.name('a name after "as"') : text };
};

const parseCommand = (t: Tokens, text: string): Command => {
  const verb = t.name('a command').toLowerCase();
  switch (verb) {
    case 'fields':
    case 'display':
      return { kind: 'fields', fields: commaList(t, () => fieldRef(t)), text };
    case 'filter':
      return { kind: 'filter', expr: parseExpression(t), text };
    case 'parse':
      return parseParse(t, text);
    case 'stats': {
      const aggregates = commaList(t, () => aggregate(t), 'by');
      const by = t.accept('by') ? commaList(t, () => t.name('a field to group by')) : [];
      return { kind: 'stats', aggregates, by, text };
    }
    case 'sort': {
      const keys = commaList(t, () => {
        const field = t.name('a field to sort by');
        const order: 'asc' | 'desc' = t.accept('asc') ? 'asc' : t.accept('desc') ? 'desc' : 'desc';
        return { field, order };
      });
      return { kind: 'sort', keys, text };
    }
    case 'limit': {
      const token = t.next('a number of rows');
      if (token.kind !== 'number' || !Number.isInteger(token.value) || token.value < 1 || !t.done())
        throw t.error('limit takes one whole number of rows > 0');
      return { kind: 'limit', count: token.value, text };
    }
    default:
      throw t.error(
        `unsupported command "${verb}" (this runner has fields, display, filter, parse, stats, sort, limit)`,
      );
  }
};

/** `parse [field] 'glob' as a, b` or `parse [field] /(?<a>...)/`. */
const parseParse = (t: Tokens, text: string): Command => {
  const source = t.peek()?.kind === 'name' ? t.name('a field') : '@message';
  const pattern = t.next('a glob "pattern" or a /regex/');
  if (pattern.kind === 'regex') {
    const regex = queryRegex(pattern.text, pattern.flags);
    const names = namedGroups(regex);
    if (names.length === 0) throw t.error('a regex parse needs named groups, e.g. /(?<latency>\\d+)/');
    if (!t.done()) throw t.error('a regex parse names its fields in the regex, not with "as"');
    return { kind: 'parse', source, mode: 'regex', regex, names, text };
  }
  if (pattern.kind !== 'string') throw t.error('expected a glob "pattern" or a /regex/');
  const { regex, wildcards } = globRegex(pattern.text);
  t.expect('as');
  const names = commaList(t, () => t.name('a field name'));
  if (names.length !== wildcards)
    throw t.error(`the pattern has ${wildcards} "*" but ${names.length} names after "as"`);
  return { kind: 'parse', source, mode: 'glob', regex, names, text };
};

/** Splits tokens on top-level pipes, keeping each command's text for messages. */
const commandsOf = (query: string, tokens: Token[]): { tokens: Token[]; text: string }[] => {
  const commands: { tokens: Token[]; text: string }[] = [];
  let current: Token[] = [];
  const flush = (end: number) => {
    const first = current[0];
    // Tokens exist (parseQuery checked), so an empty command is a pipe with nothing before or after it.
    if (!first) throw new LogsInsightsQueryError('A pipe "|" with no command before or after it');
    commands.push({ tokens: current, text: query.slice(first.at, end).replace(/\s+/g, ' ').trim() });
    current = [];
  };
  for (const token of tokens) {
    if (token.kind === 'op' && token.text === '|') flush(token.at);
    else current.push(token);
  }
  flush(query.length);
  return commands;
};

export const parseQuery = (query: string): Query => {
  const tokens = tokenize(query);
  if (tokens.length === 0) throw new LogsInsightsQueryError('The query is empty');
  return {
    commands: commandsOf(query, tokens).map(({ tokens: part, text }) =>
      parseCommand(new Tokens(part, text), text),
    ),
  };
};
