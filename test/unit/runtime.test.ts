/** Lambda runtime plumbing: step input parsing, numeric environment variables and per-function configuration. */

import { promptCachingConfig, tableConfig, toolRetryConfig } from '../../shared/runtime/config';
import { numberEnv } from '../../shared/runtime/env';
import { ConfigError, InvalidGoalError, StepInputError } from '../../shared/runtime/errors';
import { parseInput } from '../../shared/runtime/lambda';
import { finalizeInputSchema } from '../../shared/steps/finalize';

describe('parseInput', () => {
  it('returns the parsed step input', () => {
    // Act
    const input = parseInput(
      finalizeInputSchema,
      { tenantId: 'acme', sessionId: 's-1', turn: 0, reason: 'completed' },
      'Finalize',
    );

    // Assess
    expect(input).toEqual({ tenantId: 'acme', sessionId: 's-1', turn: 0, reason: 'completed' });
  });

  it('raises a StepInputError (not a goal error) naming the step and every issue', () => {
    // Act
    const act = () =>
      parseInput(finalizeInputSchema, { tenantId: '', turn: -1, reason: 'completed' }, 'Finalize');

    // Assess
    expect(act).toThrow(StepInputError);
    expect(act).not.toThrow(InvalidGoalError);
    expect(act).toThrow(/^Finalize received an invalid input: tenantId: .*; sessionId: .*; turn: /);
    try {
      act();
    } catch (error) {
      expect((error as StepInputError).name).toBe('StepInputError');
      expect((error as StepInputError).issues).toHaveLength(3);
    }
  });
});

describe('numberEnv', () => {
  it('reads a whole number, and falls back when the variable is unset or blank', () => {
    expect(numberEnv('N', 7, {}, { N: '42' })).toBe(42);
    expect(numberEnv('N', 7, {}, { N: '0' })).toBe(0);
    expect(numberEnv('N', 7, {}, {})).toBe(7);
    expect(numberEnv('N', 7, {}, { N: ' ' })).toBe(7);
  });

  it.each(['-1', '1.5', 'abc', '1e400'])('refuses %p, naming the variable and the value', (raw) => {
    // Act
    const act = () => numberEnv('TOOL_RETRY_BASE_MS', 1000, {}, { TOOL_RETRY_BASE_MS: raw });

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(`Environment variable TOOL_RETRY_BASE_MS must be a whole number >= 0, got "${raw}"`);
  });

  it('refuses a value under the minimum', () => {
    expect(() => numberEnv('TOOL_RETRY_ATTEMPTS', 3, { min: 1 }, { TOOL_RETRY_ATTEMPTS: '0' })).toThrow(
      'Environment variable TOOL_RETRY_ATTEMPTS must be a whole number >= 1, got "0"',
    );
  });
});

describe('configuration', () => {
  it('reads the table and the tool retry policy, with their defaults', () => {
    expect(tableConfig({ TABLE_NAME: 't' })).toEqual({ tableName: 't', sessionTtlDays: 90 });
    expect(toolRetryConfig({})).toEqual({
      baseDelayMs: 1000,
      maxDelayMs: 10_000,
      attempts: 3,
      timeoutMs: 3000,
    });
  });

  it('fails the cold start on a negative TTL or a fractional attempt count', () => {
    expect(() => tableConfig({ TABLE_NAME: 't', SESSION_TTL_DAYS: '-5' })).toThrow(/SESSION_TTL_DAYS.*"-5"/);
    expect(() => toolRetryConfig({ TOOL_RETRY_ATTEMPTS: '2.5' })).toThrow(/TOOL_RETRY_ATTEMPTS.*"2.5"/);
  });
});

describe('promptCachingConfig', () => {
  it('is on unless the stage says off, and refuses anything else naming the variable', () => {
    expect(promptCachingConfig({})).toBe(true);
    expect(promptCachingConfig({ PROMPT_CACHING: 'on' })).toBe(true);
    expect(promptCachingConfig({ PROMPT_CACHING: 'off' })).toBe(false);
    expect(() => promptCachingConfig({ PROMPT_CACHING: 'false' })).toThrow(
      'Environment variable PROMPT_CACHING must be "on" or "off", got "false"',
    );
  });
});
