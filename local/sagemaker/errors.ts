/** SageMaker Runtime's error answers as the emulator sends them, and how a model script's Converse faults map onto them. */
import { LocalError } from '../aws/errors';
import type { ConverseErrorType } from '../bedrock/errors';

/**
 * An InvokeEndpoint error answer: `x-amzn-errortype` names it (the SDK's REST-JSON deserializer reads the type from
 * that header and the members from the body), with the status the SDK's error schemas declare
 * (@aws-sdk/client-sagemaker-runtime: ValidationError 400, ModelError 424, ModelNotReadyException 429,
 * InternalFailure 500, ServiceUnavailable 503). ThrottlingException is not in the service model: it is sent as AWS's
 * JSON services send throttling (status 400, e.g. github.com/cisagov/crossfeed/issues/247), and the SDK's retry
 * strategy retries it by name. Its exact SageMaker wording was not found in the docs.
 */
export class InvokeEndpointFault extends LocalError {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    /** Extra members (ModelError: OriginalStatusCode, OriginalMessage, LogStreamArn). */
    readonly members: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'InvokeEndpointFault';
  }
}

/** A container answering `status`: SageMaker wraps it in a 424 ModelError naming the variant and its log stream. */
export const modelError = (
  endpointName: string,
  accountId: string,
  region: string,
  status: number,
  containerMessage: string,
): InvokeEndpointFault => {
  const kind = status >= 500 ? 'server' : 'client';
  const logStreamArn = `arn:aws:logs:${region}:${accountId}:log-group:/aws/sagemaker/Endpoints/${endpointName}`;
  return new InvokeEndpointFault(
    424,
    'ModelError',
    `Received ${kind} error (${status}) from primary with message "${containerMessage}". See ${logStreamArn} in account ${accountId} for more information.`,
    { OriginalStatusCode: status, OriginalMessage: containerMessage, LogStreamArn: logStreamArn },
  );
};

/** A scripted Converse fault as SageMaker would answer it, so one script drives either provider. */
export const faultFor = (
  errorType: ConverseErrorType,
  message: string,
  endpoint: { name: string; accountId: string; region: string },
): InvokeEndpointFault => {
  const container = (status: number) =>
    modelError(endpoint.name, endpoint.accountId, endpoint.region, status, message);
  switch (errorType) {
    case 'ThrottlingException':
      return new InvokeEndpointFault(400, 'ThrottlingException', message);
    case 'ServiceUnavailableException':
      return new InvokeEndpointFault(503, 'ServiceUnavailable', message);
    case 'InternalServerException':
      return new InvokeEndpointFault(500, 'InternalFailure', message);
    case 'ModelNotReadyException':
      return new InvokeEndpointFault(429, 'ModelNotReadyException', message);
    case 'ModelErrorException':
      return container(500);
    case 'ModelTimeoutException':
      return container(504);
    case 'AccessDeniedException':
      return new InvokeEndpointFault(400, 'AccessDeniedException', message);
    case 'ResourceNotFoundException':
    case 'ValidationException':
      return new InvokeEndpointFault(400, 'ValidationError', message);
  }
};
