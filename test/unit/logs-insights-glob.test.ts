import { extract, globRegex, namedGroups, queryRegex } from '../../local/logs-insights/glob';
import { compareForSort, toNumber } from '../../local/logs-insights/values';

const globExtract = (pattern: string, names: string[], text: string) =>
  extract(globRegex(pattern).regex, names, text);

describe('parse globs', () => {
  it('matches anywhere, each inner * up to the first text after it', () => {
    expect(
      globExtract('"sessionId":"*"', ['s'], '{"level":"INFO","sessionId":"s-1","tenantId":"acme"}'),
    ).toEqual({
      s: 's-1',
    });
    expect(
      globExtract(
        'user=*, method:*, latency := *',
        ['u', 'm', 'l'],
        'x user=ann, method:GET, latency := 12 ms',
      ),
    ).toEqual({
      u: 'ann',
      m: 'GET',
      l: '12 ms',
    });
  });

  it('lets a trailing * take the rest of the line: "latencyMs":* on a line ending with latencyMs gives 123}', () => {
    expect(
      globExtract('"latencyMs":*', ['l'], '{"message":"Tool call","trace":{"kind":"tool"},"latencyMs":123}'),
    ).toEqual({
      l: '123}',
    });
    expect(globExtract('"latencyMs":*', ['l'], '{"latencyMs":5,"after":"x"}')).toEqual({
      l: '5,"after":"x"}',
    });
  });

  it('takes the first occurrence and treats regex characters in the pattern as text', () => {
    expect(globExtract('"function":"*"', ['f'], '{"function":"a.b","trace":{"function":"c"}}')).toEqual({
      f: 'a.b',
    });
    expect(globExtract('(*)', ['x'], 'a (b) c')).toEqual({ x: 'b' });
  });

  it('does not match "function":"*" on Powertools\' function_name key', () => {
    expect(
      globExtract('"function":"*"', ['f'], '{"function_name":"sovereign-agent-local-plan"}'),
    ).toBeUndefined();
  });
});

describe('parse regexes', () => {
  it('names fields by their groups and reads a leading (?i) as the i flag', () => {
    const regex = queryRegex('(?i)took (?<ms>\\d+) MS', '');
    expect(namedGroups(regex)).toEqual(['ms']);
    expect(extract(regex, ['ms'], 'it TOOK 42 ms')).toEqual({ ms: '42' });
  });
});

describe('numbers from strings', () => {
  it('reads the number a string starts with (the leading rule), or none', () => {
    expect(toNumber('123}')).toBe(123);
    expect(toNumber(' 1.5 ms')).toBe(1.5);
    expect(toNumber('-2e3')).toBe(-2000);
    expect(toNumber('}')).toBeUndefined();
    expect(toNumber('n/a')).toBeUndefined();
    expect(toNumber(null)).toBeUndefined();
  });

  it('reads whole-string numbers only under the strict rule', () => {
    expect(toNumber('123}', 'strict')).toBeUndefined();
    expect(toNumber(' 123 ', 'strict')).toBe(123);
  });

  it('sorts non-numbers before numbers, non-numbers in natural order (AWS sort page)', () => {
    const sorted = ['0', 'a12', '5A', '111A', '2', '123}', 'A'].sort(compareForSort);
    expect(sorted).toEqual(['5A', '111A', '123}', 'A', 'a12', '0', '2']);
  });
});

describe('parse regexes with @ names', () => {
  it('extracts (?<@name>...) groups as @name fields, as AWS allows', () => {
    const regex = queryRegex('user=(?<@user2>.*?), method:(?<@method2>.*?),', '');
    expect(namedGroups(regex)).toEqual(['@user2', '@method2']);
    expect(extract(regex, ['@user2', '@method2'], 'user=ann, method:GET, latency := 5')).toEqual({
      '@user2': 'ann',
      '@method2': 'GET',
    });
  });
});
