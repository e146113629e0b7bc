/** Parses a `filter` expression: `or`/`and`/`not`, comparisons, `like` / `=~` patterns, `in [...]`, ispresent(). */
import type { Comparator, Expr, Literal, Operand, Pattern } from './ast';
import { LogsInsightsQueryError } from './errors';
import { queryRegex } from './glob';
import type { Token } from './lexer';

const COMPARATORS = new Set(['=', '!=', '<', '<=', '>', '>=']);

/** A cursor over one command's tokens. */
export class Tokens {
  #i = 0;
  constructor(
    readonly tokens: Token[],
    readonly command: string,
  ) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.#i + offset];
  }

  next(what: string): Token {
    const token = this.tokens[this.#i++];
    if (!token) throw this.error(`expected ${what} but the command ended`);
    return token;
  }

  done(): boolean {
    return this.#i >= this.tokens.length;
  }

  /** True (and consumed) when the next token is this keyword or operator. */
  accept(text: string): boolean {
    const token = this.peek();
    if (token && (token.kind === 'name' || token.kind === 'op') && token.text.toLowerCase() === text) {
      this.#i++;
      return true;
    }
    return false;
  }

  expect(text: string): void {
    const token = this.peek();
    if (!this.accept(text)) throw this.error(`expected "${text}"${token ? ` at ${describe(token)}` : ''}`);
  }

  name(what: string): string {
    const token = this.next(what);
    if (token.kind !== 'name') throw this.error(`expected ${what} at ${describe(token)}`);
    return token.text;
  }

  error(problem: string): LogsInsightsQueryError {
    return new LogsInsightsQueryError(`Cannot parse \`${this.command}\`: ${problem}`);
  }
}

export const describe = (token: Token): string =>
  token.kind === 'string'
    ? `"${token.text}"`
    : token.kind === 'regex'
      ? `/${token.text}/`
      : `"${token.text}"`;

const literalOf = (token: Token): Literal | undefined =>
  token.kind === 'string' ? token.text : token.kind === 'number' ? token.value : undefined;

const operand = (t: Tokens): Operand => {
  const token = t.next('a field or a value');
  const literal = literalOf(token);
  if (literal !== undefined) return { kind: 'literal', value: literal };
  if (token.kind !== 'name') throw t.error(`expected a field or a value at ${describe(token)}`);
  const fn = token.text.toLowerCase();
  if ((fn === 'ispresent' || fn === 'isempty') && t.accept('(')) {
    const field = t.name('a field');
    t.expect(')');
    return { kind: 'call', name: fn, field };
  }
  return { kind: 'field', name: token.text };
};

const pattern = (t: Tokens): Pattern => {
  const token = t.next('a /regex/ or a "string"');
  if (token.kind === 'regex') return { kind: 'regex', regex: queryRegex(token.text, token.flags) };
  if (token.kind === 'string') return { kind: 'substring', text: token.text };
  throw t.error(`expected a /regex/ or a "string" at ${describe(token)}`);
};

const list = (t: Tokens): Literal[] => {
  t.expect('[');
  const values: Literal[] = [];
  while (!t.accept(']')) {
    const literal = literalOf(t.next('a value'));
    if (literal === undefined) throw t.error('`in [...]` takes strings and numbers');
    values.push(literal);
    t.accept(',');
  }
  return values;
};

const comparison = (t: Tokens): Expr => {
  const left = operand(t);
  if (t.accept('like') || t.accept('=~')) return { kind: 'match', operand: left, pattern: pattern(t) };
  const next = t.peek();
  if (
    next?.kind === 'name' &&
    next.text.toLowerCase() === 'not' &&
    t.peek(1)?.text.toLowerCase() === 'like'
  ) {
    t.next('not');
    t.next('like');
    return { kind: 'not', operand: { kind: 'match', operand: left, pattern: pattern(t) } };
  }
  if (t.accept('in')) return { kind: 'in', operand: left, values: list(t) };
  if (next?.kind === 'op' && COMPARATORS.has(next.text)) {
    t.next('a comparison');
    return { kind: 'compare', op: next.text as Comparator, left, right: operand(t) };
  }
  return { kind: 'truthy', operand: left };
};

const unary = (t: Tokens): Expr => {
  if (t.accept('not')) return { kind: 'not', operand: unary(t) };
  if (t.accept('(')) {
    const inner = or(t);
    t.expect(')');
    return inner;
  }
  return comparison(t);
};

const and = (t: Tokens): Expr => {
  let left = unary(t);
  while (t.accept('and')) left = { kind: 'and', left, right: unary(t) };
  return left;
};

const or = (t: Tokens): Expr => {
  let left = and(t);
  while (t.accept('or')) left = { kind: 'or', left, right: and(t) };
  return left;
};

/** The whole of a filter command's tokens as one expression. */
export const parseExpression = (t: Tokens): Expr => {
  const expr = or(t);
  const rest = t.peek();
  if (rest) throw t.error(`unexpected ${describe(rest)} after the expression`);
  return expr;
};
