/** Step-kind detection over small conversations: plan, extract, summarize, verify and format, first rule wins. */
import { getProfile } from '../../shared/agent/profiles';
import { detectStepKind } from '../../shared/agent/step-kind';
import { offeredTools, toolsForAgent } from '../../shared/agent/tools';
import type { ToolCallItem } from '../../shared/store/session-store';
import { toolCallItem } from '../helpers/fixtures';

const profile = getProfile('billing-auditor');
/** The four billing tools; create_optimization_report is the one with `x-side-effect: true`. */
const TOOLS = offeredTools(toolsForAgent(profile.actionGroups));
const LIMIT = profile.routing.summarizeAboveChars;

const call = (turn: number, index: number, name: string, fields: Partial<ToolCallItem> = {}) =>
  toolCallItem({ turn, index, toolUseId: `tu-${turn}-${index}`, name, ...fields });

/** Turn 1 gathered with the three read-only tools, each answering a short result. */
const GATHERED = [
  call(1, 0, 'audit_billing_logs'),
  call(1, 1, 'list_underutilized_resources'),
  call(1, 2, 'get_contract_terms'),
];

const kindOf = (turn: number, toolCalls: ToolCallItem[]) =>
  detectStepKind({ turn, toolCalls, tools: TOOLS, summarizeAboveChars: LIMIT });

describe('detectStepKind', () => {
  it('knows which billing tool has a side effect (from the OpenAPI x-side-effect)', () => {
    // Assess
    expect(TOOLS.filter((t) => t.sideEffect).map((t) => t.name)).toEqual(['create_optimization_report']);
  });

  it.each([
    { name: 'the first turn plans', turn: 1, calls: [], kind: 'plan', reason: /^first turn$/ },
    {
      name: 'short results with tools still to run: extract the next calls',
      turn: 2,
      calls: GATHERED,
      kind: 'extract',
      reason: /^create_optimization_report not done yet$/,
    },
    {
      name: 'a failed side-effecting call is no reason to verify: extract',
      turn: 3,
      calls: [...GATHERED, call(2, 0, 'create_optimization_report', { status: 'failed', result: 'boom' })],
      kind: 'extract',
      reason: /create_optimization_report not done/,
    },
    {
      name: 'long results from the previous turn: summarize',
      turn: 2,
      calls: [
        call(1, 0, 'audit_billing_logs', { result: 'x'.repeat(LIMIT - 10) }),
        call(1, 1, 'get_contract_terms'),
      ],
      kind: 'summarize',
      reason: new RegExp(`^turn 1 tool results ${LIMIT - 10 + 11} characters > ${LIMIT}$`),
    },
    {
      name: 'results exactly at the threshold are not long',
      turn: 2,
      calls: [call(1, 0, 'audit_billing_logs', { result: 'x'.repeat(LIMIT) })],
      kind: 'extract',
      reason: /not done yet$/,
    },
    {
      name: 'long results of an older turn do not count',
      turn: 3,
      calls: [
        call(1, 0, 'audit_billing_logs', { result: 'x'.repeat(LIMIT * 2) }),
        call(2, 0, 'get_contract_terms'),
      ],
      kind: 'extract',
      reason: /not done yet$/,
    },
    {
      name: 'a side-effecting call succeeded: verify',
      turn: 3,
      calls: [...GATHERED, call(2, 0, 'create_optimization_report')],
      kind: 'verify',
      reason: /^create_optimization_report succeeded, a side effect$/,
    },
    {
      name: 'verify beats summarize (a long report result)',
      turn: 3,
      calls: [...GATHERED, call(2, 0, 'create_optimization_report', { result: 'x'.repeat(LIMIT * 2) })],
      kind: 'verify',
      reason: /a side effect$/,
    },
    {
      name: 'the last turn the limit allows is not a verification: extract',
      turn: 8,
      calls: GATHERED,
      kind: 'extract',
      reason: /not done yet$/,
    },
    {
      name: 'every tool done, the side effect earlier: format',
      turn: 4,
      calls: [
        ...GATHERED.map((c) => ({ ...c, turn: 2 })),
        call(1, 0, 'create_optimization_report'),
        call(3, 0, 'get_contract_terms'),
      ],
      kind: 'format',
      reason: /^every tool has succeeded$/,
    },
  ])('$name', ({ turn, calls, kind, reason }) => {
    // Act
    const step = kindOf(turn, calls);

    // Assess
    expect(step.kind).toBe(kind);
    expect(step.reason).toMatch(reason);
  });
});
