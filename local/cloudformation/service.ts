/**
 * Local CloudFormation: the stack a stage would deploy, reported through the AWS Query API (ListStackResources,
 * DescribeStacks, ListExports), so `sls invoke local` can resolve `{ Ref: <logicalId> }` in function environments
 * the way it does against AWS (osls's invoke-local calls ListStackResources and reads PhysicalResourceId, and
 * ListExports for `Fn::ImportValue`), and `sls info --stage local` describes the stack (DescribeStacks).
 *
 * Wire format (AWS CloudFormation API Reference, found with the docs search):
 * - ListStackResources: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html
 *   (as mirrored at docs.amazonaws.cn: request `StackName` "the name or the unique stack ID", `NextToken`; response
 *   `StackResourceSummaries.member.N` of StackResourceSummary: LogicalResourceId, PhysicalResourceId, ResourceType,
 *   ResourceStatus, LastUpdatedTimestamp; `NextToken` only "if the output exceeds 1 MB").
 * - DescribeStacks: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html
 *   ("If the stack doesn't exist, a ValidationError is returned."; without StackName, every stack).
 * - ListExports: https://docs.aws.amazon.com/goto/WebAPI/cloudformation-2010-05-15/ListExports
 *   (`Exports.member.N` of Export: ExportingStackId, Name, Value).
 * - The error body AWS answers for an unknown stack, as logged from AWS in boto/boto3#2807: status 400,
 *   `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>
 *   <Code>ValidationError</Code><Message>Stack with id foo does not exist</Message></Error><RequestId>..`.
 */
import type { DeployedStack } from './deployed-stack';
import {
  CLOUDFORMATION_QUERY_SERVICE,
  CloudFormationApiError,
  el,
  members,
  type QueryAction,
  startQueryServer,
} from './query-protocol';

export {
  type DeployedStack,
  deployedStack,
  type StackOutput,
  type StackResourceSummary,
} from './deployed-stack';
export { CloudFormationApiError } from './query-protocol';

export interface CloudFormationService {
  url: string;
  stack: DeployedStack;
  close(): Promise<void>;
}

export interface CloudFormationServiceOptions {
  stack: DeployedStack;
  /** Defaults to 0 (a free port). Always bound to 127.0.0.1. */
  port?: number;
}

/** A running stack is named by its name or its stack id (ListStackResources, StackName). */
const requireStack = (stack: DeployedStack, params: URLSearchParams, required: boolean): void => {
  const name = params.get('StackName');
  if (name === null || name === '') {
    if (!required) return;
    throw new CloudFormationApiError(
      'ValidationError',
      "1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null",
    );
  }
  if (name !== stack.stackName && name !== stack.stackId) {
    throw new CloudFormationApiError('ValidationError', `Stack with id ${name} does not exist`);
  }
};

/** Everything fits in one page (AWS pages at 1 MB), so the only valid NextToken is none. */
const refuseNextToken = (params: URLSearchParams): void => {
  const token = params.get('NextToken');
  if (token !== null && token !== '') {
    throw new CloudFormationApiError('ValidationError', `Invalid NextToken: ${token}`);
  }
};

/** `sls invoke local` resolves `{ Ref: <logicalId> }` in function environments through it. */
const listStackResources = (stack: DeployedStack, params: URLSearchParams): string => {
  requireStack(stack, params, true);
  refuseNextToken(params);
  return `<StackResourceSummaries>${members(
    stack.resources.map(
      (r) =>
        el('LogicalResourceId', r.logicalResourceId) +
        el('PhysicalResourceId', r.physicalResourceId) +
        el('ResourceType', r.resourceType) +
        el('ResourceStatus', 'CREATE_COMPLETE') +
        el('LastUpdatedTimestamp', stack.createdAt.toISOString()) +
        `<DriftInformation>${el('StackResourceDriftStatus', 'NOT_CHECKED')}</DriftInformation>`,
    ),
  )}</StackResourceSummaries>`;
};

/** `sls info` (and `${cf:stack.output}` variables) read the stack's outputs through it. */
const describeStacks = (stack: DeployedStack, params: URLSearchParams): string => {
  // Without StackName, DescribeStacks describes every stack of the account: here, the one.
  requireStack(stack, params, false);
  refuseNextToken(params);
  const outputs = members(
    stack.outputs.map(
      (out) =>
        el('OutputKey', out.key) +
        el('OutputValue', out.value) +
        el('Description', out.description) +
        el('ExportName', out.exportName),
    ),
  );
  return `<Stacks><member>${
    el('StackId', stack.stackId) +
    el('StackName', stack.stackName) +
    el('CreationTime', stack.createdAt.toISOString()) +
    el('StackStatus', 'CREATE_COMPLETE') +
    el('DisableRollback', 'false') +
    el('EnableTerminationProtection', 'false') +
    `<Outputs>${outputs}</Outputs><Tags/>`
  }</member></Stacks>`;
};

/** `sls invoke local` resolves `Fn::ImportValue` through it; `sls info` lists exports with it. */
const listExports = (stack: DeployedStack, params: URLSearchParams): string => {
  refuseNextToken(params);
  const exported = stack.outputs.filter((out) => out.exportName !== undefined);
  return `<Exports>${members(
    exported.map(
      (out) => el('ExportingStackId', stack.stackId) + el('Name', out.exportName) + el('Value', out.value),
    ),
  )}</Exports>`;
};

const stackActions = (stack: DeployedStack): Record<string, QueryAction> => ({
  ListStackResources: (params) => listStackResources(stack, params),
  DescribeStacks: (params) => describeStacks(stack, params),
  ListExports: (params) => listExports(stack, params),
});

/** Starts the CloudFormation Query API for one deployed stack on 127.0.0.1. */
export const startCloudFormationService = async (
  o: CloudFormationServiceOptions,
): Promise<CloudFormationService> => {
  const listener = await startQueryServer(CLOUDFORMATION_QUERY_SERVICE, stackActions(o.stack), o.port);
  return { ...listener, stack: o.stack };
};
