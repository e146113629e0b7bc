/**
 * The real Powertools Logger and Metrics of shared/runtime/powertools.ts, their output captured from stdout and
 * stderr (no mocks): the serialised key order of a trace record, what the seed's Logs Insights globs extract, error
 * lines, prompts at DEBUG only with redaction, and the EMF metrics' names, units and dimensions.
 */
import { ModelThrottledError } from '../../shared/runtime/errors';
import { fakeContext, SESSION, TENANT, TIERS } from '../helpers/fixtures';

type Logs = typeof import('../../shared/observability/logs');
type Metrics = typeof import('../../shared/observability/metrics');
type Powertools = typeof import('../../shared/runtime/powertools');
type ErrorKinds = typeof import('../../shared/observability/error-kind');
type Records = typeof import('../../shared/observability/trace-records');

const saved = { ...process.env };

/** Fresh module instances under this environment (the Logger and Metrics read it when constructed). */
const load = (env: Record<string, string | undefined>) => {
  process.env = {
    ...saved,
    POWERTOOLS_SERVICE_NAME: 'sovereign-agent',
    POWERTOOLS_METRICS_NAMESPACE: 'Test',
  };
  delete process.env.POWERTOOLS_METRICS_DISABLED;
  delete process.env.POWERTOOLS_DEV;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  let mods!: { logs: Logs; metrics: Metrics; powertools: Powertools; errors: ErrorKinds; records: Records };
  jest.isolateModules(() => {
    mods = {
      logs: require('../../shared/observability/logs'),
      metrics: require('../../shared/observability/metrics'),
      powertools: require('../../shared/runtime/powertools'),
      errors: require('../../shared/observability/error-kind'),
      records: require('../../shared/observability/trace-records'),
    };
  });
  return mods;
};

/** Every line written to stdout and stderr while `act` runs. */
const capture = (act: () => void): string[] => {
  const lines: string[] = [];
  const grab = (chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(grab);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(grab);
  try {
    act();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines;
};

/** A Logs Insights `parse` glob: each `*` matches lazily, a trailing `*` to the end of the message. */
const parseGlob = (line: string, glob: string): string | undefined => {
  const [before = '', after = ''] = glob.split('*');
  const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = after === '' ? `${literal(before)}(.*)$` : `${literal(before)}(.*?)${literal(after)}`;
  return new RegExp(pattern).exec(line)?.[1];
};

const usage = { input: 1200, output: 80, cacheRead: 900, cacheWrite: 300 };

afterEach(() => {
  process.env = { ...saved };
});

describe('a trace record as the Logger writes it', () => {
  it('ends with latencyMs, after the Lambda context, the X-Ray trace id and the persistent keys', () => {
    // Prepare
    const { logs, powertools, records } = load({
      POWERTOOLS_LOG_LEVEL: 'INFO',
      _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    });
    powertools.logger.addContext(fakeContext());
    powertools.logger.appendKeys({ sessionId: SESSION, tenantId: TENANT, turn: 1 });
    const toolCall = records.toolCallOf({
      turn: 1,
      toolUseId: 'tu-1',
      name: 'audit_billing_logs',
      actionGroup: 'billing',
      status: 'succeeded',
      invocations: 1,
      attempts: 1,
      latencyMs: 1734,
    });

    // Act
    const [line = ''] = capture(() => logs.logToolCall({ sessionId: SESSION, tenantId: TENANT }, toolCall));

    // Assess
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed).at(-1)).toBe('latencyMs');
    expect(parsed).toMatchObject({
      xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793',
      sessionId: SESSION,
    });
    // The seed query's globs, as written in issue 9.
    expect(parseGlob(line, '"latencyMs":*')).toBe('1734}');
    expect(parseGlob(line, '"sessionId":"*"')).toBe(SESSION);
    expect(parseGlob(line, '"actionGroup":"*"')).toBe('billing');
    expect(parseGlob(line, '"function":"*"')).toBe('audit_billing_logs');
    expect(line).toMatch(/"trace":/);
  });

  it('ends a model call with latencyMs too', () => {
    // Prepare
    const { logs, powertools, records } = load({ POWERTOOLS_LOG_LEVEL: 'INFO' });
    powertools.logger.appendKeys({ sessionId: SESSION, tenantId: TENANT, turn: 3 });
    const call = records.modelCallOf({
      turn: 3,
      modelId: TIERS.planner,
      tier: 'planner',
      usage,
      latencyMs: 95,
    });

    // Act
    const lines = capture(() => logs.logModelCall({ sessionId: SESSION, tenantId: TENANT }, call));

    // Assess
    const [line = ''] = lines.filter((l) => l.includes('"Model call"'));
    expect(parseGlob(line, '"latencyMs":*')).toBe('95}');
    expect(JSON.parse(line).trace).toMatchObject({ kind: 'model', inputTokens: 1200, outcome: 'ok' });
  });
});

describe('an error line', () => {
  it('carries exception (name, message, stack) as Powertools formats an Error, and a low-cardinality errorKind', () => {
    // Prepare
    const { powertools, errors } = load({ POWERTOOLS_LOG_LEVEL: 'INFO' });
    const error = new ModelThrottledError('Converse throttled past the retries');

    // Act
    const [line = ''] = capture(() =>
      powertools.logger.error('Handler failed', errors.exceptionFields(error)),
    );

    // Assess
    const parsed = JSON.parse(line);
    expect(parsed.errorKind).toBe('throttled');
    expect(parsed.exception).toMatchObject({
      name: 'ModelThrottledError',
      message: 'Converse throttled past the retries',
      stack: expect.stringContaining('ModelThrottledError: Converse throttled past the retries'),
    });
    expect(line).toMatch(/"exception":/);
  });

  it('kinds an unknown error as internal, an Object prototype name included', () => {
    const { errors } = load({});
    expect(errors.errorKindOf(new TypeError('x'))).toBe('internal');
    expect(errors.errorKindOf('not an error')).toBe('internal');
    expect(errors.errorKindOfName('constructor')).toBe('internal');
    expect(errors.errorKindOfName('ThrottlingException')).toBe('throttled');
  });

  it("carries a failed goal's step error (type and message) as exception, kinded by the type", () => {
    // Prepare
    const { powertools, errors } = load({ POWERTOOLS_LOG_LEVEL: 'INFO' });

    // Act
    const [line = ''] = capture(() =>
      powertools.logger.error(
        'Goal failed',
        errors.stepFailureFields('ToolTimeoutError', 'no answer in 3000 ms'),
      ),
    );

    // Assess
    expect(JSON.parse(line)).toMatchObject({
      errorKind: 'timeout',
      exception: { name: 'ToolTimeoutError', message: 'no answer in 3000 ms', stack: null },
    });
  });
});

describe('prompts and completions', () => {
  const request = {
    system: [{ text: 'You audit bills.' }],
    messages: [
      {
        role: 'user' as const,
        content: [{ text: 'Mail jane.doe@example.com, card 4111 1111 1111 1111, at 1764662400000' }],
      },
    ],
  };
  const answer = [
    { toolUse: { toolUseId: 't', name: 'x', input: { password: 'hunter2', account_number: 42 } } },
  ];

  it('are not logged at INFO, nor at DEBUG without LOG_PROMPTS', () => {
    const info = load({ POWERTOOLS_LOG_LEVEL: 'INFO' });
    expect(
      capture(() => info.logs.logPromptExchange(true, { turn: 1, modelId: 'm' }, request, answer)),
    ).toEqual([]);
    const debug = load({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });
    expect(
      capture(() => debug.logs.logPromptExchange(false, { turn: 1, modelId: 'm' }, request, answer)),
    ).toEqual([]);
  });

  it('are logged at DEBUG with LOG_PROMPTS, secret keys, emails and card numbers redacted', () => {
    // Prepare
    const { logs } = load({ POWERTOOLS_LOG_LEVEL: 'DEBUG' });

    // Act
    const lines = capture(() => logs.logPromptExchange(true, { turn: 1, modelId: 'm' }, request, answer));

    // Assess
    expect(lines).toHaveLength(2);
    const text = lines.join('\n');
    expect(text).toContain('You audit bills.');
    expect(text).toContain('Mail [EMAIL], card [CARD], at 1764662400000');
    expect(text).not.toMatch(/jane\.doe|4111|hunter2/);
    expect(JSON.parse(lines[1] ?? '').content[0].toolUse.input).toEqual({
      password: '[REDACTED]',
      account_number: '[REDACTED]',
    });
  });

  it('leave identifiers alone: a UUID session id with a Luhn-valid digit run stays whole', () => {
    // Prepare: 41111111-1111-1111 is a valid card number across the dashes
    const { powertools } = load({ POWERTOOLS_LOG_LEVEL: 'INFO' });
    const sessionId = '41111111-1111-1111-abcd-0123456789ab';

    // Act
    const [line = ''] = capture(() =>
      powertools.logger.info('x', { sessionId, note: `session ${sessionId}` }),
    );

    // Assess
    expect(JSON.parse(line)).toMatchObject({ sessionId, note: 'session [CARD]-abcd-0123456789ab' });
  });

  it('redact the keys REDACT_KEYS names instead of the defaults', () => {
    const { powertools } = load({ POWERTOOLS_LOG_LEVEL: 'INFO', REDACT_KEYS: 'iban' });
    const [line = ''] = capture(() => powertools.logger.info('x', { iban: 'DE89', password: 'kept' }));
    expect(JSON.parse(line)).toMatchObject({ iban: '[REDACTED]', password: 'kept' });
  });
});

/** The EMF documents written to stdout, each with its metric names, units and dimension keys. */
const emfOf = (lines: string[]) =>
  lines
    .map((l) => JSON.parse(l))
    .filter((d) => d._aws)
    .map((d) => {
      const directive = d._aws.CloudWatchMetrics[0];
      return {
        doc: d,
        metrics: directive.Metrics as { Name: string; Unit: string }[],
        sets: directive.Dimensions as string[][],
        dimensions: (directive.Dimensions as string[][]).flat(),
      };
    });

describe('EMF metrics', () => {
  const lowCardinality = new Set(['service', 'tier', 'actionGroup', 'function', 'kind', 'stopReason']);

  it('publish tokens and cost by tier, tool latency and errors by action group and function', () => {
    // Prepare
    const { logs, powertools, records } = load({ POWERTOOLS_LOG_LEVEL: 'SILENT' });
    const session = { sessionId: SESSION, tenantId: TENANT };

    // Act
    const lines = capture(() => {
      logs.logModelCall(
        session,
        records.modelCallOf({ turn: 1, modelId: TIERS.planner, tier: 'planner', usage, costMicros: 7000 }),
      );
      powertools.metrics.publishStoredMetrics();
      logs.logToolCall(
        session,
        records.toolCallOf({
          turn: 1,
          toolUseId: 't',
          name: 'audit_billing_logs',
          actionGroup: 'billing',
          status: 'failed',
          latencyMs: 250,
        }),
      );
      powertools.metrics.publishStoredMetrics();
    });

    // Assess
    const [model, tool] = emfOf(lines);
    expect(model?.metrics).toEqual([
      { Name: 'ModelCalls', Unit: 'Count' },
      { Name: 'InputTokens', Unit: 'Count' },
      { Name: 'OutputTokens', Unit: 'Count' },
      { Name: 'CacheReadTokens', Unit: 'Count' },
      { Name: 'CacheWriteTokens', Unit: 'Count' },
      { Name: 'CostMicros', Unit: 'Count' },
    ]);
    expect(model?.doc).toMatchObject({
      tier: 'planner',
      InputTokens: 1200,
      CacheReadTokens: 900,
      CostMicros: 7000,
    });
    expect(tool?.metrics).toEqual([
      { Name: 'ToolCalls', Unit: 'Count' },
      { Name: 'ToolLatency', Unit: 'Milliseconds' },
      { Name: 'ToolErrors', Unit: 'Count' },
    ]);
    expect(tool?.doc).toMatchObject({
      actionGroup: 'billing',
      function: 'audit_billing_logs',
      ToolErrors: 1,
    });
    // Each by its dimensions and as the service's total (the set an alarm names).
    expect(model?.sets).toEqual([['service', 'tier'], ['service']]);
    expect(tool?.sets).toEqual([['service', 'actionGroup', 'function'], ['service']]);
    for (const emf of [model, tool]) {
      expect(emf?.dimensions.every((d) => lowCardinality.has(d))).toBe(true);
      expect(emf?.doc).not.toHaveProperty('sessionId');
      expect(emf?.doc).not.toHaveProperty('tenantId');
    }
  });

  it('count a tool the agent does not have under unknown, never under the name the model sent', () => {
    const { logs, powertools, records } = load({ POWERTOOLS_LOG_LEVEL: 'SILENT' });
    const lines = capture(() => {
      const call = records.toolCallOf({ turn: 1, toolUseId: 't', name: 'rm -rf /', status: 'failed' });
      logs.logToolCall({ sessionId: SESSION, tenantId: TENANT }, call);
      powertools.metrics.publishStoredMetrics();
    });
    expect(emfOf(lines)[0]?.doc).toMatchObject({ actionGroup: 'unknown', function: 'unknown' });
  });

  it('count breaker opens by kind, loop detections, and budget stops by reason, one document each', () => {
    // Prepare
    const { metrics } = load({ POWERTOOLS_LOG_LEVEL: 'SILENT' });

    // Act
    const lines = capture(() => {
      metrics.countBreakerOpen('model');
      metrics.countStop('loop_detected');
      metrics.countStop('tenant_daily_cap');
      metrics.countStop('max_turns');
    });

    // Assess
    const docs = emfOf(lines);
    expect(docs.map((d) => d.metrics.map((m) => m.Name))).toEqual([
      ['BreakerOpens'],
      ['LoopDetections'],
      ['BudgetStops'],
    ]);
    expect(docs[0]?.doc).toMatchObject({ kind: 'model', BreakerOpens: 1 });
    expect(docs[2]?.doc).toMatchObject({ stopReason: 'tenant_daily_cap', BudgetStops: 1 });
    expect(docs.map((d) => d.sets)).toEqual([
      [['service', 'kind'], ['service']],
      [['service']],
      [['service', 'stopReason'], ['service']],
    ]);
    expect(docs.flatMap((d) => d.dimensions).every((d) => lowCardinality.has(d))).toBe(true);
  });
});
