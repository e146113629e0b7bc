import type { ConverseMessage, ConverseRequestBody } from '../../local/bedrock/converse-request';
import {
  isSynthesisTool,
  numberFromGoal,
  planFixtureAnswer,
  readGoal,
  resultLine,
  selectRelevantTools,
  stem,
} from '../../local/bedrock/fixture-model';
import type { JsonObject } from '../../local/bedrock/json';

const auditTool = {
  toolSpec: {
    name: 'audit_billing_logs',
    description: 'Audits the billing logs of a tenant and reports cost anomalies.',
    inputSchema: {
      json: {
        type: 'object',
        properties: {
          tenant_id: { type: 'string' },
          lookback_days: { type: 'integer', minimum: 1, maximum: 365, default: 30 },
        },
        required: ['tenant_id', 'lookback_days'],
      },
    },
  },
};
const usageTool = {
  toolSpec: {
    name: 'get_service_usage',
    description: 'Returns usage per service, to find where the billing spend goes.',
    inputSchema: {
      json: {
        type: 'object',
        properties: {
          tenant_id: { type: 'string' },
          granularity: { type: 'string', enum: ['DAILY', 'MONTHLY'] },
          top_services: { type: 'integer', minimum: 1, maximum: 20 },
        },
        required: ['tenant_id', 'granularity'],
      },
    },
  },
};
const reportTool = {
  toolSpec: {
    name: 'create_optimization_report',
    description: 'Creates an optimization report from findings.',
    inputSchema: {
      json: {
        type: 'object',
        properties: {
          tenant_id: { type: 'string' },
          title: { type: 'string', maxLength: 120 },
          findings: { type: 'array', items: { type: 'string' } },
        },
        required: ['tenant_id', 'title', 'findings'],
      },
    },
  },
};
const weatherTool = {
  toolSpec: {
    name: 'get_weather',
    description: 'Current weather forecast for a city.',
    inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
};

const GOAL = 'Tenant: acme\nAudit our billing for the last 90 days and write an optimization report.';

const request = (
  messages: ConverseMessage[],
  tools: NonNullable<ConverseRequestBody['toolConfig']>['tools'] = [
    auditTool,
    usageTool,
    reportTool,
    weatherTool,
  ],
): ConverseRequestBody => ({
  system: [{ text: 'You are the FinOps agent.' }],
  messages,
  toolConfig: { tools },
});

const goalMessage: ConverseMessage = { role: 'user', content: [{ text: GOAL }] };

/** Appends the model's answer and a result for each of its tool calls, as the Plan/RunTools loop does. */
const answerTools = (
  messages: ConverseMessage[],
  answer: ReturnType<typeof planFixtureAnswer>,
  result: (name: string, index: number) => { json?: JsonObject; text?: string; status?: 'success' | 'error' },
): ConverseMessage[] => {
  const uses = answer.content.flatMap((b, i) =>
    'toolUse' in b ? [{ ...b.toolUse, toolUseId: `tooluse_t${messages.length}_${i}` }] : [],
  );
  return [
    ...messages,
    { role: 'assistant', content: uses.map((u) => ({ toolUse: u })) },
    {
      role: 'user',
      content: uses.map((u, i) => {
        const r = result(u.name, i);
        return {
          toolResult: {
            toolUseId: u.toolUseId,
            content: [r.json !== undefined ? { json: r.json } : { text: r.text ?? '' }],
            ...(r.status ? { status: r.status } : {}),
          },
        };
      }),
    },
  ];
};

describe('stem', () => {
  it('maps word forms of one idea to one stem', () => {
    expect(stem('billing')).toBe(stem('bills'));
    expect(stem('billed')).toBe(stem('bill'));
    expect(stem('optimization')).toBe(stem('optimize'));
    expect(stem('optimizing')).toBe(stem('optimized'));
    expect(stem('reports')).toBe('report');
    expect(stem('anomalies')).toBe(stem('anomaly'));
  });
});

describe('readGoal', () => {
  it('takes the tenant from the Tenant line and keeps the rest as the goal', () => {
    const goal = readGoal(request([goalMessage]));
    expect(goal.tenantId).toBe('acme');
    expect(goal.text).toBe('Audit our billing for the last 90 days and write an optimization report.');
    expect(goal.short).toBe('Audit our billing for the last 90 days and write an optimization report');
  });

  it('falls back to requestMetadata.tenantId when the goal has no Tenant line', () => {
    const goal = readGoal({
      ...request([{ role: 'user', content: [{ text: 'Cut costs.' }] }]),
      requestMetadata: { tenantId: 'globex' },
    });
    expect(goal.tenantId).toBe('globex');
  });

  it('shortens a long goal at a word boundary', () => {
    const long = `Tenant: acme\n${'Review every storage bucket and tell me which ones are unused '.repeat(3)}`;
    const goal = readGoal(request([{ role: 'user', content: [{ text: long }] }]));
    expect(goal.short.length).toBeLessThanOrEqual(80);
    expect(goal.short.endsWith('...')).toBe(true);
    expect(goal.short).not.toMatch(/\s\.\.\.$/);
  });
});

describe('tool selection', () => {
  it('keeps tools that share a keyword with the goal', () => {
    const names = selectRelevantTools('Audit our billing and write an optimization report', [
      auditTool.toolSpec,
      usageTool.toolSpec,
      reportTool.toolSpec,
      weatherTool.toolSpec,
    ]).map((t) => t.name);
    expect(names).toEqual(['audit_billing_logs', 'get_service_usage', 'create_optimization_report']);
  });

  it('uses every tool when no tool shares a keyword with the goal', () => {
    const tools = [auditTool.toolSpec, weatherTool.toolSpec];
    expect(selectRelevantTools('Do something useful', tools)).toEqual(tools);
  });

  it('calls a tool synthesis when it needs an array of strings', () => {
    expect(isSynthesisTool(reportTool.toolSpec)).toBe(true);
    expect(isSynthesisTool(auditTool.toolSpec)).toBe(false);
  });

  it('reads a number written next to a word of the parameter name', () => {
    expect(numberFromGoal('lookback_days', 'the last 90 days')).toBe(90);
    expect(numberFromGoal('top_services', 'show the top 5 services')).toBe(5);
    expect(numberFromGoal('lookback_days', 'keep 3 reports')).toBeUndefined();
    expect(numberFromGoal('budget_usd', 'a budget of 1,500 usd')).toBe(1500);
  });
});

describe('planFixtureAnswer', () => {
  it('first calls every relevant gather tool at once, with inputs filled from the goal and schema', () => {
    const answer = planFixtureAnswer(request([goalMessage]));
    expect(answer.stopReason).toBe('tool_use');
    expect(answer.content).toEqual([
      { toolUse: { name: 'audit_billing_logs', input: { tenant_id: 'acme', lookback_days: 90 } } },
      { toolUse: { name: 'get_service_usage', input: { tenant_id: 'acme', granularity: 'DAILY' } } },
    ]);
  });

  it('uses default, then minimum, then 30 for a number the goal does not give', () => {
    const numberTool = (schema: JsonObject) => ({
      toolSpec: {
        name: 'audit_billing_logs',
        description: 'audit billing',
        inputSchema: { json: { type: 'object', properties: { window: schema }, required: ['window'] } },
      },
    });
    const inputOf = (schema: JsonObject) => {
      const [block] = planFixtureAnswer(request([goalMessage], [numberTool(schema)])).content;
      return block && 'toolUse' in block ? block.toolUse.input.window : undefined;
    };
    expect(inputOf({ type: 'integer', default: 14, minimum: 7 })).toBe(14);
    expect(inputOf({ type: 'integer', minimum: 7 })).toBe(7);
    expect(inputOf({ type: 'number' })).toBe(30);
    expect(inputOf({ type: 'integer', maximum: 10 })).toBe(10);
  });

  it('then calls the synthesis tool with one finding per gather result', () => {
    const first = planFixtureAnswer(request([goalMessage]));
    const messages = answerTools([goalMessage], first, (name) =>
      name === 'audit_billing_logs'
        ? { json: { summary: 'EC2 spend rose 40% in March', anomalies: 3 } }
        : { text: `{"services":[${'"ec2",'.repeat(60)}"s3"]}` },
    );
    const second = planFixtureAnswer(request(messages));
    expect(second.stopReason).toBe('tool_use');
    expect(second.content).toHaveLength(1);
    const [block] = second.content;
    if (!block || !('toolUse' in block)) throw new Error('expected a toolUse block');
    expect(block.toolUse.name).toBe('create_optimization_report');
    expect(block.toolUse.input.tenant_id).toBe('acme');
    expect(block.toolUse.input.title).toBe(
      'Optimization report: Audit our billing for the last 90 days and write an optimization report',
    );
    const findings = block.toolUse.input.findings as string[];
    expect(findings[0]).toBe('EC2 spend rose 40% in March');
    expect(findings[1]?.startsWith('{"services":["ec2"')).toBe(true);
    expect(findings[1]?.length).toBeLessThanOrEqual(160);
  });

  it('finally answers with a summary of the results and ends the turn', () => {
    let messages = answerTools([goalMessage], planFixtureAnswer(request([goalMessage])), (name) => ({
      json: { summary: `${name} done` },
    }));
    messages = answerTools(messages, planFixtureAnswer(request(messages)), () => ({
      json: { summary: 'report r-1 stored' },
    }));
    const final = planFixtureAnswer(request(messages));
    expect(final.stopReason).toBe('end_turn');
    expect(final.content).toHaveLength(1);
    const [block] = final.content;
    if (!block || !('text' in block)) throw new Error('expected a text block');
    expect(block.text).toContain('(tenant acme)');
    expect(block.text).toContain('- audit_billing_logs: audit_billing_logs done');
    expect(block.text).toContain('- create_optimization_report: report r-1 stored');
    expect(block.text).not.toContain('Failed');
  });

  it('does not call a failed tool again with the same input and reports the failure', () => {
    let messages = answerTools([goalMessage], planFixtureAnswer(request([goalMessage])), (name) =>
      name === 'get_service_usage'
        ? { text: 'Cost Explorer throttled the request', status: 'error' }
        : { json: { summary: 'EC2 spend rose 40%' } },
    );
    const second = planFixtureAnswer(request(messages));
    const names = second.content.flatMap((b) => ('toolUse' in b ? [b.toolUse.name] : []));
    expect(names).toEqual(['create_optimization_report']);
    const [block] = second.content;
    expect(block && 'toolUse' in block ? block.toolUse.input.findings : undefined).toEqual([
      'EC2 spend rose 40%',
    ]);

    messages = answerTools(messages, second, () => ({ json: { summary: 'report stored' } }));
    const final = planFixtureAnswer(request(messages));
    const [text] = final.content;
    expect(final.stopReason).toBe('end_turn');
    expect(text && 'text' in text ? text.text : '').toMatch(
      /Failed tool calls[^\n]*\n- get_service_usage: Cost Explorer throttled/,
    );
  });

  it('gives the same answer to the same request', () => {
    const messages = answerTools([goalMessage], planFixtureAnswer(request([goalMessage])), () => ({
      json: { ok: true },
    }));
    expect(planFixtureAnswer(request(messages))).toEqual(
      planFixtureAnswer(structuredClone(request(messages))),
    );
  });

  it('answers with text at once when the request has no tools', () => {
    const answer = planFixtureAnswer({ messages: [goalMessage] });
    expect(answer.stopReason).toBe('end_turn');
    expect(answer.content[0]).toEqual({
      text: expect.stringContaining('No tool call was needed or available'),
    });
  });

  it('obeys a forced toolChoice', () => {
    const forced: ConverseRequestBody = {
      messages: [goalMessage],
      toolConfig: {
        tools: [auditTool, reportTool],
        toolChoice: { tool: { name: 'create_optimization_report' } },
      },
    };
    const answer = planFixtureAnswer(forced);
    expect(answer.content.map((b) => ('toolUse' in b ? b.toolUse.name : 'text'))).toEqual([
      'create_optimization_report',
    ]);
  });
});

describe('resultLine', () => {
  it('prefers a string summary, in json or in JSON text', () => {
    expect(resultLine([{ json: { summary: 'three anomalies' } }]).line).toBe('three anomalies');
    expect(resultLine([{ text: '{"summary":"from text"}' }]).line).toBe('from text');
  });

  it('else keeps the first 160 characters on one line', () => {
    const line = resultLine([{ text: `first line\n${'x'.repeat(300)}` }]).line;
    expect(line.startsWith('first line x')).toBe(true);
    expect(line.length).toBe(160);
  });
});
