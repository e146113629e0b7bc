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

/** The Metrics of an alarm on the sum of every function's Lambda Throttles (AWS/Lambda, by FunctionName). */
const throttleMetrics = async (resolver) => {
  const keys = await functionKeysOf(resolver);
  if (keys.length > MAX_ALARM_METRICS) {
    throw new Error(
      `An alarm's metric math takes at most ${MAX_ALARM_METRICS} metrics and there are ${keys.length} functions: split FunctionThrottlesAlarm (infra/observability.yml)`,
    );
  }
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

module.exports = { logGroupIds, logGroupKeyExtensions, logGroupNames, throttleMetrics };
