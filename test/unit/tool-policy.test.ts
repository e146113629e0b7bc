/** Tool policy: the allow-list offered to the model, the approval list, their checks, and the approval timeout. */
import { getProfile, parseProfile } from '../../shared/agent/profiles';
import billingAuditor from '../../shared/agent/profiles/billing-auditor.json';
import {
  allowedTools,
  approvalTimeoutSeconds,
  DEFAULT_APPROVAL_TIMEOUT_SECONDS,
  requiresApproval,
} from '../../shared/agent/tool-policy';
import { ProfileError } from '../../shared/runtime/errors';

const withTools = (tools: Record<string, unknown>) => ({ ...billingAuditor, tools });

describe('allowedTools', () => {
  it('offers only the tools the allow-list names, in the action group order', () => {
    // Prepare
    const profile = parseProfile(
      withTools({ allow: ['get_contract_terms', 'audit_billing_logs'] }),
      'narrow.json',
    );

    // Act
    const names = allowedTools(profile).map((t) => t.name);

    // Assess
    expect(names).toEqual(['audit_billing_logs', 'get_contract_terms']);
  });

  it('never offers a fallback-only tool, even when allowed', () => {
    const profile = parseProfile(
      withTools({ allow: ['audit_billing_logs', 'audit_billing_logs_replica'] }),
      'replica.json',
    );
    expect(allowedTools(profile).map((t) => t.name)).toEqual(['audit_billing_logs']);
  });
});

describe('the sample profiles', () => {
  it('billing-auditor allows the four tools and asks approval for none (npm start never waits)', () => {
    const profile = getProfile('billing-auditor');
    expect(allowedTools(profile)).toHaveLength(4);
    expect(profile.tools.requiresApproval).toEqual([]);
  });

  it('billing-auditor-approval asks approval for the side-effecting report only', () => {
    const profile = getProfile('billing-auditor-approval');
    const waiting = allowedTools(profile).filter((t) => requiresApproval(profile, t.name));
    expect(waiting.map((t) => [t.name, t.sideEffect])).toEqual([['create_optimization_report', true]]);
  });
});

describe('parseProfile: tools', () => {
  it('refuses an allow-list naming a tool no action group defines', () => {
    const act = () => parseProfile(withTools({ allow: ['audit_billing_logs', 'drop_tables'] }), 'typo.json');
    expect(act).toThrow(ProfileError);
    expect(act).toThrow('tools.allow names "drop_tables", which no action group of the agent defines');
  });

  it('refuses an approval for a tool that is not allowed', () => {
    const act = () =>
      parseProfile(
        withTools({ allow: ['audit_billing_logs'], requiresApproval: ['create_optimization_report'] }),
        'odd.json',
      );
    expect(act).toThrow(
      'tools.requiresApproval names "create_optimization_report", which tools.allow does not allow',
    );
  });

  it('refuses a profile without an allow-list, and an empty one', () => {
    const { tools: _tools, ...without } = billingAuditor;
    expect(() => parseProfile(without, 'none.json')).toThrow(/tools/);
    expect(() => parseProfile(withTools({ allow: [] }), 'empty.json')).toThrow(/tools\.allow/);
  });

  it('refuses an approval timeout of zero or over a week', () => {
    const allow = ['audit_billing_logs'];
    expect(() => parseProfile(withTools({ allow, approvalTimeoutSeconds: 0 }), 'z.json')).toThrow(
      /approvalTimeoutSeconds/,
    );
    expect(() => parseProfile(withTools({ allow, approvalTimeoutSeconds: 604_801 }), 'w.json')).toThrow(
      /approvalTimeoutSeconds/,
    );
  });
});

describe('approvalTimeoutSeconds', () => {
  const profile = getProfile('billing-auditor-approval');

  it("is the profile's, or the default when it sets none", () => {
    expect(approvalTimeoutSeconds(profile, {})).toBe(3600);
    expect(approvalTimeoutSeconds(getProfile('billing-auditor'), {})).toBe(DEFAULT_APPROVAL_TIMEOUT_SECONDS);
  });

  it("is shortened by the goal's, never lengthened", () => {
    expect(approvalTimeoutSeconds(profile, { approvalTimeoutSeconds: 5 })).toBe(5);
    expect(approvalTimeoutSeconds(profile, { approvalTimeoutSeconds: 86_400 })).toBe(3600);
  });
});
