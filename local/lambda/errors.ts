/** Errors of the local Lambda service: its base error, build failures, and the Lambda API errors it answers with. */
import { LocalError } from '../aws/errors';

export class LambdaServiceError extends LocalError {}

/** esbuild could not bundle a function's handler (or the handler file does not exist). */
export class LambdaBuildError extends LambdaServiceError {}

/** An error the Invoke API answers with: HTTP status, `x-amzn-errortype` and `{Type, message}`, as Lambda does. */
export class ServiceException extends LambdaServiceError {
  constructor(
    readonly statusCode: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = errorType;
  }
}

export const functionNotFound = (what: string): ServiceException =>
  new ServiceException(404, 'ResourceNotFoundException', `Function not found: ${what}`);

export const payloadTooLarge = (limit: number): ServiceException =>
  new ServiceException(
    413,
    'RequestTooLargeException',
    `Request must be smaller than ${limit} bytes for the Invoke operation`,
  );
