/** The functions the local Lambda service runs, and how Lambda resolves a FunctionName (name, partial or full ARN). */
import { LOCAL_ACCOUNT_ID, lambdaArn } from '../stack/serverless-config';
import { functionNotFound, ServiceException } from './errors';

export interface LambdaFunctionSpec {
  /** Key under `functions:` in serverless.yml; names the bundle and the log file. */
  key: string;
  /** Deployed name (`<service>-<stage>-<key>`): what callers pass as FunctionName. */
  name: string;
  /** Handler as declared (`functions/x/handler.handler`). */
  handler: string;
  timeoutSeconds: number;
  memorySize: number;
  /** provider.environment + function environment, intrinsics already resolved. */
  environment: Record<string, string>;
  /** Files the function's package carries besides the bundle, relative to the repository (package.patterns). */
  packageFiles?: string[];
  /** How Lambda runs its Event invocations (Lambda's defaults when absent: 2 retries, 6 hours, no destination). */
  asyncInvoke?: AsyncInvokeSpec;
}

export interface AsyncInvokeSpec {
  /** Retries after a function error (0-2). */
  maximumRetryAttempts: number;
  /** An event older than this is not tried again. */
  maximumEventAgeSeconds: number;
  /** Where the invocation record goes once Lambda gives up. */
  onFailureQueueArn?: string;
}

const NAME_PATTERN =
  /^(?:arn:aws[a-zA-Z-]*:lambda:(?<region>[a-z0-9-]+):(?<account>\d{12}):function:|(?<partialAccount>\d{12}):function:)?(?<name>[A-Za-z0-9_.-]+)(?::(?<qualifier>[$A-Za-z0-9_-]+))?$/;

/** The deployed function `rawName` names (with the `Qualifier` parameter, if any); Lambda's errors otherwise. */
export const resolveFunction = <F extends { arn: string }>(
  byName: Map<string, F>,
  region: string,
  rawName: string,
  qualifier: string | null,
): F => {
  const match = NAME_PATTERN.exec(rawName);
  if (match?.groups === undefined) {
    throw new ServiceException(400, 'InvalidParameterValueException', `Invalid function name: ${rawName}`);
  }
  const { name, region: arnRegion, account, partialAccount, qualifier: nameQualifier } = match.groups;
  const fn = name === undefined ? undefined : byName.get(name);
  const accountId = account ?? partialAccount;
  if (nameQualifier !== undefined && qualifier !== null && nameQualifier !== qualifier) {
    throw new ServiceException(
      400,
      'InvalidParameterValueException',
      'The derived qualifier from the function name does not match the specified qualifier.',
    );
  }
  const version = nameQualifier ?? qualifier ?? '$LATEST';
  if (
    fn === undefined ||
    (arnRegion !== undefined && arnRegion !== region) ||
    (accountId !== undefined && accountId !== LOCAL_ACCOUNT_ID)
  ) {
    throw functionNotFound(
      rawName.startsWith('arn:') ? rawName : lambdaArn(arnRegion ?? region, `${name ?? rawName}`, accountId),
    );
  }
  if (version !== '$LATEST') {
    throw functionNotFound(`${fn.arn}:${version} (the local stack deploys $LATEST only)`);
  }
  return fn;
};
