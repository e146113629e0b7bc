/**
 * The OpenTelemetry stage option (param otel, "on" | "off"), as osls variable resolvers: serverless.yml gives every
 * function `${file(./infra/otel.js):layers}` and each variable of `${file(./infra/otel.js):environment.<NAME>, null}`.
 * Off: no layer and no variable (a null value is left out of the template). On: the ADOT layer (param adotLayerArn)
 * and the variables it reads.
 *
 * AWS Distro for OpenTelemetry, Lambda (https://aws-otel.github.io/docs/getting-started/lambda, checked 2026-12-02):
 * the current AWS-managed layer for Node.js is `AWSOpenTelemetryDistroJs`, one layer for both architectures, enabled
 * by AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument (the legacy `aws-otel-nodejs-<arch>` layers used
 * /opt/otel-handler). With active tracing (tracing.lambda) its spans go to X-Ray, which each role may already write to
 * (xray:PutTraceSegments). Application Signals, on by default in that layer, would also write to the
 * /aws/application-signals/data log group, which no role here may: it is off. Not tried on AWS.
 */
const OPTION = 'param:otel';

const isOn = async ({ resolveVariable }) => {
  const value = await resolveVariable(OPTION);
  if (value !== 'on' && value !== 'off')
    throw new Error(`param otel must be "on" or "off", not ${JSON.stringify(value)}`);
  return value === 'on';
};

/** The layers every function gets: the ADOT layer when on, none when off. */
const layers = async (resolver) =>
  (await isOn(resolver)) ? [await resolver.resolveVariable('param:adotLayerArn')] : [];

/** The variables every function gets when on; when off none (each serverless.yml reference falls back to null). */
const environment = async (resolver) =>
  (await isOn(resolver))
    ? {
        AWS_LAMBDA_EXEC_WRAPPER: '/opt/otel-instrument',
        OTEL_SERVICE_NAME: await resolver.resolveVariable('self:service'),
        OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'false',
      }
    : {};

module.exports = { layers, environment };
