/**
 * Per-function pieces of infra/observability.yml, generated from serverless.yml's `functions:` (osls variable
 * resolvers), so a function added there is queried and alarmed on without a list kept by hand.
 *
 * Logical ids follow osls's naming (lib/plugins/aws/lib/naming.js): the function key with its first letter upper-cased,
 * `-` as `Dash` and `_` as `Underscore`; then `LogGroup` (the log group osls creates with logRetentionInDays) or
 * `LambdaFunction`.
 */
const normalized = (key) =>
  `${key[0].toUpperCase()}${key.slice(1)}`.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');

/** `<Fn>LogGroup` of every function, in serverless.yml's order (security.yml can extend each, e.g. with KmsKeyId). */
const logGroupIds = (functionKeys) => functionKeys.map((key) => `${normalized(key)}LogGroup`);

const functionKeysOf = async ({ resolveVariable }) => Object.keys(await resolveVariable('self:functions'));

/** QueryDefinition LogGroupNames: a Ref (its name) to each function's log group. */
const logGroupNames = async (resolver) =>
  logGroupIds(await functionKeysOf(resolver)).map((id) => ({ Ref: id }));

// "Alarms based on metric math expressions can reference a maximum of 10 metrics. This is a hard limit"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
const MAX_ALARM_METRICS = 10;

/** The Metrics of one alarm on the sum of these functions' Lambda Throttles (AWS/Lambda, by FunctionName). */
const throttleMetricsOf = (keys) => {
  const ids = keys.map((_, index) => `throttles${index}`);
  return [
    ...keys.map((key, index) => ({
      Id: ids[index],
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/Lambda',
          MetricName: 'Throttles',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: `${normalized(key)}LambdaFunction` } }],
        },
        Period: 300,
        Stat: 'Sum',
      },
    })),
    // FILL: a function that was never throttled has no data point, which would make the whole sum missing.
    {
      Id: 'throttles',
      Label: 'Throttles',
      ReturnData: true,
      Expression: ids.map((id) => `FILL(${id}, 0)`).join(' + '),
    },
  ];
};

/** The function keys in groups of at most MAX_ALARM_METRICS, in serverless.yml's order. */
const chunks = (keys) =>
  Array.from({ length: Math.ceil(keys.length / MAX_ALARM_METRICS) }, (_, i) =>
    keys.slice(i * MAX_ALARM_METRICS, (i + 1) * MAX_ALARM_METRICS),
  );

/**
 * Alarms on Lambda's Throttles of every function of the stage: one per group of at most 10 functions (the metric
 * math limit), `FunctionThrottlesAlarm`, `FunctionThrottlesAlarm2`, ... named `<service>-<stage>-function-throttles`,
 * `...-function-throttles-2`, ...; each notifies the alert topic.
 */
const throttleAlarms = async (resolver) => {
  const keys = await functionKeysOf(resolver);
  const prefix = `${await resolver.resolveVariable('self:service')}-${await resolver.resolveVariable('sls:stage')}`;
  return Object.fromEntries(
    chunks(keys).map((group, i) => [
      `FunctionThrottlesAlarm${i === 0 ? '' : i + 1}`,
      {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          AlarmName: `${prefix}-function-throttles${i === 0 ? '' : `-${i + 1}`}`,
          AlarmDescription: `Lambda throttled this stage's functions (${group.join(', ')}); raise reserved or account concurrency.`,
          Metrics: throttleMetricsOf(group),
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Threshold: 1,
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: 'AlertTopic' }],
        },
      },
    ]),
  );
};

/**
 * `resources.extensions` giving every function's log group the stage key (AgentKey) when kmsKey is on (the
 * UseAgentKey condition of infra/security.yml); test/integration/template-security.test.ts checks every log group.
 */
const logGroupKeyExtensions = async (resolver) =>
  Object.fromEntries(
    logGroupIds(await functionKeysOf(resolver)).map((id) => [
      id,
      {
        Properties: {
          KmsKeyId: {
            'Fn::If': ['UseAgentKey', { 'Fn::GetAtt': ['AgentKey', 'Arn'] }, { Ref: 'AWS::NoValue' }],
          },
        },
      },
    ]),
  );

/** The logical id serverless-iam-roles-per-function gives a function's role. */
const roleIdOf = (key) => `${normalized(key)}IamRoleLambdaExecution`;

/** A Ref to every function's role (the stage key's IAM grant, AgentKeyUse in infra/security.yml). */
const functionRoleRefs = async (resolver) =>
  (await functionKeysOf(resolver)).map((key) => ({ Ref: roleIdOf(key) }));

/**
 * The ARN patterns of the roles the stage key's policy names: every function's role as
 * serverless-iam-roles-per-function names it (`<service>-<stage>-<function>-<region>-lambdaRole`), the state
 * machine's role and the optional tenant roles. By name, not by Ref: the key would depend on the roles, whose
 * policies name the key.
 */
const keyUserRoleArns = async (resolver) => {
  const prefix = `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${await resolver.resolveVariable('self:service')}-${await resolver.resolveVariable('sls:stage')}`;
  return [
    ...(await functionKeysOf(resolver)).map((key) => ({
      'Fn::Sub': `${prefix}-${key}-\${AWS::Region}-lambdaRole`,
    })),
    { 'Fn::Sub': `${prefix}-AgentGoalStateMachineRole-*` },
    { 'Fn::Sub': `${prefix}-TenantRole*` },
  ];
};

module.exports = {
  functionRoleRefs,
  keyUserRoleArns,
  logGroupIds,
  logGroupKeyExtensions,
  logGroupNames,
  throttleAlarms,
};
