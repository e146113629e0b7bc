/** Environment access: read once at init, fail the cold start with the variable's name when it is missing. */
import { ConfigError } from './errors';

export const requiredEnv = (name: string, env: NodeJS.ProcessEnv = process.env): string => {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`Missing required environment variable ${name}`);
  }
  return value;
};

export const optionalEnv = (name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value;
};

/**
 * A whole number of at least `min` (counts, milliseconds, days: none of ours is negative or fractional), or the
 * fallback when the variable is unset. Anything else fails the cold start naming the variable and its value.
 */
export const numberEnv = (
  name: string,
  fallback: number,
  { min = 0 }: { min?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): number => {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`Environment variable ${name} must be a whole number >= ${min}, got "${raw}"`);
  }
  return value;
};
