/** Circuit-breaker rules: when the window opens a breaker, what each state admits, cooldowns and the window's span. */
import {
  admissionAt,
  type BreakerRecord,
  BUCKET_SECONDS,
  DEFAULT_BREAKER_SETTINGS,
  nextCooldownSeconds,
  resolveBreakerSettings,
  shouldOpen,
  stateAt,
  sumWindow,
  windowStart,
} from '../../shared/agent/breaker';

const settings = DEFAULT_BREAKER_SETTINGS;
const T0 = 1_800_000_000_000;
const openAt = (openedAt: number, extra: Partial<BreakerRecord> = {}): BreakerRecord => ({
  state: 'open',
  openedAt,
  cooldownSeconds: 30,
  ...extra,
});

describe('shouldOpen', () => {
  it.each([
    ['no calls', 0, 0, false],
    ['fewer calls than minCalls, all failed', 4, 4, false],
    ['minCalls, all failed', 5, 5, true],
    ['failure rate at the threshold (15 %)', 20, 3, false],
    ['failure rate just above the threshold', 20, 4, true],
    ['one failure in five (20 %)', 5, 1, true],
    ['no failure in many calls', 100, 0, false],
  ])('%s -> %s', (_what, calls, failures, expected) => {
    // Act / Assess
    expect(shouldOpen(settings, { calls, failures })).toBe(expected);
  });
});

describe('stateAt and admissionAt', () => {
  it.each<[string, BreakerRecord | undefined, number, string, string]>([
    ['never opened', undefined, T0, 'closed', 'call'],
    ['closed after a probe', { state: 'closed', closedAt: T0 }, T0, 'closed', 'call'],
    ['open, within its cooldown', openAt(T0), T0 + 29_999, 'open', 'refuse'],
    ['open, cooldown elapsed: the probe may run', openAt(T0), T0 + 30_000, 'half_open', 'probe'],
    [
      'half-open with a live probe lease',
      openAt(T0, { state: 'half_open', probeUntil: T0 + 40_000 }),
      T0 + 35_000,
      'half_open',
      'refuse',
    ],
    [
      'half-open whose probe lease expired (its execution died)',
      openAt(T0, { state: 'half_open', probeUntil: T0 + 40_000 }),
      T0 + 40_000,
      'half_open',
      'probe',
    ],
  ])('%s', (_what, record, now, state, admission) => {
    // Act / Assess
    expect(stateAt(record, now)).toBe(state);
    expect(admissionAt(record, now)).toBe(admission);
  });
});

describe('cooldowns', () => {
  it.each([
    [30, 60],
    [60, 120],
    [200, 300],
    [300, 300],
  ])('a failed probe after a %i s cooldown waits %i s', (previous, next) => {
    // Act / Assess
    expect(nextCooldownSeconds(settings, previous)).toBe(next);
  });

  it('merges configured settings over the defaults and caps cooldowns by the stage', () => {
    // Act
    const resolved = resolveBreakerSettings({ minCalls: 3, cooldownSeconds: 60 }, 2);

    // Assess
    expect(resolved).toEqual({ ...settings, minCalls: 3, cooldownSeconds: 2, maxCooldownSeconds: 2 });
    expect(resolveBreakerSettings(undefined)).toEqual(settings);
  });
});

describe('the rolling window', () => {
  it('spans windowSeconds of whole buckets up to the current one', () => {
    // Prepare
    const now = T0 + 12_345;

    // Act
    const start = windowStart(settings, now);

    // Assess
    const bucketMs = BUCKET_SECONDS * 1000;
    expect(start % bucketMs).toBe(0);
    expect(now - start).toBeLessThan(settings.windowSeconds * 1000);
    expect(now - start).toBeGreaterThanOrEqual(settings.windowSeconds * 1000 - bucketMs);
  });

  it('leaves out the buckets that began before the breaker last closed', () => {
    // Prepare
    const closedAt = T0 + 3_000;

    // Act / Assess
    expect(windowStart(settings, T0 + 60_000, closedAt)).toBe(T0 + BUCKET_SECONDS * 1000);
    expect(windowStart(settings, T0 + 60_000, T0)).toBe(T0);
  });

  it('sums its buckets', () => {
    // Act / Assess
    expect(
      sumWindow([
        { calls: 3, failures: 1 },
        { calls: 2, failures: 2 },
      ]),
    ).toEqual({ calls: 5, failures: 3 });
  });
});
