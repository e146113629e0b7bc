/**
 * Local CloudFormation: the stack a stage would deploy, reported through the AWS Query API (ListStackResources,
 * DescribeStacks, ListExports), so `sls invoke local` can resolve `{ Ref: <logicalId> }` in function environments
 * the way it does against AWS (osls's invoke-local calls ListStackResources and reads PhysicalResourceId).
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
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, readBody } from '../aws/http';
import { LocalServiceError } from '../aws/json-protocol';
import {
  type IntrinsicContext,
  resolveIntrinsics,
  type ServerlessConfig,
  UnresolvableReferenceError,
} from '../stack/serverless-config';

const XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
const API_VERSION = '2010-05-15';
/** The Query protocol carries small forms; anything this large is not a CloudFormation read. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface StackResourceSummary {
  logicalResourceId: string;
  physicalResourceId: string;
  resourceType: string;
}

export interface StackOutput {
  key: string;
  value: string;
  description?: string;
  exportName?: string;
}

/** The stack `sls deploy --stage <stage>` would leave behind, as far as the local stack models it. */
export interface DeployedStack {
  stackName: string;
  stackId: string;
  region: string;
  createdAt: Date;
  resources: StackResourceSummary[];
  outputs: StackOutput[];
  /** Why each output left out of DescribeStacks could not be resolved locally. */
  skippedOutputs: string[];
}

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

/** An error answered in the Query protocol's `<ErrorResponse>` shape; `code` becomes the SDK error's name. */
export class CloudFormationApiError extends LocalServiceError {
  readonly code: string;
  readonly statusCode: number;
  readonly type: 'Sender' | 'Receiver';
  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.name = 'CloudFormationApiError';
    this.code = code;
    this.statusCode = options?.statusCode ?? 400;
    this.type = this.statusCode >= 500 ? 'Receiver' : 'Sender';
  }
}

/** A stable stack id per stack name, so a restarted stack reports the same id (AWS's ids are a UUID per stack). */
const stackIdOf = (region: string, accountId: string, stackName: string): string => {
  const h = createHash('sha256').update(`${region}/${accountId}/${stackName}`).digest('hex');
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  return `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/${uuid}`;
};

const asString = (value: unknown, at: string): string => {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  throw new UnresolvableReferenceError(`${at} must resolve to a string, got ${JSON.stringify(value)}`);
};

/**
 * The deployed stack of `config`'s stage: every function (`<Fn>LambdaFunction` -> deployed name), every state
 * machine (logical id -> ARN, what Ref returns) and every resource the local stack models (table -> name, bus ->
 * name), with `resources.Outputs` resolved. Physical ids come from the same IntrinsicContext that resolves Ref
 * elsewhere in the local stack, so both always agree.
 */
export const deployedStack = (
  config: ServerlessConfig,
  ctx: IntrinsicContext,
  createdAt: Date = new Date(),
): DeployedStack => {
  const logicalIds = [
    ...Object.values(config.functions).map((fn) => fn.logicalId),
    ...config.stateMachines.map((sm) => sm.id),
    // Resources of types the local stack does not model have no physical id here; a Ref to one fails in sls.
    ...Object.keys(config.resources).filter((id) => id in ctx.resources),
  ];
  const resources = logicalIds.map((logicalResourceId): StackResourceSummary => {
    const resource = ctx.resources[logicalResourceId];
    if (resource === undefined) {
      throw new UnresolvableReferenceError(`The local stack knows no resource ${logicalResourceId}`);
    }
    return { logicalResourceId, physicalResourceId: resource.ref, resourceType: resource.type };
  });
  // Outputs are only reported, never needed to run a goal: one naming a resource the local stack does not model
  // is left out (and listed) rather than keeping the whole stack from starting.
  const outputs: StackOutput[] = [];
  const skippedOutputs: string[] = [];
  for (const [key, output] of Object.entries(config.outputs)) {
    const at = `resources.Outputs.${key}`;
    try {
      const exportName =
        output.ExportName === undefined
          ? undefined
          : asString(resolveIntrinsics(output.ExportName, ctx, `${at}.Export.Name`), `${at}.Export.Name`);
      outputs.push({
        key,
        value: asString(resolveIntrinsics(output.Value, ctx, `${at}.Value`), `${at}.Value`),
        ...(output.Description === undefined ? {} : { description: output.Description }),
        ...(exportName === undefined ? {} : { exportName }),
      });
    } catch (error) {
      if (!(error instanceof UnresolvableReferenceError)) throw error;
      skippedOutputs.push(error.message);
    }
  }
  return {
    stackName: ctx.stackName,
    stackId: stackIdOf(ctx.region, ctx.accountId, ctx.stackName),
    region: ctx.region,
    createdAt,
    resources,
    outputs,
    skippedOutputs,
  };
};

const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );

/** `<name>text</name>`, escaped; nothing when the value is absent (the Query protocol omits empty members). */
const el = (name: string, value: string | undefined): string =>
  value === undefined ? '' : `<${name}>${escapeXml(value)}</${name}>`;

const members = (items: string[]): string => items.map((inner) => `<member>${inner}</member>`).join('');

/** Starts the CloudFormation Query API for one deployed stack on 127.0.0.1. */
export const startCloudFormationService = async (
  o: CloudFormationServiceOptions,
): Promise<CloudFormationService> => {
  const { stack } = o;
  const timestamp = stack.createdAt.toISOString();

  const notFound = (name: string) =>
    new CloudFormationApiError('ValidationError', `Stack with id ${name} does not exist`);

  /** A running stack is named by its name or its stack id (ListStackResources, StackName). */
  const requireStack = (params: URLSearchParams, required: boolean): DeployedStack | undefined => {
    const name = params.get('StackName');
    if (name === null || name === '') {
      if (!required) return undefined;
      throw new CloudFormationApiError(
        'ValidationError',
        "1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null",
      );
    }
    if (name !== stack.stackName && name !== stack.stackId) throw notFound(name);
    return stack;
  };

  /** Everything fits in one page (AWS pages at 1 MB), so the only valid NextToken is none. */
  const refuseNextToken = (params: URLSearchParams): void => {
    const token = params.get('NextToken');
    if (token !== null && token !== '') {
      throw new CloudFormationApiError('ValidationError', `Invalid NextToken: ${token}`);
    }
  };

  const listStackResources = (params: URLSearchParams): string => {
    requireStack(params, true);
    refuseNextToken(params);
    return `<StackResourceSummaries>${members(
      stack.resources.map(
        (r) =>
          el('LogicalResourceId', r.logicalResourceId) +
          el('PhysicalResourceId', r.physicalResourceId) +
          el('ResourceType', r.resourceType) +
          el('ResourceStatus', 'CREATE_COMPLETE') +
          el('LastUpdatedTimestamp', timestamp) +
          `<DriftInformation>${el('StackResourceDriftStatus', 'NOT_CHECKED')}</DriftInformation>`,
      ),
    )}</StackResourceSummaries>`;
  };

  const describeStacks = (params: URLSearchParams): string => {
    // Without StackName, DescribeStacks describes every stack of the account: here, the one.
    requireStack(params, false);
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
      el('CreationTime', timestamp) +
      el('StackStatus', 'CREATE_COMPLETE') +
      el('DisableRollback', 'false') +
      el('EnableTerminationProtection', 'false') +
      `<Outputs>${outputs}</Outputs><Tags/>`
    }</member></Stacks>`;
  };

  const listExports = (params: URLSearchParams): string => {
    refuseNextToken(params);
    const exported = stack.outputs.filter((out) => out.exportName !== undefined);
    return `<Exports>${members(
      exported.map(
        (out) => el('ExportingStackId', stack.stackId) + el('Name', out.exportName) + el('Value', out.value),
      ),
    )}</Exports>`;
  };

  const actions: Record<string, (params: URLSearchParams) => string> = {
    ListStackResources: listStackResources,
    DescribeStacks: describeStacks,
    ListExports: listExports,
  };

  const sendXml = (res: ServerResponse, status: number, requestId: string, xml: string): void => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
    res.statusCode = status;
    res.setHeader('content-type', 'text/xml');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.setHeader('x-amzn-requestid', requestId);
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'POST' || url.pathname !== '/') {
      throw new CloudFormationApiError('InvalidAction', `No route for ${req.method} ${url.pathname}`, {
        statusCode: 404,
      });
    }
    const body = await readBody(
      req,
      MAX_BODY_BYTES,
      () =>
        new CloudFormationApiError('RequestEntityTooLarge', 'Request body too large', { statusCode: 413 }),
    );
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const version = params.get('Version');
    if (version !== null && version !== API_VERSION) {
      throw new CloudFormationApiError(
        'InvalidParameterValue',
        `Version ${version} is not supported; CloudFormation's API version is ${API_VERSION}`,
      );
    }
    const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (run === undefined) {
      throw new CloudFormationApiError(
        'InvalidAction',
        `The local CloudFormation answers ${Object.keys(actions).join(', ')} only (got ${action === '' ? 'no Action' : action})`,
      );
    }
    const result = run(params);
    sendXml(
      res,
      200,
      requestId,
      `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result>` +
        `<ResponseMetadata>${el('RequestId', requestId)}</ResponseMetadata></${action}Response>`,
    );
  };

  const server = createServer((req, res) => {
    const requestId = randomUUID();
    handle(req, res, requestId).catch((error: unknown) => {
      const apiError =
        error instanceof CloudFormationApiError
          ? error
          : new CloudFormationApiError(
              'InternalFailure',
              error instanceof Error ? error.message : String(error),
              {
                statusCode: 500,
                cause: error,
              },
            );
      // A bug in the stand-in, not a modelled AWS error: say so loudly.
      if (!(error instanceof CloudFormationApiError))
        console.error('[local cloudformation] internal error', error);
      sendXml(
        res,
        apiError.statusCode,
        requestId,
        `<ErrorResponse xmlns="${XMLNS}"><Error>${
          el('Type', apiError.type) + el('Code', apiError.code) + el('Message', apiError.message)
        }</Error>${el('RequestId', requestId)}</ErrorResponse>`,
      );
    });
  });
  const listener = await listenOnLoopback(server, o.port);
  return { ...listener, stack };
};
