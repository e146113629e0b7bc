/** JSON helpers shared by the Bedrock emulator: a JSON value type, key-sorted serialization and hashing. */
import { createHash } from 'node:crypto';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Serializes with object keys sorted, so equal values give equal strings whatever the key order. */
export const stableStringify = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

export const sha256 = (...parts: string[]): string => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('hex');
};

/** A Bedrock-looking tool use id (`tooluse_` + 22 url-safe chars), derived from a seed so answers are reproducible. */
export const toolUseIdFrom = (...seed: string[]): string =>
  `tooluse_${createHash('sha256').update(seed.join('\u0000')).digest('base64url').slice(0, 22)}`;
