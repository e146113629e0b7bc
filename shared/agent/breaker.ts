/** Circuit-breaker rules, pure: when a breaker opens, what a call may do in each state, and the next cooldown. */
import * as z from 'zod';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Per-tool (OpenAPI `x-circuit-breaker`) or per-model settings; every field has the default below. */
export const breakerSettingsSchema = z.strictObject({
  /** Opens when failures / calls in the window exceed this share... */
  failureRate: z.number().min(0).max(1).optional(),
  /** ...of a rolling window this long... */
  windowSeconds: z.number().int().min(1).max(3600).optional(),
  /** ...holding at least this many calls. */
  minCalls: z.number().int().min(1).optional(),
  /** Open this long before one probe may run (doubled after each failed probe, up to maxCooldownSeconds). */
  cooldownSeconds: z.number().int().min(0).optional(),
  maxCooldownSeconds: z.number().int().min(0).optional(),
});
export type BreakerSettingsInput = z.infer<typeof breakerSettingsSchema>;
export type BreakerSettings = Required<BreakerSettingsInput>;

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = {
  failureRate: 0.15,
  windowSeconds: 120,
  minCalls: 5,
  cooldownSeconds: 30,
  maxCooldownSeconds: 300,
};

/** Window buckets are this long: a call counts in the bucket its outcome was recorded in. */
export const BUCKET_SECONDS = 10;

/**
 * The settings in force: the defaults, the configured ones over them, and a stage's cap on cooldowns (a test
 * stage waits seconds, not half a minute).
 */
export const resolveBreakerSettings = (
  configured: BreakerSettingsInput | undefined,
  maxCooldownCapSeconds?: number,
): BreakerSettings => {
  const merged = { ...DEFAULT_BREAKER_SETTINGS, ...configured };
  if (maxCooldownCapSeconds === undefined) return merged;
  return {
    ...merged,
    cooldownSeconds: Math.min(merged.cooldownSeconds, maxCooldownCapSeconds),
    maxCooldownSeconds: Math.min(merged.maxCooldownSeconds, maxCooldownCapSeconds),
  };
};

/** The stored state of one breaker (the STATE item without its keys). Absent means closed, never opened. */
export interface BreakerRecord {
  state: BreakerState;
  /** Epoch ms of the last opening (the cooldown runs from it). */
  openedAt?: number;
  cooldownSeconds?: number;
  /** Epoch ms until which the half-open probe holds its lease; a later execution may probe after it. */
  probeUntil?: number;
  /** Epoch ms of the last closing: buckets that began before it do not count against the closed breaker. */
  closedAt?: number;
  reason?: string;
}

export interface WindowCounts {
  calls: number;
  failures: number;
}

/** Whether the window says the breaker must open: enough calls, and a failure rate above the threshold. */
export const shouldOpen = (settings: BreakerSettings, counts: WindowCounts): boolean =>
  counts.calls >= settings.minCalls && counts.failures / counts.calls > settings.failureRate;

/** What a call may do: run (closed), run as the one probe (half-open, lease free), or be refused (open). */
export type Admission = 'call' | 'probe' | 'refuse';

/** The state a call sees at `now`: an open breaker past its cooldown is half-open. */
export const stateAt = (record: BreakerRecord | undefined, now: number): BreakerState => {
  if (!record || record.state === 'closed') return 'closed';
  if (record.state === 'half_open') return 'half_open';
  const until = (record.openedAt ?? 0) + (record.cooldownSeconds ?? 0) * 1000;
  return now >= until ? 'half_open' : 'open';
};

export const admissionAt = (record: BreakerRecord | undefined, now: number): Admission => {
  const state = stateAt(record, now);
  if (state === 'closed') return 'call';
  if (state === 'open') return 'refuse';
  // Half-open: one probe at a time; a probe whose lease ran out (its execution died) is replaced.
  const leaseFree = record?.probeUntil === undefined || record.probeUntil <= now;
  return leaseFree ? 'probe' : 'refuse';
};

/** The cooldown after a failed probe: double the last one, capped. */
export const nextCooldownSeconds = (settings: BreakerSettings, previous: number | undefined): number =>
  Math.min(Math.max((previous ?? settings.cooldownSeconds) * 2, 1), settings.maxCooldownSeconds);

/** Start (epoch ms) of the bucket `at` falls in. */
export const bucketStart = (at: number): number => at - (at % (BUCKET_SECONDS * 1000));

/**
 * The oldest bucket start the window at `now` counts: the window's length back, but never a bucket that began
 * before the breaker last closed (the failures that opened it are not counted twice).
 */
export const windowStart = (settings: BreakerSettings, now: number, closedAt?: number): number => {
  const start = bucketStart(now - settings.windowSeconds * 1000 + BUCKET_SECONDS * 1000);
  if (closedAt === undefined) return start;
  const afterClose =
    bucketStart(closedAt) + (closedAt % (BUCKET_SECONDS * 1000) === 0 ? 0 : BUCKET_SECONDS * 1000);
  return Math.max(start, afterClose);
};

/** Sums the window's buckets. */
export const sumWindow = (buckets: readonly WindowCounts[]): WindowCounts =>
  buckets.reduce((acc, b) => ({ calls: acc.calls + b.calls, failures: acc.failures + b.failures }), {
    calls: 0,
    failures: 0,
  });
