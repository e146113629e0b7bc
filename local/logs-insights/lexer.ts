/** Splits a Logs Insights query into tokens: fields, strings, regexes, numbers, operators, pipes; `#` comments dropped. */
import { LogsInsightsQueryError } from './errors';

export type Token =
  | { kind: 'name'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'regex'; text: string; flags: string; at: number }
  | { kind: 'number'; value: number; text: string; at: number }
  | { kind: 'op'; text: string; at: number };

const NAME_START = /[A-Za-z_@$]/;
const NAME_PART = /[A-Za-z0-9_@$.]/;
const OPERATORS = ['!=', '<=', '>=', '=~', '=', '<', '>', '|', ',', '(', ')', '[', ']', '*'];

const readQuoted = (text: string, start: number, quote: string): { value: string; end: number } => {
  let value = '';
  let i = start + 1;
  while (i < text.length && text[i] !== quote) {
    if (text[i] === '\\' && i + 1 < text.length) {
      // Only the quote and the backslash are escapes; `\d` and the like stay as written (regex-like literals).
      const next = text[i + 1] as string;
      value += next === quote || next === '\\' ? next : `\\${next}`;
      i += 2;
    } else {
      value += text[i];
      i++;
    }
  }
  if (i >= text.length)
    throw new LogsInsightsQueryError(`Unterminated ${quote} string at character ${start}`);
  return { value, end: i + 1 };
};

const readRegex = (text: string, start: number): { source: string; flags: string; end: number } => {
  let i = start + 1;
  let source = '';
  while (i < text.length && text[i] !== '/') {
    if (text[i] === '\\' && i + 1 < text.length) {
      source += text.slice(i, i + 2);
      i += 2;
    } else {
      source += text[i];
      i++;
    }
  }
  if (i >= text.length) throw new LogsInsightsQueryError(`Unterminated /regex/ at character ${start}`);
  i++;
  let flags = '';
  while (i < text.length && /[a-z]/.test(text[i] as string)) flags += text[i++];
  return { source, flags, end: i };
};

const skipComment = (text: string, i: number): number => {
  const end = text.indexOf('\n', i);
  return end === -1 ? text.length : end;
};

/** One token starting at `i` (not whitespace, not a comment). */
const tokenAt = (text: string, i: number): { token: Token; end: number } => {
  const c = text[i] as string;
  if (c === '"' || c === "'") {
    const { value, end } = readQuoted(text, i, c);
    return { token: { kind: 'string', text: value, at: i }, end };
  }
  if (c === '`') {
    const { value, end } = readQuoted(text, i, c);
    return { token: { kind: 'name', text: value, at: i }, end };
  }
  if (c === '/') {
    const { source, flags, end } = readRegex(text, i);
    return { token: { kind: 'regex', text: source, flags, at: i }, end };
  }
  const number = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(text.slice(i));
  if (number && (c !== '-' || /[\d.]/.test(text[i + 1] ?? ''))) {
    return {
      token: { kind: 'number', value: Number(number[0]), text: number[0], at: i },
      end: i + number[0].length,
    };
  }
  if (NAME_START.test(c)) {
    let end = i + 1;
    while (end < text.length && NAME_PART.test(text[end] as string)) end++;
    return { token: { kind: 'name', text: text.slice(i, end), at: i }, end };
  }
  const op = OPERATORS.find((o) => text.startsWith(o, i));
  if (op) return { token: { kind: 'op', text: op, at: i }, end: i + op.length };
  throw new LogsInsightsQueryError(`Unexpected character "${c}" at character ${i}`);
};

export const tokenize = (text: string): Token[] => {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === '#') i = skipComment(text, i);
    else {
      const { token, end } = tokenAt(text, i);
      tokens.push(token);
      i = end;
    }
  }
  return tokens;
};
