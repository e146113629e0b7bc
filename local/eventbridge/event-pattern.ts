/**
 * EventBridge event-pattern validation and matching for the local bus.
 *
 * Hand-written on purpose: no maintained npm library implements EventBridge's pattern language (AWS's reference
 * implementation, aws/event-ruler, is Java). It follows "Content filtering in Amazon EventBridge event patterns"
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html) and
 * "Arrays in Amazon EventBridge event patterns": exact string/number/boolean/null values, nested objects, prefix,
 * suffix (both optionally with equals-ignore-case), equals-ignore-case, wildcard, anything-but (values, prefix,
 * suffix, equals-ignore-case, wildcard), numeric ranges, cidr, exists, and `$or`. An array-valued event field
 * matches when any of its elements matches.
 */
import { BlockList, isIP } from 'node:net';
import { LocalServiceError } from '../aws/json-protocol';

export type EventPattern = Record<string, unknown>;

/** The pattern breaks a documented rule; PutRule answers this with InvalidEventPatternException. */
export class InvalidEventPatternError extends LocalServiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`Event pattern is not valid. Reason: ${message}`, options);
    this.name = 'InvalidEventPatternError';
  }
}

export interface CompiledEventPattern {
  readonly pattern: EventPattern;
  matches(event: unknown): boolean;
}

type Leaf = string | number | boolean | null;

interface ValueMatcher {
  test(value: Leaf): boolean;
  /** Only `{"exists": false}` matches a field that is absent (or has no leaf value). */
  matchesAbsent: boolean;
}

interface ObjectMatcher {
  fields: { key: string; node: NodeMatcher }[];
  /** Each entry is one `$or`: the object matches it when any alternative matches. */
  ors: ObjectMatcher[][];
}

type NodeMatcher = { kind: 'object'; matcher: ObjectMatcher } | { kind: 'leaf'; values: ValueMatcher[] };

/** The documented numeric range (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html). */
const NUMERIC_LIMIT = 5e9;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isLeaf = (v: unknown): v is Leaf =>
  v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const describe = (v: unknown): string => JSON.stringify(v) ?? String(v);

const flatten = (value: unknown[]): unknown[] => value.flatMap((v) => (Array.isArray(v) ? flatten(v) : [v]));

const requireString = (v: unknown, what: string, path: string): string => {
  if (typeof v !== 'string')
    throw new InvalidEventPatternError(`${what} at ${path} must be a string, got ${describe(v)}`);
  return v;
};

const requireStrings = (v: unknown, what: string, path: string): string[] => {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new InvalidEventPatternError(`${what} at ${path} must not be an empty list`);
  return list.map((s) => requireString(s, what, path));
};

/** `{"equals-ignore-case": "x"}` inside prefix/suffix, or a plain string. */
const stringOperand = (v: unknown, op: string, path: string): { value: string; ignoreCase: boolean } => {
  if (typeof v === 'string') return { value: v, ignoreCase: false };
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'equals-ignore-case') {
      return {
        value: requireString(v['equals-ignore-case'], `${op} equals-ignore-case`, path),
        ignoreCase: true,
      };
    }
  }
  throw new InvalidEventPatternError(
    `${op} at ${path} must be a string or {"equals-ignore-case": string}, got ${describe(v)}`,
  );
};

/**
 * Wildcard: `*` matches any run of characters; `\*` is a literal asterisk, `\\` a literal backslash; any other
 * escape and consecutive unescaped `*` are invalid (the documented wildcard rules).
 */
const compileWildcard = (pattern: string, path: string): RegExp => {
  let source = '';
  let previousWasStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === '\\') {
      const next = pattern.charAt(i + 1);
      if (next !== '*' && next !== '\\') {
        throw new InvalidEventPatternError(
          `wildcard at ${path}: a backslash may only escape "*" or "\\" (in ${describe(pattern)})`,
        );
      }
      source += `\\${next}`;
      i++;
      previousWasStar = false;
    } else if (ch === '*') {
      if (previousWasStar) {
        throw new InvalidEventPatternError(
          `wildcard at ${path}: consecutive wildcard characters are not allowed (in ${describe(pattern)})`,
        );
      }
      source += '.*';
      previousWasStar = true;
    } else {
      source += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
      previousWasStar = false;
    }
  }
  return new RegExp(`^${source}$`, 's');
};

const stringTest = (test: (s: string) => boolean): ValueMatcher => ({
  test: (v) => typeof v === 'string' && test(v),
  matchesAbsent: false,
});

const prefixTest = (o: { value: string; ignoreCase: boolean }) =>
  o.ignoreCase
    ? (s: string) => s.toLowerCase().startsWith(o.value.toLowerCase())
    : (s: string) => s.startsWith(o.value);
const suffixTest = (o: { value: string; ignoreCase: boolean }) =>
  o.ignoreCase
    ? (s: string) => s.toLowerCase().endsWith(o.value.toLowerCase())
    : (s: string) => s.endsWith(o.value);

const compileNumeric = (v: unknown, path: string): ValueMatcher => {
  if (!Array.isArray(v) || v.length === 0 || v.length % 2 !== 0 || v.length > 4) {
    throw new InvalidEventPatternError(
      `numeric at ${path} must be [op, number] or [op, number, op, number], got ${describe(v)}`,
    );
  }
  const checks: ((n: number) => boolean)[] = [];
  let lower: number | undefined;
  let upper: number | undefined;
  for (let i = 0; i < v.length; i += 2) {
    const op: unknown = v[i];
    const bound: unknown = v[i + 1];
    if (typeof bound !== 'number' || !Number.isFinite(bound) || Math.abs(bound) > NUMERIC_LIMIT) {
      throw new InvalidEventPatternError(
        `numeric at ${path}: ${describe(bound)} must be a number between -5.0e9 and 5.0e9`,
      );
    }
    switch (op) {
      case '=':
        if (v.length !== 2) throw new InvalidEventPatternError(`numeric at ${path}: "=" cannot be combined`);
        checks.push((n) => n === bound);
        break;
      case '>':
      case '>=':
        if (lower !== undefined) throw new InvalidEventPatternError(`numeric at ${path}: two lower bounds`);
        lower = bound;
        checks.push(op === '>' ? (n) => n > bound : (n) => n >= bound);
        break;
      case '<':
      case '<=':
        if (upper !== undefined) throw new InvalidEventPatternError(`numeric at ${path}: two upper bounds`);
        upper = bound;
        checks.push(op === '<' ? (n) => n < bound : (n) => n <= bound);
        break;
      default:
        throw new InvalidEventPatternError(`numeric at ${path}: unknown operator ${describe(op)}`);
    }
  }
  if (lower !== undefined && upper !== undefined && lower >= upper) {
    throw new InvalidEventPatternError(`numeric at ${path}: the lower bound must be below the upper bound`);
  }
  return { test: (n) => typeof n === 'number' && checks.every((c) => c(n)), matchesAbsent: false };
};

const compileCidr = (v: unknown, path: string): ValueMatcher => {
  const text = requireString(v, 'cidr', path);
  const [address = '', bits, ...rest] = text.split('/');
  const family = isIP(address);
  const prefix = Number(bits);
  const maxBits = family === 6 ? 128 : 32;
  if (family === 0 || rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > maxBits) {
    throw new InvalidEventPatternError(`cidr at ${path}: ${describe(text)} is not a valid CIDR block`);
  }
  const block = new BlockList();
  const type = family === 6 ? 'ipv6' : 'ipv4';
  block.addSubnet(address, prefix, type);
  return {
    test: (ip) => typeof ip === 'string' && isIP(ip) === family && block.check(ip, type),
    matchesAbsent: false,
  };
};

/**
 * anything-but: a value or a list of values (all strings or all numbers), or one of prefix / suffix /
 * equals-ignore-case / wildcard. Values of another type than the excluded ones count as "anything but" them,
 * as in event-ruler, where a number never equals (or starts with) a string.
 */
const compileAnythingBut = (v: unknown, path: string): ValueMatcher => {
  const negate = (test: (value: Leaf) => boolean): ValueMatcher => ({
    test: (x) => !test(x),
    matchesAbsent: false,
  });
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    const [key] = keys;
    if (keys.length !== 1 || key === undefined) {
      throw new InvalidEventPatternError(
        `anything-but at ${path} must have exactly one operator, got ${describe(v)}`,
      );
    }
    const operand = v[key];
    switch (key) {
      case 'prefix': {
        const prefix = requireString(operand, 'anything-but prefix', path);
        return negate((x) => typeof x === 'string' && x.startsWith(prefix));
      }
      case 'suffix': {
        const suffix = requireString(operand, 'anything-but suffix', path);
        return negate((x) => typeof x === 'string' && x.endsWith(suffix));
      }
      case 'equals-ignore-case': {
        const lowered = requireStrings(operand, 'anything-but equals-ignore-case', path).map((s) =>
          s.toLowerCase(),
        );
        return negate((x) => typeof x === 'string' && lowered.includes(x.toLowerCase()));
      }
      case 'wildcard': {
        const regexes = requireStrings(operand, 'anything-but wildcard', path).map((w) =>
          compileWildcard(w, path),
        );
        return negate((x) => typeof x === 'string' && regexes.some((r) => r.test(x)));
      }
      default:
        throw new InvalidEventPatternError(`anything-but at ${path}: unsupported operator ${describe(key)}`);
    }
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0)
    throw new InvalidEventPatternError(`anything-but at ${path} must not be an empty list`);
  const allStrings = list.every((x) => typeof x === 'string');
  const allNumbers = list.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!allStrings && !allNumbers) {
    throw new InvalidEventPatternError(
      `anything-but at ${path} must be strings only or numbers only, got ${describe(v)}`,
    );
  }
  const excluded = new Set<unknown>(list);
  return negate((x) => excluded.has(x));
};

const compileOperator = (op: Record<string, unknown>, path: string): ValueMatcher => {
  const keys = Object.keys(op);
  const [key] = keys;
  if (keys.length !== 1 || key === undefined) {
    throw new InvalidEventPatternError(
      `a match object at ${path} must have exactly one operator, got ${describe(op)}`,
    );
  }
  const operand = op[key];
  switch (key) {
    case 'prefix':
      return stringTest(prefixTest(stringOperand(operand, 'prefix', path)));
    case 'suffix':
      return stringTest(suffixTest(stringOperand(operand, 'suffix', path)));
    case 'equals-ignore-case': {
      const lowered = requireString(operand, 'equals-ignore-case', path).toLowerCase();
      return stringTest((s) => s.toLowerCase() === lowered);
    }
    case 'wildcard': {
      const regex = compileWildcard(requireString(operand, 'wildcard', path), path);
      return stringTest((s) => regex.test(s));
    }
    case 'anything-but':
      return compileAnythingBut(operand, path);
    case 'numeric':
      return compileNumeric(operand, path);
    case 'cidr':
      return compileCidr(operand, path);
    case 'exists':
      if (typeof operand !== 'boolean') {
        throw new InvalidEventPatternError(
          `exists at ${path} must be true or false, got ${describe(operand)}`,
        );
      }
      return { test: () => operand, matchesAbsent: !operand };
    default:
      throw new InvalidEventPatternError(`unrecognized match type ${describe(key)} at ${path}`);
  }
};

const compileLeafValue = (v: unknown, path: string): ValueMatcher => {
  if (isLeaf(v)) return { test: (x) => x === v, matchesAbsent: false };
  if (isPlainObject(v)) return compileOperator(v, path);
  throw new InvalidEventPatternError(
    `match values at ${path} must be strings, numbers, booleans, null or match objects`,
  );
};

const compileObject = (pattern: Record<string, unknown>, path: string): ObjectMatcher => {
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new InvalidEventPatternError(`the pattern at ${path} is empty`);
  const matcher: ObjectMatcher = { fields: [], ors: [] };
  for (const key of keys) {
    const value = pattern[key];
    const childPath = path === '' ? key : `${path}.${key}`;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
        throw new InvalidEventPatternError(
          `$or at ${path || 'the top level'} must be an array of at least two patterns`,
        );
      }
      matcher.ors.push(value.map((alt, i) => compileObject(alt, `${childPath}[${i}]`)));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new InvalidEventPatternError(`the match list at ${childPath} is empty`);
      matcher.fields.push({
        key,
        node: { kind: 'leaf', values: value.map((v) => compileLeafValue(v, childPath)) },
      });
    } else if (isPlainObject(value)) {
      matcher.fields.push({ key, node: { kind: 'object', matcher: compileObject(value, childPath) } });
    } else {
      throw new InvalidEventPatternError(
        `${childPath} must be an array of match values or a nested object, got ${describe(value)}`,
      );
    }
  }
  return matcher;
};

const matchObject = (m: ObjectMatcher, obj: Record<string, unknown> | undefined): boolean =>
  m.fields.every(({ key, node }) =>
    matchNode(node, obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined),
  ) && m.ors.every((alternatives) => alternatives.some((alt) => matchObject(alt, obj)));

const matchNode = (node: NodeMatcher, value: unknown): boolean => {
  if (node.kind === 'object') {
    if (isPlainObject(value)) return matchObject(node.matcher, value);
    // An array of objects matches when one element matches as a whole (fields are not mixed across elements).
    const objects = Array.isArray(value) ? flatten(value).filter(isPlainObject) : [];
    return objects.length === 0
      ? matchObject(node.matcher, undefined)
      : objects.some((o) => matchObject(node.matcher, o));
  }
  // Only scalars are leaf values: an object where the pattern expects a leaf counts as absent ("exists" works
  // on leaf nodes only), and an array contributes each of its scalar elements.
  const leaves: Leaf[] = Array.isArray(value) ? flatten(value).filter(isLeaf) : isLeaf(value) ? [value] : [];
  return node.values.some((m) =>
    leaves.length === 0 ? m.matchesAbsent : leaves.some((leaf) => m.test(leaf)),
  );
};

/** Validates a pattern (throws InvalidEventPatternError with the reason) and returns its matcher. */
export const compileEventPattern = (pattern: unknown): CompiledEventPattern => {
  if (!isPlainObject(pattern)) {
    throw new InvalidEventPatternError(`the pattern must be a JSON object, got ${describe(pattern)}`);
  }
  const matcher = compileObject(pattern, '');
  return { pattern, matches: (event) => isPlainObject(event) && matchObject(matcher, event) };
};

export const matchesEventPattern = (pattern: unknown, event: unknown): boolean =>
  compileEventPattern(pattern).matches(event);
