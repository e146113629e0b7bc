/** The bus event contract: goal and resume events, session ids derived from them, execution names. */

import acmeGoal from '../../events/goal-billing-audit.json';
import globexGoal from '../../events/goal-billing-audit-globex.json';
import invalidGoal from '../../events/goal-invalid.json';
import resumeRequest from '../../events/resume-request.json';
import {
  executionNameFor,
  GOAL_SUBMITTED,
  parseBusEvent,
  RESUME_REQUESTED,
  sessionIdForEvent,
  sessionIdFromEventId,
} from '../../shared/contracts/goal-events';
import { InvalidGoalError } from '../../shared/runtime/errors';

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const EXECUTION_NAME = /^[0-9A-Za-z_-]{1,80}$/;

/** Runs the parser and returns the InvalidGoalError it throws (fails the test if it does not throw one). */
const rejectionOf = (event: unknown): InvalidGoalError => {
  try {
    parseBusEvent(event);
  } catch (error) {
    if (error instanceof InvalidGoalError) return error;
    throw error;
  }
  throw new Error('expected the event to be rejected');
};

describe('parseBusEvent: goal events', () => {
  it('accepts the sample goal and addresses the session by the event id when there is no goalId', () => {
    // Act
    const parsed = parseBusEvent(acmeGoal);

    // Assess
    expect(parsed.kind).toBe('goal');
    expect(parsed.eventId).toBe(acmeGoal.id);
    expect(parsed.sessionId).toBe(acmeGoal.id);
    expect(parsed.detail).toMatchObject({
      tenantId: 'acme',
      agent: 'billing-auditor',
      constraints: { maxTurns: 6, tokenBudget: 120000, usdBudget: 0.5, dataClassification: 'internal' },
    });
  });

  it('addresses the session by goalId when the sender gives one', () => {
    // Act
    const parsed = parseBusEvent(globexGoal);

    // Assess
    expect(parsed.sessionId).toBe('globex-audit-2026-11');
  });

  it('rejects an event without tenantId with an issue naming tenantId', () => {
    // Prepare
    const { tenantId: _dropped, ...detail } = acmeGoal.detail;

    // Act
    const error = rejectionOf({ ...acmeGoal, detail });

    // Assess
    expect(error.message).toBe(`Invalid "${GOAL_SUBMITTED}" detail`);
    expect(error.issues).toEqual([expect.stringMatching(/^tenantId: /)]);
  });

  it('lists every problem of the sample invalid goal, field by field', () => {
    // Act
    const error = rejectionOf(invalidGoal);

    // Assess
    const fields = error.issues.map((issue) => issue.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining(['tenantId', 'goal', 'constraints.maxTurns', 'constraints.dataClassification']),
    );
    expect(error.issues).toContain('goal: goal must not be empty');
  });

  it('rejects a goal whose text is only whitespace', () => {
    // Act
    const error = rejectionOf({ ...acmeGoal, detail: { ...acmeGoal.detail, goal: '   \n ' } });

    // Assess
    expect(error.issues).toEqual(['goal: goal must not be empty']);
  });

  it('rejects fields it does not know instead of ignoring them', () => {
    // Act
    const inDetail = rejectionOf({ ...acmeGoal, detail: { ...acmeGoal.detail, priority: 'high' } });
    const inConstraints = rejectionOf({
      ...acmeGoal,
      detail: { ...acmeGoal.detail, constraints: { maxTurns: 3, maxCost: 5 } },
    });

    // Assess
    expect(inDetail.issues.join('\n')).toContain('priority');
    expect(inConstraints.issues.join('\n')).toMatch(/constraints.*maxCost/);
  });

  it('rejects ids that could break keys or execution names', () => {
    // Act
    const error = rejectionOf({
      ...acmeGoal,
      detail: { ...acmeGoal.detail, tenantId: 'acme#S#other', goalId: 'a/b' },
    });

    // Assess
    expect(error.issues).toEqual(
      expect.arrayContaining([expect.stringMatching(/^tenantId: /), expect.stringMatching(/^goalId: /)]),
    );
  });

  it('rejects constraints outside their bounds', () => {
    // Act
    const error = rejectionOf({
      ...acmeGoal,
      detail: { ...acmeGoal.detail, constraints: { maxTurns: 51, tokenBudget: 10, usdBudget: 0 } },
    });

    // Assess
    const fields = error.issues.map((issue) => issue.split(':')[0]);
    expect(fields).toEqual(['constraints.maxTurns', 'constraints.tokenBudget', 'constraints.usdBudget']);
  });
});

describe('parseBusEvent: envelopes and resume events', () => {
  it('accepts the sample resume request and addresses the session it names', () => {
    // Act
    const parsed = parseBusEvent(resumeRequest);

    // Assess
    expect(parsed).toEqual({
      kind: 'resume',
      eventId: resumeRequest.id,
      sessionId: 'acme-audit-throttled',
      detail: { tenantId: 'acme', sessionId: 'acme-audit-throttled' },
    });
  });

  it('rejects a resume request without sessionId', () => {
    // Act
    const error = rejectionOf({ ...resumeRequest, detail: { tenantId: 'globex' } });

    // Assess
    expect(error.message).toBe(`Invalid "${RESUME_REQUESTED}" detail`);
    expect(error.issues).toEqual([expect.stringMatching(/^sessionId: /)]);
  });

  it('rejects something that is not an EventBridge envelope', () => {
    // Act
    const error = rejectionOf({ detail: acmeGoal.detail });

    // Assess
    expect(error.message).toBe('The event is not an EventBridge event envelope');
    expect(error.issues).toEqual(expect.arrayContaining([expect.stringMatching(/^id: /)]));
    expect(error.issues).toEqual(expect.arrayContaining([expect.stringMatching(/^detail-type: /)]));
  });

  it('rejects a detail-type it does not handle, naming the ones it does', () => {
    // Act
    const error = rejectionOf({ ...acmeGoal, 'detail-type': 'Agent Goal Cancelled' });

    // Assess
    expect(error.message).toContain('"Agent Goal Cancelled"');
    expect(error.issues[0]).toContain(GOAL_SUBMITTED);
    expect(error.issues[0]).toContain(RESUME_REQUESTED);
  });
});

describe('session ids', () => {
  it('keeps an EventBridge event id (a UUID) as the session id', () => {
    // Act
    const sessionId = sessionIdFromEventId('4b1c6e39-5f0e-4a43-9d55-2f0d8a1e7c10');

    // Assess
    expect(sessionId).toBe('4b1c6e39-5f0e-4a43-9d55-2f0d8a1e7c10');
  });

  it('hashes an event id that is not a valid session id into a stable, valid one', () => {
    // Act
    const first = sessionIdFromEventId('local:event/42');
    const again = sessionIdFromEventId('local:event/42');
    const other = sessionIdFromEventId('local:event/43');

    // Assess
    expect(first).toMatch(/^evt-[0-9a-f]{32}$/);
    expect(first).toMatch(SESSION_ID);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it('prefers goalId, then sessionId, then the event id', () => {
    // Act + Assess
    expect(sessionIdForEvent('evt-1', 'goal-1', 'sess-1')).toBe('goal-1');
    expect(sessionIdForEvent('evt-1', undefined, 'sess-1')).toBe('sess-1');
    expect(sessionIdForEvent('evt-1')).toBe('evt-1');
  });
});

describe('executionNameFor', () => {
  it('gives a duplicate delivery of the same goal the same execution name', () => {
    // Act
    const first = executionNameFor('acme', 'acme-audit-0001');
    const duplicate = executionNameFor('acme', 'acme-audit-0001');

    // Assess
    expect(first).toMatch(/^acme-acme-audit-0001-[0-9a-f]{12}$/);
    expect(duplicate).toBe(first);
  });

  it('names each resume attempt differently from the first run and from each other', () => {
    // Act
    const names = [0, 1, 2].map((attempt) => executionNameFor('acme', 'acme-audit-0001', attempt));

    // Assess
    expect(new Set(names).size).toBe(3);
    expect(names[1]).toMatch(/^acme-acme-audit-0001-r1-[0-9a-f]{12}$/);
  });

  it('keeps names within the Step Functions limits for the longest ids the contract allows', () => {
    // Prepare
    const tenantId = `t${'x'.repeat(63)}`;
    const sessionA = `s${'a'.repeat(63)}`;
    const sessionB = `s${'b'.repeat(63)}`;

    // Act
    const a = executionNameFor(tenantId, sessionA);
    const aResume = executionNameFor(tenantId, sessionA, 12);
    const b = executionNameFor(tenantId, sessionB);

    // Assess
    for (const name of [a, aResume, b]) expect(name).toMatch(EXECUTION_NAME);
    expect(executionNameFor(tenantId, sessionA)).toBe(a);
    expect(new Set([a, aResume, b]).size).toBe(3);
    expect(aResume).toMatch(/-[0-9a-f]{12}$/);
  });

  // Ids may contain "-", which is also the separator and the resume-suffix marker: a plain join would collide,
  // intake would see ExecutionAlreadyExists and drop a new goal as a duplicate.
  test('never gives two different goals the same execution name', () => {
    // Act
    const acmeEu = executionNameFor('acme-eu', 'audit');
    const acme = executionNameFor('acme', 'eu-audit');
    const resumeOfAudit = executionNameFor('acme', 'audit', 1);
    const goalNamedAuditR1 = executionNameFor('acme', 'audit-r1');

    // Assess
    expect(acmeEu).not.toBe(acme);
    expect(resumeOfAudit).not.toBe(goalNamedAuditR1);
  });
});
