/** Reservation maths: the conservative input count, the worst case a turn reserves, thresholds, and resume refusals. */

import {
  TOOL_CALL_INFRASTRUCTURE_MICROS,
  TURN_INFRASTRUCTURE_MICROS,
} from '../../shared/agent/pricing/micros';
import {
  COST_THRESHOLDS,
  countInputTokens,
  dearestRates,
  MESSAGE_FRAMING_TOKENS,
  modelReservation,
  thresholdMicros,
  thresholdsToAlert,
  toolCallReservation,
} from '../../shared/agent/reservation';
import { resumeRefusal } from '../../shared/steps/intake';
import { expiredReservations, remainingOf } from '../../shared/store/budget-ledger';
import { sessionItem } from '../helpers/fixtures';

const sonnet = { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 };
const haiku = { input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 };

describe('countInputTokens', () => {
  const request = {
    modelId: 'm',
    system: [{ text: 'You audit bills.' }],
    toolConfig: { tools: [{ toolSpec: { name: 'audit', inputSchema: { json: {} } } }] },
    messages: [{ role: 'user' as const, content: [{ text: 'Goal: audit €100' }] }],
  };

  it('counts a first request in UTF-8 bytes (each BPE token covers at least one byte), with message framing', () => {
    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');
    expect(countInputTokens(request, undefined)).toBe(
      bytes(request.system) +
        bytes(request.toolConfig) +
        bytes(request.messages[0]?.content) +
        MESSAGE_FRAMING_TOKENS,
    );
    // the euro sign is 3 bytes: counted as 3
    expect(bytes([{ text: '€' }]) - bytes([{ text: '' }])).toBe(3);
  });

  it("counts a later request from the previous turn's billed prompt and output plus the new messages in bytes", () => {
    const later = {
      ...request,
      messages: [
        ...request.messages,
        { role: 'assistant' as const, content: [{ text: 'calling audit' }] },
        { role: 'user' as const, content: [{ text: 'result: 42' }] },
      ],
    };
    const previous = { modelId: 'm', usage: { input: 100, output: 20, cacheRead: 300, cacheWrite: 50 } };
    const tail = Buffer.byteLength(JSON.stringify([{ text: 'result: 42' }]), 'utf8');
    expect(countInputTokens(later, previous)).toBe(470 + tail + 2 * MESSAGE_FRAMING_TOKENS);
    // Another model (another tokenizer): the whole request in bytes.
    expect(countInputTokens(later, { ...previous, modelId: 'other' })).toBeGreaterThan(tail);
  });
});

describe('modelReservation', () => {
  it('reserves the input at the dearer of input and cache write, maxTokens of output, and the turn infrastructure', () => {
    // 1,000 x 3.75 + 2,048 x 15 = 3,750 + 30,720 micro-dollars, plus the turn's infrastructure
    expect(modelReservation(1_000, 2_048, sonnet)).toEqual({
      micros: 34_470 + TURN_INFRASTRUCTURE_MICROS,
      tokens: 3_048,
    });
  });

  it('covers whichever model of the tier answers: the dearest rate of each kind', () => {
    expect(dearestRates([haiku, sonnet])).toEqual(sonnet);
    expect(dearestRates([haiku, { ...haiku, output: 5 }])).toEqual({ ...haiku, output: 5 });
  });

  it('reserves a tool call at its infrastructure, no tokens', () => {
    expect(toolCallReservation()).toEqual({ micros: TOOL_CALL_INFRASTRUCTURE_MICROS, tokens: 0 });
  });
});

describe('thresholds', () => {
  it('places 50, 80 and 100 % of a budget in whole micro-dollars, rounded up', () => {
    expect(COST_THRESHOLDS).toEqual([50, 80, 100]);
    expect(thresholdMicros(50, 1_001)).toBe(501);
    expect(thresholdMicros(80, 10_000)).toBe(8_000);
  });

  it('lists the thresholds a spend reached that were not alerted yet', () => {
    expect(thresholdsToAlert(4_999, 10_000, [])).toEqual([]);
    expect(thresholdsToAlert(5_000, 10_000, [])).toEqual([50]);
    expect(thresholdsToAlert(8_500, 10_000, [50])).toEqual([80]);
    expect(thresholdsToAlert(10_000, 10_000, [50, 80])).toEqual([100]);
    expect(thresholdsToAlert(10_000, 10_000, [50, 80, 100])).toEqual([]);
  });

  it('counts a budget that cannot fund the next call as 100 %, even a zero budget', () => {
    expect(thresholdsToAlert(8_500, 10_000, [50, 80], true)).toEqual([100]);
    expect(thresholdsToAlert(0, 0, [], true)).toEqual([100]);
    expect(thresholdsToAlert(0, 0, [])).toEqual([]);
  });
});

describe('the ledger as loaded', () => {
  it("starts a session's remainders at its limits and finds crashed steps' expired reservations", () => {
    const session = sessionItem({
      remainingMicros: 900,
      remainingTokens: 50,
      reservations: {
        'turn-2': { micros: 10, tokens: 5, expiresAt: 1_000 },
        'call-1-0': { micros: 41, tokens: 0, expiresAt: 5_000 },
      },
    });
    expect(remainingOf(session)).toEqual({ micros: 900, tokens: 50 });
    expect(expiredReservations(session, 'turn-3', 2_000).map(([id]) => id)).toEqual(['turn-2']);
    // A retried step's own reservation is reused, never released.
    expect(expiredReservations(session, 'turn-2', 2_000)).toEqual([]);
    const fresh = sessionItem({ costMicros: 0 });
    expect(remainingOf(fresh).micros).toBe(fresh.limits.usdBudget * 1_000_000);
  });
});

describe('resumeRefusal with a raise', () => {
  const stopped = (stopReason: string) => sessionItem({ status: 'stopped', stopReason });

  it('refuses a budget stop resumed without raising that budget, naming the flag', () => {
    expect(resumeRefusal(stopped('usd_budget'))).toMatch(/higher usdBudget \(--usd-budget\)/);
    expect(resumeRefusal(stopped('token_budget'), { usdBudget: 5 })).toMatch(/--token-budget/);
  });

  it('accepts a budget stop with the budget raised, and a paused session as it is', () => {
    expect(resumeRefusal(stopped('usd_budget'), { usdBudget: 5 })).toBeUndefined();
    expect(resumeRefusal(stopped('token_budget'), { tokenBudget: 10_000_000 })).toBeUndefined();
    expect(resumeRefusal(sessionItem({ status: 'paused', stopReason: 'tenant_paused' }))).toBeUndefined();
  });

  it('refuses a "raise" that does not raise', () => {
    const session = stopped('usd_budget');
    expect(resumeRefusal(session, { usdBudget: session.limits.usdBudget })).toMatch(/does not raise/);
  });
});
