/**
 * Field values and how a query compares and adds them.
 *
 * Numbers from strings (UNCONFIRMED: AWS's Logs Insights pages, read 2026-12-02, do not say how a string that is not
 * a plain number behaves in `avg` or in a comparison): a string counts as the number it starts with (`"123}"` is 123,
 * `"1.5 ms"` is 1.5) and as no number when it starts with none (`"n/a"`, `"}"`). The seed's `parse @message
 * '"latencyMs":*'` extracts `123}` from a JSON line that ends with latencyMs (see glob.ts); the issue requires that
 * query, as written, to average those latencies, which only a leading-number reading allows. `numberRule: 'strict'`
 * (a whole-string number only) is the other reading; under it the seed's averages are empty. Values that are no
 * number are left out of sum/avg/min/max and make `<`/`>` comparisons false, as a missing field does.
 */

export type Value = string | number | boolean | null;

export type NumberRule = 'leading' | 'strict';

const LEADING = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/;
const WHOLE = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/** The number a value stands for under the rule, or undefined. */
export const toNumber = (value: Value | undefined, rule: NumberRule = 'leading'): number | undefined => {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = (rule === 'strict' ? WHOLE : LEADING).exec(value);
  return match ? Number(match[0]) : undefined;
};

/** A value as text, for `like`, string equality and output. */
export const toText = (value: Value | undefined): string | undefined =>
  value === undefined || value === null ? undefined : String(value);

const chunks = (text: string): string[] => text.match(/\d+|\D+/g) ?? [];

/** Natural order of two non-number strings: digit runs by length then value, the rest by code unit. */
const naturalCompare = (a: string, b: string): number => {
  const ca = chunks(a);
  const cb = chunks(b);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const x = ca[i] as string;
    const y = cb[i] as string;
    if (x === y) continue;
    const digits = /^\d/.test(x) && /^\d/.test(y);
    if (digits && x.length !== y.length) return x.length - y.length;
    return x < y ? -1 : 1;
  }
  return ca.length - cb.length;
};

/**
 * Ascending sort order, as AWS's sort page describes it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html,
 * read 2026-12-02): every non-number value before every number value (a number value is only a number, so `123}` is
 * not one), non-numbers in natural order. Missing values (the page does not say) go last.
 */
export const compareForSort = (a: Value | undefined, b: Value | undefined): number => {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  const na = toNumber(a, 'strict');
  const nb = toNumber(b, 'strict');
  if (na !== undefined && nb !== undefined) return na - nb;
  if (na !== undefined) return 1;
  if (nb !== undefined) return -1;
  return naturalCompare(String(a), String(b));
};
