/** The Query protocol as CloudFormation speaks it (local/aws/query-protocol.ts): its service description and error class. */
import { QueryApiError, type QueryService } from '../aws/query-protocol';

export { el, members, type QueryAction, startQueryServer } from '../aws/query-protocol';

export const CLOUDFORMATION_QUERY_SERVICE: QueryService = {
  name: 'CloudFormation',
  xmlns: 'http://cloudformation.amazonaws.com/doc/2010-05-15/',
  apiVersion: '2010-05-15',
  /** The Query protocol carries small forms; anything this large is not a CloudFormation read. */
  maxBodyBytes: 1024 * 1024,
  internalErrorCode: 'InternalFailure',
  invalidVersionCode: 'InvalidParameterValue',
};

/** An error CloudFormation answers with; `code` becomes the SDK error's name. */
export class CloudFormationApiError extends QueryApiError {
  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(code, message, options);
    this.name = 'CloudFormationApiError';
  }
}
