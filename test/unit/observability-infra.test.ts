/** The osls resolvers behind infra/observability.yml and the otel option (infra/functions.js, infra/otel.js). */
type Resolver = { resolveVariable: (name: string) => Promise<unknown> };
const otel = require('../../infra/otel.js') as {
  layers: (resolver: Resolver) => Promise<unknown[]>;
  environment: (resolver: Resolver) => Promise<Record<string, string>>;
};
const functions = require('../../infra/functions.js') as {
  logGroupIds: (keys: string[]) => string[];
  logGroupNames: (resolver: Resolver) => Promise<{ Ref: string }[]>;
  throttleAlarms: (
    resolver: Resolver,
  ) => Promise<
    Record<string, { Properties: { AlarmName: string; Metrics: { Id: string; Expression?: string }[] } }>
  >;
};

const LAYER = 'arn:aws:lambda:eu-west-1:615299751070:layer:AWSOpenTelemetryDistroJs:13';

/** What osls would resolve, for the variables these resolvers read. */
const resolverWith = (values: Record<string, unknown>): Resolver => ({
  resolveVariable: async (name) => {
    if (!(name in values)) throw new Error(`unexpected variable ${name}`);
    return values[name];
  },
});

describe('the otel option', () => {
  it('adds nothing when off', async () => {
    // Arrange
    const off = resolverWith({ 'param:otel': 'off', 'param:adotLayerArn': LAYER, 'self:service': 'demo' });

    // Act / Assess
    await expect(otel.layers(off)).resolves.toEqual([]);
    await expect(otel.environment(off)).resolves.toEqual({});
  });

  it('adds the stage layer and the wrapper with its variables when on', async () => {
    // Arrange
    const on = resolverWith({ 'param:otel': 'on', 'param:adotLayerArn': LAYER, 'self:service': 'demo' });

    // Act / Assess
    await expect(otel.layers(on)).resolves.toEqual([LAYER]);
    await expect(otel.environment(on)).resolves.toEqual({
      AWS_LAMBDA_EXEC_WRAPPER: '/opt/otel-instrument',
      OTEL_SERVICE_NAME: 'demo',
      OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'false',
    });
  });

  it('refuses a value other than on or off, naming the param, so a typo does not silently mean off', async () => {
    // Arrange
    const typo = resolverWith({ 'param:otel': 'yes' });

    // Act / Assess
    await expect(otel.layers(typo)).rejects.toThrow(/param otel must be "on" or "off", not "yes"/);
  });
});

describe('per-function pieces', () => {
  it("names each function's log group as osls does", () => {
    // Act / Assess
    expect(functions.logGroupIds(['plan', 'runTool', 'billing-report_v2'])).toEqual([
      'PlanLogGroup',
      'RunToolLogGroup',
      'BillingDashreportUnderscorev2LogGroup',
    ]);
  });

  it('sums the Throttles of every function, a missing data point counted as 0', async () => {
    // Arrange
    const stage = resolverWith({
      'self:functions': { intake: {}, plan: {} },
      'self:service': 'demo',
      'sls:stage': 'prod',
    });

    // Act
    const alarms = await functions.throttleAlarms(stage);

    // Assess
    const metrics = alarms.FunctionThrottlesAlarm?.Properties.Metrics ?? [];
    expect(Object.keys(alarms)).toEqual(['FunctionThrottlesAlarm']);
    expect(alarms.FunctionThrottlesAlarm?.Properties.AlarmName).toBe('demo-prod-function-throttles');
    expect(metrics.map((m) => m.Id)).toEqual(['throttles0', 'throttles1', 'throttles']);
    expect(metrics.at(-1)?.Expression).toBe('FILL(throttles0, 0) + FILL(throttles1, 0)');
    await expect(functions.logGroupNames(stage)).resolves.toEqual([
      { Ref: 'IntakeLogGroup' },
      { Ref: 'PlanLogGroup' },
    ]);
  });

  it('splits the functions into alarms of at most 10 metrics (the metric-math limit)', async () => {
    // Arrange
    const keys = Array.from({ length: 11 }, (_, i) => [`fn${i}`, {}]);
    const stage = resolverWith({
      'self:functions': Object.fromEntries(keys),
      'self:service': 'demo',
      'sls:stage': 'prod',
    });

    // Act
    const alarms = await functions.throttleAlarms(stage);

    // Assess
    const sizes = Object.values(alarms).map((a) => a.Properties.Metrics.filter((m) => !m.Expression).length);
    expect(Object.keys(alarms)).toEqual(['FunctionThrottlesAlarm', 'FunctionThrottlesAlarm2']);
    expect(sizes).toEqual([10, 1]);
    expect(alarms.FunctionThrottlesAlarm2?.Properties.AlarmName).toBe('demo-prod-function-throttles-2');
  });
});
