/** Tenant policies: validation, intake's rules (policy, pause, agents, context size, budgets), limits resolution. */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { join } from 'node:path';
import acmeGoal from '../../events/goal-billing-audit.json';
import resumeRequest from '../../events/resume-request.json';
import { policyInputOf } from '../../local/cli/tenants';
import { readTenantsFile } from '../../local/stack/tenants';
import { GOAL_REJECTED } from '../../shared/contracts/lifecycle-events';
import * as securityEvents from '../../shared/observability/security-events';
import { intakeConfig } from '../../shared/runtime/config';
import { ConfigError } from '../../shared/runtime/errors';
import { acceptEvent, type IntakeDeps, policyRefusals, resolveLimits } from '../../shared/steps/intake';
import type { TenantPolicyItem } from '../../shared/store/table';
import { parsePolicyInput, tenantPolicyInputSchema } from '../../shared/store/tenant-store';
import { credentials, mockedPublisher, mockedStore, REGION } from '../helpers/aws';
import { fakeTenantPolicies, intakeRules, sessionItem, tenantPolicy } from '../helpers/fixtures';

const setup = (policies: Record<string, TenantPolicyItem> | undefined, rules = intakeRules()) => {
  const { ddb, store } = mockedStore();
  const { eventBridge, publisher } = mockedPublisher();
  const sfnClient = new SFNClient({ region: REGION, credentials });
  const sfn = mockClient(sfnClient);
  ddb.on(TransactWriteCommand).resolves({});
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'published-1' }] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec', startDate: new Date() });
  const deps: IntakeDeps = {
    store,
    sfn: sfnClient,
    stateMachineArn: 'arn:sm',
    events: publisher,
    tenants: fakeTenantPolicies(policies),
    rules,
  };
  return { ddb, sfn, eventBridge, deps };
};

const published = (eventBridge: ReturnType<typeof setup>['eventBridge']) =>
  eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);

const goal = (detail: Record<string, unknown> = {}) => ({
  ...acmeGoal,
  detail: { ...acmeGoal.detail, ...detail },
});

describe('intake: tenant policy', () => {
  it('rejects a goal of a tenant with no policy, saying how to set one, and stores nothing', async () => {
    // Prepare
    const { ddb, sfn, eventBridge, deps } = setup({});

    // Act
    const outcome = await acceptEvent(deps, acmeGoal);

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringContaining('tenant acme has no policy'),
    });
    expect(outcome.outcome === 'rejected' && outcome.reason).toContain(
      'sovereign-agent tenant set acme --daily-cap-usd',
    );
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    expect(sfn).not.toHaveReceivedAnyCommand();
    expect(published(eventBridge)).toEqual([expect.objectContaining({ DetailType: GOAL_REJECTED })]);
  });

  it("accepts that tenant's goal under the stage's default policy, taking its daily cap", async () => {
    // Prepare
    const { ddb, deps } = setup(
      {},
      intakeRules({ defaultTenantPolicy: { dailyCapUsd: 7, sessionUsdBudget: 2 } }),
    );

    // Act
    const outcome = await acceptEvent(deps, goal({ constraints: undefined }));

    // Assess
    expect(outcome).toMatchObject({ outcome: 'started' });
    const session = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put?.Item;
    expect(session?.limits).toMatchObject({ usdBudget: 2, tenantDailyCapUsd: 7 });
  });

  it("rejects a paused tenant's goal with the pause's reason", async () => {
    const paused = tenantPolicy('acme', {
      paused: true,
      pausedReason: 'daily cap of $50.00 reached on 2026-11-27',
    });
    const { sfn, deps } = setup({ acme: paused });

    const outcome = await acceptEvent(deps, acmeGoal);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'tenant acme is paused: daily cap of $50.00 reached on 2026-11-27',
    });
    expect(sfn).not.toHaveReceivedAnyCommand();
  });

  it('rejects an agent the tenant does not allow, naming the allowed ones', async () => {
    const { deps } = setup({ acme: tenantPolicy('acme', { allowedAgents: ['report-writer'] }) });

    const outcome = await acceptEvent(deps, acmeGoal);

    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: 'agent "billing-auditor" is not allowed for tenant acme (allowed: report-writer)',
    });
  });

  it('rejects a context over MAX_CONTEXT_BYTES with its size and the limit, before reading the policy', async () => {
    // Prepare: the defect found: a 200 KB context resent with every turn.
    const { ddb, deps } = setup({ acme: tenantPolicy('acme') });
    const context = { rows: 'x'.repeat(200 * 1024) };

    // Act
    const outcome = await acceptEvent(deps, goal({ context }));

    // Assess
    const size = Buffer.byteLength(JSON.stringify(context));
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringContaining(`context is ${size} bytes, over the limit of 32768 bytes`),
      issues: [`context: ${size} bytes > 32768`],
    });
    expect(ddb).not.toHaveReceivedAnyCommand();
  });

  it('rejects an event over MAX_EVENT_BYTES with its size and the limit, before parsing it or reading anything', async () => {
    // Prepare
    const { ddb, eventBridge, deps } = setup(
      { acme: tenantPolicy('acme') },
      intakeRules({ maxEventBytes: 2048 }),
    );
    const event = goal({ context: { notes: 'z'.repeat(3000) } });
    const events = jest.spyOn(securityEvents, 'logSecurityEvent').mockImplementation(() => undefined);

    // Act
    const outcome = await acceptEvent(deps, event);

    // Assess
    const size = Buffer.byteLength(JSON.stringify(event));
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringContaining(`event is ${size} bytes, over the limit of 2048 bytes`),
      issues: [`event: ${size} bytes > 2048`],
      tenantId: 'acme',
    });
    expect(ddb).not.toHaveReceivedAnyCommand();
    expect(published(eventBridge)[0]?.DetailType).toBe(GOAL_REJECTED);
    expect(events).toHaveBeenCalledWith('input_limit', {
      limit: 'maxEventBytes',
      tenantId: 'acme',
      size,
      max: 2048,
    });
    events.mockRestore();
  });

  it('rejects a goal over MAX_GOAL_CHARS with its length and the limit, and accepts one of exactly the limit', async () => {
    // Prepare
    const { ddb, deps } = setup({ acme: tenantPolicy('acme') }, intakeRules({ maxGoalChars: 100 }));

    // Act
    const over = await acceptEvent(deps, goal({ goal: 'a'.repeat(101) }));
    const exact = await acceptEvent(deps, goal({ goal: 'b'.repeat(100), goalId: 'goal-exact' }));

    // Assess
    expect(over).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringContaining('goal is 101 characters, over the limit of 100'),
      issues: ['goal: 101 characters > 100'],
    });
    expect(exact).toMatchObject({ outcome: 'started' });
    expect(ddb).toHaveReceivedCommand(TransactWriteCommand);
  });

  it('accepts a context of exactly the limit', async () => {
    const context = { rows: '' };
    const limit = Buffer.byteLength(JSON.stringify(context)) + 10;
    context.rows = 'y'.repeat(10);
    const { deps } = setup(undefined, intakeRules({ maxContextBytes: limit }));

    expect(await acceptEvent(deps, goal({ context }))).toMatchObject({ outcome: 'started' });
  });

  it('rejects constraints that raise the policy session budgets, and lets them lower it', async () => {
    const policy = tenantPolicy('acme', { sessionUsdBudget: 0.25, sessionTokenBudget: 50_000 });
    const detail = { ...acmeGoal.detail, constraints: { usdBudget: 0.5, tokenBudget: 120_000 } };

    expect(policyRefusals(detail, policy)).toEqual([
      "constraints.usdBudget 0.5 is above tenant acme's session budget of $0.25",
      "constraints.tokenBudget 120000 is above tenant acme's session budget of 50000 tokens",
    ]);
    expect(
      policyRefusals({ ...detail, constraints: { usdBudget: 0.1, tokenBudget: 10_000 } }, policy),
    ).toEqual([]);
  });
});

describe('intake: resume of a paused tenant', () => {
  it('refuses to resume a session while its tenant is paused, with the reason, and starts nothing', async () => {
    // Prepare
    const paused = tenantPolicy('acme', { paused: true, pausedReason: 'invoice dispute' });
    const { ddb, sfn, deps } = setup({ acme: paused });
    ddb.on(GetCommand).resolves({
      Item: sessionItem({
        sessionId: resumeRequest.detail.sessionId,
        status: 'paused',
        stopReason: 'tenant_paused',
      }),
    });

    // Act
    const outcome = await acceptEvent(deps, resumeRequest);

    // Assess
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reason: `Cannot resume session ${resumeRequest.detail.sessionId}: tenant acme is paused (invoice dispute): resume the tenant first`,
    });
    expect(ddb).not.toHaveReceivedCommand(UpdateCommand);
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('resolveLimits: event, then policy, then agent profile', () => {
  const base = { tenantId: 'acme', agent: 'billing-auditor', goal: 'Audit.' };

  it('takes the policy session budgets, data class and daily cap when the goal sets none', () => {
    const policy = tenantPolicy('acme', {
      sessionUsdBudget: 0.3,
      sessionTokenBudget: 90_000,
      defaultDataClassification: 'restricted',
      dailyCapUsd: 12,
    });
    expect(resolveLimits(base, policy)).toEqual({
      maxTurns: 8,
      tokenBudget: 90_000,
      usdBudget: 0.3,
      latencyToleranceMs: 30000,
      dataClassification: 'restricted',
      tenantDailyCapUsd: 12,
    });
  });

  it("prefers the goal's own (lower) constraints, and falls back to the profile where the policy says nothing", () => {
    const limits = resolveLimits(
      { ...base, constraints: { usdBudget: 0.1, dataClassification: 'public' } },
      tenantPolicy('acme', { sessionUsdBudget: 0.3 }),
    );
    expect(limits).toMatchObject({ usdBudget: 0.1, tokenBudget: 200000, dataClassification: 'public' });
  });
});

describe('policy validation at the edges', () => {
  it('refuses unknown fields and out-of-range values, naming each', () => {
    expect(() =>
      parsePolicyInput(
        tenantPolicyInputSchema,
        { dailyCapUsd: -1, dailyCap: 3, allowedAgents: [] },
        'tenant policy',
      ),
    ).toThrow(
      /Invalid tenant policy: .*dailyCapUsd.*allowedAgents|Invalid tenant policy: .*allowedAgents.*dailyCapUsd/,
    );
  });

  it('reads `tenant set` flags into a partial policy update', () => {
    expect(
      policyInputOf({
        'daily-cap-usd': '20',
        'data-class': 'restricted',
        agents: 'billing-auditor, report-writer',
      }),
    ).toEqual({
      dailyCapUsd: 20,
      defaultDataClassification: 'restricted',
      allowedAgents: ['billing-auditor', 'report-writer'],
    });
    expect(() => policyInputOf({ 'daily-cap-usd': 'lots' })).toThrow(
      '--daily-cap-usd takes a number, got "lots"',
    );
    expect(() => policyInputOf({ 'data-class': 'secret' })).toThrow(/defaultDataClassification/);
    expect(() => policyInputOf({})).toThrow(/needs at least one of/);
  });

  it('fails the cold start on a DEFAULT_TENANT_POLICY that is not JSON or not a complete policy', () => {
    expect(() => intakeConfig({ DEFAULT_TENANT_POLICY: '{nope' })).toThrow(ConfigError);
    expect(() => intakeConfig({ DEFAULT_TENANT_POLICY: '{"sessionUsdBudget":1}' })).toThrow(
      /DEFAULT_TENANT_POLICY is not a tenant policy: dailyCapUsd/,
    );
    expect(intakeConfig({})).toEqual({ maxContextBytes: 32768, maxEventBytes: 98304, maxGoalChars: 8000 });
    expect(intakeConfig({ DEFAULT_TENANT_POLICY: '{"dailyCapUsd":5}', MAX_CONTEXT_BYTES: '1024' })).toEqual({
      maxContextBytes: 1024,
      maxEventBytes: 98304,
      maxGoalChars: 8000,
      defaultTenantPolicy: { dailyCapUsd: 5 },
    });
  });

  it('has a valid sample tenants file with every tenant the sample events use', () => {
    const tenants = readTenantsFile(join(__dirname, '..', '..'));
    expect(Object.keys(tenants).sort()).toEqual(['acme', 'globex', 'initech']);
  });
});
