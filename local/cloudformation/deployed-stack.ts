/** The stack `sls deploy` would leave behind, computed from serverless.yml with the local stack's physical ids. */
import { createHash } from 'node:crypto';
import {
  type IntrinsicContext,
  resolveIntrinsics,
  type ServerlessConfig,
  UnresolvableReferenceError,
} from '../stack/serverless-config';

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
