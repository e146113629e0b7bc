/**
 * Redaction of secret and PII fields in log lines, applied by the Logger's own `jsonReplacerFn` hook to every
 * key and value it serialises. Hand-written because Powertools for TypeScript (2.36) has no data masking (its
 * Python sibling's DataMasking has no TypeScript port: https://docs.aws.amazon.com/powertools/typescript/2.36.0/llms.txt,
 * read 2026-12-02): the Logger offers the replacer hook, and this fills it.
 */

export const REDACTED = '[REDACTED]';

/** Key names whose values never reach a log, compared without case, `_` or `-` (api_key = apiKey = API-KEY). */
export const DEFAULT_REDACT_KEYS = [
  'password',
  'secret',
  'apiKey',
  'authorization',
  'ssn',
  'email',
  'phone',
  'accountNumber',
] as const;

const normalise = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** 13 to 19 digits, optionally grouped by spaces or dashes: the lengths of payment card numbers (ISO/IEC 7812). */
const CARD_LIKE = /\b\d(?:[ -]?\d){12,18}\b/g;

/** The Luhn checksum card numbers carry: keeps timestamps and other long numbers out of the card pattern. */
const passesLuhn = (digits: string): boolean => {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
};

/** A string with its email addresses and card-like numbers replaced. */
export const redactText = (text: string): string =>
  text
    .replace(EMAIL, '[EMAIL]')
    .replace(CARD_LIKE, (match) => (passesLuhn(match.replace(/[ -]/g, '')) ? '[CARD]' : match));

/**
 * Identifiers the records are grouped by, never pattern-matched: a UUID session id can hold a Luhn-valid run of
 * 16 digits across its dashes (41111111-1111-1111-...), and a redacted id would split its session's records.
 */
const IDENTIFIER_KEYS = new Set(
  [
    'sessionId',
    'tenantId',
    'callId',
    'toolUseId',
    'eventId',
    'executionArn',
    'xray_trace_id',
    'function_request_id',
  ].map(normalise),
);

/** Parses REDACT_KEYS (comma-separated key names); unset or empty, the defaults. */
export const redactKeysOf = (value: string | undefined): string[] => {
  const keys = (value ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  return keys.length > 0 ? keys : [...DEFAULT_REDACT_KEYS];
};

/**
 * A JSON replacer (the Logger's `jsonReplacerFn`): the value of a configured key becomes [REDACTED] whatever it
 * is; every other string but an identifier has its emails and card-like numbers replaced.
 */
export const redactingReplacer = (keys: readonly string[]) => {
  const redacted = new Set(keys.map(normalise));
  return (key: string, value: unknown): unknown => {
    if (key === '') return value;
    const name = normalise(key);
    if (redacted.has(name)) return REDACTED;
    return typeof value === 'string' && !IDENTIFIER_KEYS.has(name) ? redactText(value) : value;
  };
};
