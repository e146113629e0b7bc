/**
 * The packaged CloudFormation template of a stage (`sls package --stage S --param k=v`, offline, in a copy of the
 * source tree), with its Conditions applied as CloudFormation would at deploy time.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse } from 'yaml';

export const repoRoot = resolve(__dirname, '..', '..');
const root = repoRoot;
const SKIPPED = new Set(['node_modules', '.git', '.local', '.esbuild', '.serverless', 'coverage']);

export interface TemplateResource {
  Type: string;
  Condition?: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  [key: string]: unknown;
}
export interface CloudFormationTemplate {
  Conditions?: Record<string, unknown>;
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

const runSlsPackage = (serviceDir: string, outDir: string, args: string[]): Promise<void> => {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Packaging must need no AWS account: no profile, keys or endpoints reach it.
    if (!name.startsWith('AWS_')) env[name] = value;
  }
  Object.assign(env, { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' });
  const bin = join(serviceDir, 'node_modules', '.bin', 'sls');
  return new Promise((ok, fail) => {
    const child = spawn(bin, ['package', ...args, '--package', outDir], {
      cwd: serviceDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0
        ? ok()
        : fail(
            new Error(
              `sls package ${args.join(' ')} exited ${code}:\n${Buffer.concat(output).toString('utf8')}`,
            ),
          ),
    );
  });
};

/**
 * Packages the service at `stage` with `params` (`--param name=value`) in a copy of the source tree (node_modules
 * linked), so serverless-esbuild's work folder cannot collide with another `sls` run in the repository.
 */
export const packageRawTemplate = async (
  stage: string,
  params: Record<string, string> = {},
  whileRunning?: () => void,
): Promise<CloudFormationTemplate> => {
  const workDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-template-'));
  try {
    const serviceDir = join(workDir, 'service');
    cpSync(root, serviceDir, { recursive: true, filter: (source) => !SKIPPED.has(basename(source)) });
    symlinkSync(join(root, 'node_modules'), join(serviceDir, 'node_modules'), 'dir');
    const outDir = join(workDir, 'package');
    const paramArgs = Object.entries(params).flatMap(([name, value]) => ['--param', `${name}=${value}`]);
    const packaged = runSlsPackage(serviceDir, outDir, ['--stage', stage, ...paramArgs]);
    try {
      // Synchronous work (the IAM test's call-graph walk) runs while sls packages in its own process.
      whileRunning?.();
    } catch (error) {
      await packaged.catch(() => undefined);
      throw error;
    }
    await packaged;
    return JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
};

const NO_VALUE = Symbol('AWS::NoValue');

/** A condition's value; the params are literals once packaged, so Fn::Equals compares two strings. */
const evaluateCondition = (conditions: Record<string, unknown>, value: unknown): boolean => {
  const node = value as Record<string, unknown[]>;
  if ('Condition' in node) return evaluateCondition(conditions, conditions[String(node.Condition)]);
  if ('Fn::Equals' in node) {
    const [a, b] = node['Fn::Equals'] ?? [];
    if (typeof a !== 'string' || typeof b !== 'string')
      throw new Error(`Fn::Equals of non-literals: ${JSON.stringify(node)}`);
    return a === b;
  }
  if ('Fn::Not' in node) return !evaluateCondition(conditions, node['Fn::Not']?.[0]);
  if ('Fn::And' in node) return (node['Fn::And'] ?? []).every((c) => evaluateCondition(conditions, c));
  if ('Fn::Or' in node) return (node['Fn::Or'] ?? []).some((c) => evaluateCondition(conditions, c));
  throw new Error(`condition not understood: ${JSON.stringify(node)}`);
};

/**
 * The template CloudFormation would deploy: resources and outputs whose Condition is false dropped, each Fn::If
 * replaced by its chosen branch, AWS::NoValue removed (a property, or an element of a list).
 */
export const resolveConditions = (template: CloudFormationTemplate): CloudFormationTemplate => {
  const conditions = template.Conditions ?? {};
  const truth = new Map(
    Object.keys(conditions).map((name) => [name, evaluateCondition(conditions, conditions[name])]),
  );
  const holds = (name: unknown): boolean => {
    const value = truth.get(String(name));
    if (value === undefined) throw new Error(`unknown condition ${String(name)}`);
    return value;
  };
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk).filter((item) => item !== NO_VALUE);
    if (typeof value !== 'object' || value === null) return value;
    const record = value as Record<string, unknown>;
    if ('Fn::If' in record) {
      const [name, yes, no] = record['Fn::If'] as unknown[];
      return walk(holds(name) ? yes : no);
    }
    if (record.Ref === 'AWS::NoValue') return NO_VALUE;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(record)) {
      const resolved = walk(inner);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  };
  const kept = <T extends { Condition?: unknown }>(entries: Record<string, T>) =>
    Object.fromEntries(
      Object.entries(entries).filter(([, r]) => r.Condition === undefined || holds(r.Condition)),
    );
  return {
    ...template,
    Resources: walk(kept(template.Resources)) as Record<string, TemplateResource>,
    Outputs: walk(kept((template.Outputs ?? {}) as Record<string, { Condition?: unknown }>)) as Record<
      string,
      unknown
    >,
  };
};

/** `packageRawTemplate` with its conditions resolved: what a deploy of that stage and those params creates. */
export const packageTemplate = async (
  stage: string,
  params: Record<string, string> = {},
  whileRunning?: () => void,
): Promise<CloudFormationTemplate> =>
  resolveConditions(await packageRawTemplate(stage, params, whileRunning));

export type Template = CloudFormationTemplate;

/**
 * The actions a role may hold on `Resource: "*"` because AWS offers no narrower resource: X-Ray's, and the log
 * delivery actions serverless-step-functions grants the state machine's role for its loggingConfig
 * (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
 */
export const XRAY_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
]);
export const LOG_DELIVERY_ACTIONS = new Set([
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

/** How many functions serverless.yml declares (its `functions:` keys): what every per-function check must cover. */
export const declaredFunctionCount = (): number => {
  const config = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8')) as { functions: object };
  return Object.keys(config.functions).length;
};

/** The resources of one CloudFormation type, by logical id. */
export const resourcesOfType = (template: Template, type: string): [string, TemplateResource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
