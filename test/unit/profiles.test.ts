/** Agent profiles: the schema every profile file must meet, and the billing-auditor profile itself. */

import { agentNames, getProfile, hasProfile, parseProfile } from '../../shared/agent/profiles';
import billingAuditor from '../../shared/agent/profiles/billing-auditor.json';
import { offeredTools, toolsForAgent } from '../../shared/agent/tools';
import { ProfileError } from '../../shared/runtime/errors';

describe('billing-auditor profile', () => {
  it('is registered and carries the mission defaults for routing and limits', () => {
    // Act
    const profile = getProfile('billing-auditor');

    // Assess
    expect(agentNames()).toContain('billing-auditor');
    expect(profile.routing).toMatchObject({ rciThreshold: 70, latencyThresholdMs: 1200 });
    expect(profile.routing.steps).toEqual({
      plan: 'planner',
      verify: 'planner',
      extract: 'executor',
      format: 'executor',
      summarize: 'reader',
    });
    expect(profile.routing.degrade.atBudgetFraction).toBe(0.8);
    expect(profile.modelTiers).toEqual({ planning: 'planner', execution: 'executor', restricted: 'private' });
    expect(profile.limits.loopThreshold).toBe(5);
  });

  it('only uses action groups that exist, and so offers the four billing tools (the replica only answers as a fallback)', () => {
    // Act
    const tools = toolsForAgent(getProfile('billing-auditor').actionGroups);

    // Assess
    expect(offeredTools(tools).map((t) => t.name)).toEqual([
      'audit_billing_logs',
      'list_underutilized_resources',
      'get_contract_terms',
      'create_optimization_report',
    ]);
  });
});

describe('getProfile', () => {
  it('rejects an unknown agent, listing the known ones', () => {
    // Act
    const act = () => getProfile('payroll-clerk');

    // Assess
    expect(act).toThrow(ProfileError);
    expect(act).toThrow(
      'Unknown agent "payroll-clerk"; known agents: billing-auditor, billing-auditor-approval',
    );
    expect(hasProfile('payroll-clerk')).toBe(false);
    expect(hasProfile('billing-auditor')).toBe(true);
  });
});

describe('parseProfile', () => {
  it('accepts the billing-auditor file as it is', () => {
    // Act
    const profile = parseProfile(billingAuditor, 'billing-auditor.json');

    // Assess
    expect(profile.name).toBe('billing-auditor');
  });

  it('refuses a profile that would send restricted data to a Bedrock tier', () => {
    // Act
    const act = () =>
      parseProfile(
        { ...billingAuditor, modelTiers: { ...billingAuditor.modelTiers, restricted: 'executor' } },
        'leaky.json',
      );

    // Assess
    expect(act).toThrow(ProfileError);
    expect(act).toThrow(/Agent profile leaky\.json is invalid: modelTiers\.restricted/);
  });

  it('names every invalid field, and the file it came from', () => {
    // Act
    const act = () =>
      parseProfile(
        {
          ...billingAuditor,
          name: 'Billing Auditor',
          limits: { ...billingAuditor.limits, loopThreshold: 1, maxTurns: 0 },
          routing: { ...billingAuditor.routing, rciThreshold: 120 },
        },
        'broken.json',
      );

    // Assess
    expect(act).toThrow(/broken\.json/);
    expect(act).toThrow(/name: /);
    expect(act).toThrow(/limits\.loopThreshold: /);
    expect(act).toThrow(/limits\.maxTurns: /);
    expect(act).toThrow(/routing\.rciThreshold: /);
  });

  it('refuses a step-kind map that misses a step kind or sends one to the private tier', () => {
    // Prepare
    const { summarize: _dropped, ...missing } = billingAuditor.routing.steps;

    // Act
    const incomplete = () =>
      parseProfile({ ...billingAuditor, routing: { ...billingAuditor.routing, steps: missing } }, 'a.json');
    const privateStep = () =>
      parseProfile(
        {
          ...billingAuditor,
          routing: {
            ...billingAuditor.routing,
            steps: { ...billingAuditor.routing.steps, format: 'private' },
          },
        },
        'b.json',
      );

    // Assess
    expect(incomplete).toThrow(/routing\.steps\.summarize: /);
    expect(privateStep).toThrow(/routing\.steps\.format: /);
  });

  it('refuses unknown settings instead of ignoring them (a typo must not silently fall back)', () => {
    // Act
    const act = () =>
      parseProfile({ ...billingAuditor, limits: { ...billingAuditor.limits, maxTurn: 3 } }, 'typo.json');

    // Assess
    expect(act).toThrow(/limits: .*maxTurn/);
  });

  it('refuses a profile without action groups', () => {
    // Act
    const act = () => parseProfile({ ...billingAuditor, actionGroups: [] }, 'toolless.json');

    // Assess
    expect(act).toThrow(/actionGroups: /);
  });
});
