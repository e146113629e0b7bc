/**
 * Observability in the prod template (`sls package --stage prod`, offline): the state machine logs every event (without
 * execution data unless the stage asks) and is traced; every log group keeps its events for a set time; the saved
 * Logs Insights queries are the files the local runner runs; the alarms notify the alert topic on metrics that exist
 * with exactly the dimensions they are published with; the otel option adds the ADOT layer and its variables to every
 * function, and nothing when off. Packaged twice in parallel: prod as is, and prod with otel on and execution data on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import {
  declaredFunctionCount,
  packageTemplate,
  repoRoot,
  resourcesOfType,
  type Template,
} from '../helpers/template';

const STAGE = 'prod';
const SERVICE = 'sovereign-agent';
const QUERY_DIR = join(repoRoot, 'shared', 'observability', 'queries');
const OTEL_VARIABLES = [
  'AWS_LAMBDA_EXEC_WRAPPER',
  'OTEL_SERVICE_NAME',
  'OTEL_AWS_APPLICATION_SIGNALS_ENABLED',
];
// The default adotLayerArn in us-east-1 (serverless.yml params; AWS's layer table, version 13).
const ADOT_LAYER = 'arn:aws:lambda:us-east-1:615299751070:layer:AWSOpenTelemetryDistroJs:13';

let prod: Template;
let prodOtel: Template;

beforeAll(async () => {
  [prod, prodOtel] = await Promise.all([
    packageTemplate(STAGE),
    packageTemplate(STAGE, { otel: 'on', stateMachineLogExecutionData: 'true' }),
  ]);
}, 240_000);

const propertiesOf = (template: Template, id: string, type: string): Record<string, unknown> => {
  const resource = template.Resources[id];
  expect({ id, type: resource?.Type }).toEqual({ id, type });
  return resource?.Properties ?? {};
};

const functionSchema = z.looseObject({
  FunctionName: z.string(),
  Layers: z.array(z.unknown()).optional(),
  Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }),
});
const functionsOf = (template: Template) =>
  resourcesOfType(template, 'AWS::Lambda::Function').map(([id, r]) => ({
    id,
    ...functionSchema.parse(r.Properties),
  }));

const getAttSchema = z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) });
const loggingSchema = z.object({
  Level: z.string(),
  IncludeExecutionData: z.boolean(),
  Destinations: z
    .array(z.object({ CloudWatchLogsLogGroup: z.object({ LogGroupArn: getAttSchema }) }))
    .length(1),
});

describe('the state machine', () => {
  const loggingOf = (template: Template) =>
    loggingSchema.parse(
      propertiesOf(template, 'AgentGoalStateMachine', 'AWS::StepFunctions::StateMachine')
        .LoggingConfiguration,
    );

  test('logs every event to its own log group, without execution data by default, and is traced', () => {
    const machine = propertiesOf(prod, 'AgentGoalStateMachine', 'AWS::StepFunctions::StateMachine');
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
    const logging = loggingOf(prod);
    expect({ Level: logging.Level, IncludeExecutionData: logging.IncludeExecutionData }).toEqual({
      Level: 'ALL',
      IncludeExecutionData: false,
    });
    const [groupId, attribute] =
      logging.Destinations[0]?.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'] ?? [];
    expect(attribute).toBe('Arn');
    const group = propertiesOf(prod, groupId ?? '', 'AWS::Logs::LogGroup');
    expect(group).toEqual({
      LogGroupName: `/aws/vendedlogs/states/${SERVICE}-${STAGE}-agent-goal`,
      RetentionInDays: 30,
      // prod's kmsKey is on: the stage key, as every function's log group (template-security.test.ts).
      KmsKeyId: { 'Fn::GetAtt': ['AgentKey', 'Arn'] },
    });
  });

  test('includes execution data when the stage sets stateMachineLogExecutionData', () => {
    expect(loggingOf(prodOtel)).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
  });
});

describe('log groups', () => {
  test('every function logs to its own log group, created by the stack with a retention', () => {
    const groups = resourcesOfType(prod, 'AWS::Logs::LogGroup').map(([id, r]) => ({
      id,
      ...z.looseObject({ LogGroupName: z.string(), RetentionInDays: z.number() }).parse(r.Properties),
    }));
    const functions = functionsOf(prod);
    expect(functions.length).toBe(declaredFunctionCount());
    for (const fn of functions) {
      const group = groups.find((g) => g.LogGroupName === `/aws/lambda/${fn.FunctionName}`);
      expect({ fn: fn.id, group: group?.id }).toEqual({
        fn: fn.id,
        group: `${fn.id.replace(/LambdaFunction$/, '')}LogGroup`,
      });
    }
    // Every log group of the stack (the functions' and the state machine's) expires its events.
    expect(groups.filter((g) => g.RetentionInDays !== 30)).toEqual([]);
    expect(groups.length).toBe(functions.length + 1);
  });
});

describe('saved Logs Insights queries', () => {
  const queryFiles = readdirSync(QUERY_DIR)
    .filter((file) => file.endsWith('.logsinsights'))
    .sort();

  test('the three queries the issue names are there as files', () => {
    expect(queryFiles).toEqual([
      'cost-per-session.logsinsights',
      'failures-by-type.logsinsights',
      'slow-tools.logsinsights',
    ]);
    // The seed's query, as written, is the slow-tools file.
    expect(readFileSync(join(QUERY_DIR, 'slow-tools.logsinsights'), 'utf8')).toContain(
      `| parse @message '"latencyMs":*' as latencyMs\n| stats avg(latencyMs) as avgLatency, count() as executionCount by toolName, sessionId\n| filter avgLatency > 1500\n`,
    );
  });

  test('each file is a QueryDefinition in the stage folder whose QueryString is its text, over every function log group', () => {
    const definitions = resourcesOfType(prod, 'AWS::Logs::QueryDefinition').map(([, r]) =>
      z
        .object({
          Name: z.string(),
          QueryString: z.string(),
          LogGroupNames: z.array(z.object({ Ref: z.string() })),
        })
        .parse(r.Properties),
    );
    const functionGroups = functionsOf(prod)
      .map((fn) => `${fn.id.replace(/LambdaFunction$/, '')}LogGroup`)
      .sort();
    expect(definitions.map((d) => d.Name).sort()).toEqual(
      queryFiles.map((file) => `${SERVICE}-${STAGE}/${basename(file, '.logsinsights')}`),
    );
    for (const file of queryFiles) {
      const definition = definitions.find((d) => d.Name.endsWith(`/${basename(file, '.logsinsights')}`));
      expect(definition?.QueryString).toBe(readFileSync(join(QUERY_DIR, file), 'utf8'));
      expect(definition?.LogGroupNames.map((g) => g.Ref).sort()).toEqual(functionGroups);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Alarms. A CloudWatch alarm watches one metric with exactly its dimensions: one published with other dimensions is
// another metric, and the alarm would never fire.

const dimensionSchema = z.object({ Name: z.string(), Value: z.unknown() });
const metricSchema = z.object({
  Namespace: z.string(),
  MetricName: z.string(),
  Dimensions: z.array(dimensionSchema),
});
type WatchedMetric = z.infer<typeof metricSchema>;
const alarmSchema = z.looseObject({
  AlarmName: z.string(),
  AlarmActions: z.array(z.unknown()).default([]),
  ComparisonOperator: z.string(),
  Threshold: z.number(),
  TreatMissingData: z.string(),
  Namespace: z.string().optional(),
  MetricName: z.string().optional(),
  Dimensions: z.array(dimensionSchema).optional(),
  Metrics: z
    .array(
      z.object({
        Id: z.string(),
        ReturnData: z.boolean(),
        Label: z.string().optional(),
        Expression: z.string().optional(),
        MetricStat: z.object({ Metric: metricSchema, Period: z.number(), Stat: z.string() }).optional(),
      }),
    )
    .optional(),
});

const alarmsOf = (template: Template) =>
  new Map(
    resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, r]) => {
      const alarm = alarmSchema.parse(r.Properties);
      return [alarm.AlarmName.replace(`${SERVICE}-${STAGE}-`, ''), alarm] as const;
    }),
  );

/** The metrics an alarm reads: its one metric, or each MetricStat of its metric math. */
const watched = (alarm: z.infer<typeof alarmSchema>): WatchedMetric[] =>
  alarm.Metrics
    ? alarm.Metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
    : [
        metricSchema.parse({
          Namespace: alarm.Namespace,
          MetricName: alarm.MetricName,
          Dimensions: alarm.Dimensions,
        }),
      ];

/**
 * What Powertools Metrics, configured as serverless.yml configures the functions, writes for one count published as
 * shared/observability/metrics.ts publishes BreakerOpens and BudgetStops: a single metric with its own dimension.
 */
const emfLineOf = (
  variables: Record<string, unknown>,
  metricName: string,
  dimension: [string, string],
): Record<string, unknown> => {
  const written: string[] = [];
  const saved = { ...process.env };
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  try {
    for (const name of ['POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'])
      process.env[name] = String(variables[name]);
    delete process.env.POWERTOOLS_DEV;
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    jest.isolateModules(() => {
      const { metrics } =
        require('../../shared/runtime/powertools') as typeof import('../../shared/runtime/powertools');
      const { MetricUnit } =
        require('@aws-lambda-powertools/metrics') as typeof import('@aws-lambda-powertools/metrics');
      const single = metrics.singleMetric();
      single.addDimension(...dimension);
      single.addMetric(metricName, MetricUnit.Count, 1);
    });
  } finally {
    spy.mockRestore();
    process.env = saved;
  }
  const line = written.map((w) => w.trim()).find((w) => w.includes(`"${metricName}"`));
  if (!line) throw new Error(`Powertools wrote no EMF line for ${metricName}: ${written.join('')}`);
  return JSON.parse(line) as Record<string, unknown>;
};

const emfSchema = z.looseObject({
  _aws: z.object({
    CloudWatchMetrics: z
      .array(
        z.object({
          Namespace: z.string(),
          Dimensions: z.array(z.array(z.string())),
          Metrics: z.array(z.object({ Name: z.string() }).loose()),
        }),
      )
      .length(1),
  }),
});

/** The parts of `SELECT SUM(metric) FROM SCHEMA("namespace", dimensions...) WHERE service = 'value'`. */
const insightsQueryOf = (expression: string) => {
  const match = /^SELECT SUM\((\w+)\) FROM SCHEMA\("([^"]+)", ([\w, ]+)\) WHERE service = '([^']+)'$/.exec(
    expression,
  );
  if (!match) throw new Error(`not a Metrics Insights sum over a schema, by service: ${expression}`);
  const [, metricName, namespace, dimensions, service] = match;
  return { metricName, namespace, dimensions: dimensions?.split(', ').sort(), service };
};

describe('alarms', () => {
  test('the five alarms the issue names notify the alert topic', () => {
    const alarms = alarmsOf(prod);
    // function-throttles-2, ... appear when the stage has more than 10 functions.
    expect([...alarms.keys()].filter((name) => !/^function-throttles-\d+$/.test(name)).sort()).toEqual([
      'breaker-opens',
      'budget-stops',
      'executions-failed',
      'function-throttles',
      'intake-dead-letters',
    ]);
    expect(prod.Resources.AlertTopic?.Type).toBe('AWS::SNS::Topic');
    for (const [name, alarm] of alarms) {
      expect({ name, actions: alarm.AlarmActions }).toEqual({ name, actions: [{ Ref: 'AlertTopic' }] });
      // A quiet stage publishes no data points: that is not a breach.
      expect({ name, missing: alarm.TreatMissingData }).toEqual({ name, missing: 'notBreaching' });
    }
  });

  test("execution failures and time-outs of this stage's state machine", () => {
    const alarm = alarmsOf(prod).get('executions-failed');
    const machine = [{ Name: 'StateMachineArn', Value: { Ref: 'AgentGoalStateMachine' } }];
    expect(alarm && watched(alarm)).toEqual([
      { Namespace: 'AWS/States', MetricName: 'ExecutionsFailed', Dimensions: machine },
      { Namespace: 'AWS/States', MetricName: 'ExecutionsTimedOut', Dimensions: machine },
    ]);
    expect(alarm?.Metrics?.find((m) => m.ReturnData)?.Expression).toBe('FILL(failed, 0) + FILL(timedOut, 0)');
    expect(alarm).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1 });
  });

  test("throttles of every one of the stage's functions, summed", () => {
    // One alarm per 10 functions (the metric-math limit): together they watch every function once.
    const alarms = [...alarmsOf(prod)]
      .filter(([name]) => name.startsWith('function-throttles'))
      .map(([, a]) => a);
    expect(alarms.flatMap((alarm) => watched(alarm))).toEqual(
      functionsOf(prod).map((fn) => ({
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn.id } }],
      })),
    );
    for (const alarm of alarms) {
      const metrics = alarm.Metrics ?? [];
      expect(metrics.filter((m) => m.MetricStat).length).toBeLessThanOrEqual(10);
      const summed = metrics.filter((m) => m.MetricStat).map((m) => `FILL(${m.Id}, 0)`);
      expect(metrics.filter((m) => m.ReturnData).map((m) => m.Expression)).toEqual([summed.join(' + ')]);
    }
  });

  test('a goal event waiting in the intake dead-letter queue', () => {
    const alarm = alarmsOf(prod).get('intake-dead-letters');
    expect(prod.Resources.IntakeDeadLetterQueue?.Type).toBe('AWS::SQS::Queue');
    expect(alarm && watched(alarm)).toEqual([
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['IntakeDeadLetterQueue', 'QueueName'] } }],
      },
    ]);
    expect(alarm).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });
  });

  test.each([
    ['breaker-opens', 'BreakerOpens', ['kind', 'model']],
    ['budget-stops', 'BudgetStops', ['stopReason', 'usd_budget']],
  ] as const)(
    '%s sums %s over every metric Powertools publishes it as (namespace and dimensions)',
    (name, metricName, dimension) => {
      const alarm = alarmsOf(prod).get(name);
      const plan = functionsOf(prod).find((fn) => fn.id === 'PlanLambdaFunction');
      if (!alarm || !plan) throw new Error(`alarm ${name} or the plan function missing`);
      const line = emfLineOf(plan.Environment.Variables, metricName, [...dimension]);
      const [published] = emfSchema.parse(line)._aws.CloudWatchMetrics;
      expect(published?.Dimensions).toHaveLength(1);
      const queries = alarm.Metrics ?? [];
      expect(queries.map((q) => q.ReturnData)).toEqual([true]);
      expect(insightsQueryOf(queries[0]?.Expression ?? '')).toEqual({
        metricName: published?.Metrics[0]?.Name,
        namespace: published?.Namespace,
        dimensions: [...(published?.Dimensions[0] ?? [])].sort(),
        service: line.service,
      });
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// OpenTelemetry: the otel stage option.

describe('the otel option', () => {
  test('off (the default): no function has a layer or an OpenTelemetry variable', () => {
    for (const fn of functionsOf(prod)) {
      expect({ fn: fn.id, layers: fn.Layers ?? [] }).toEqual({ fn: fn.id, layers: [] });
      const otel = OTEL_VARIABLES.filter((name) => name in fn.Environment.Variables);
      expect({ fn: fn.id, otel }).toEqual({ fn: fn.id, otel: [] });
    }
  });

  test('on: every function gets the ADOT layer and its variables, and nothing else of it changes', () => {
    const off = new Map(functionsOf(prod).map((fn) => [fn.id, fn]));
    const on = functionsOf(prodOtel);
    expect(on.map((fn) => fn.id)).toEqual([...off.keys()]);
    for (const fn of on) {
      expect({ fn: fn.id, layers: fn.Layers }).toEqual({ fn: fn.id, layers: [ADOT_LAYER] });
      const { AWS_LAMBDA_EXEC_WRAPPER, OTEL_SERVICE_NAME, OTEL_AWS_APPLICATION_SIGNALS_ENABLED, ...rest } =
        fn.Environment.Variables;
      expect({
        fn: fn.id,
        AWS_LAMBDA_EXEC_WRAPPER,
        OTEL_SERVICE_NAME,
        OTEL_AWS_APPLICATION_SIGNALS_ENABLED,
      }).toEqual({
        fn: fn.id,
        AWS_LAMBDA_EXEC_WRAPPER: '/opt/otel-instrument',
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'false',
      });
      expect({ fn: fn.id, rest }).toEqual({ fn: fn.id, rest: off.get(fn.id)?.Environment.Variables });
    }
  });
});
