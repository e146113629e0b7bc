/**
 * The local SNS stand-in's side of the Query protocol (local/aws/query-protocol.ts), as @aws-sdk/client-sns speaks
 * it (version 2010-03-31): its service description and its errors, whose Code the SDK maps to its exception
 * (NotFound -> NotFoundException, 404; InvalidParameter -> InvalidParameterException, 400: the `awsQueryError`
 * traits in the client's schema).
 */
import { QueryApiError, type QueryService } from '../aws/query-protocol';

export const SNS_QUERY_SERVICE: QueryService = {
  name: 'SNS',
  xmlns: 'http://sns.amazonaws.com/doc/2010-03-31/',
  apiVersion: '2010-03-31',
  /** Publish takes messages up to 256 KiB; the form around one is a little larger. */
  maxBodyBytes: 512 * 1024,
  internalErrorCode: 'InternalError',
  invalidVersionCode: 'InvalidParameter',
};

export const notFound = (message: string): QueryApiError =>
  new QueryApiError('NotFound', message, { statusCode: 404 });
export const invalidParameter = (message: string): QueryApiError =>
  new QueryApiError('InvalidParameter', `Invalid parameter: ${message}`, { statusCode: 400 });
