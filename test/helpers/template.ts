/** Packages the service offline (`sls package --stage S --param k=v`) and returns its CloudFormation template. */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';

export const repoRoot = resolve(__dirname, '..', '..');

const resourceSchema = z.looseObject({
  Type: z.string(),
  Properties: z.record(z.string(), z.unknown()).optional(),
  Condition: z.string().optional(),
  DependsOn: z.union([z.string(), z.array(z.string())]).optional(),
});
export type TemplateResource = z.infer<typeof resourceSchema>;

const templateSchema = z.looseObject({
  Resources: z.record(z.string(), resourceSchema),
  Conditions: z.record(z.string(), z.unknown()).optional(),
  Outputs: z.record(z.string(), z.unknown()).optional(),
});
export type Template = z.infer<typeof templateSchema>;

// What the copy leaves out: installed packages (linked instead), history, local data and packaging work folders.
const SKIPPED = new Set(['node_modules', '.git', '.local', '.esbuild', '.serverless', 'coverage']);

const runSls = (serviceDir: string, args: string[]): Promise<void> => {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Packaging must need no AWS account: no profile, keys or endpoints reach it.
    if (!name.startsWith('AWS_')) env[name] = value;
  }
  Object.assign(env, { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' });
  const bin = join(serviceDir, 'node_modules', '.bin', 'sls');
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { cwd: serviceDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0
        ? ok()
        : fail(new Error(`sls ${args.join(' ')} exited ${code}:\n${Buffer.concat(output).toString('utf8')}`)),
    );
  });
};

/**
 * `sls package --stage <stage>` (with `--param name=value` for each of `params`) in a copy of the source tree
 * (node_modules linked), so serverless-esbuild's `.esbuild/` work folder cannot collide with another packaging or
 * `sls invoke local` running in the repository; the copy is removed afterwards. Runs of different variants may go in
 * parallel. `whileRunning` runs (synchronously) while sls packages in its own process.
 */
export const packageTemplate = async (
  stage: string,
  params: Record<string, string> = {},
  whileRunning?: () => void,
): Promise<Template> => {
  const workDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-template-'));
  try {
    const serviceDir = join(workDir, 'service');
    cpSync(repoRoot, serviceDir, { recursive: true, filter: (source) => !SKIPPED.has(basename(source)) });
    symlinkSync(join(repoRoot, 'node_modules'), join(serviceDir, 'node_modules'), 'dir');
    const outDir = join(workDir, 'package');
    const paramArgs = Object.entries(params).map(([name, value]) => `--param=${name}=${value}`);
    const packaged = runSls(serviceDir, ['package', '--stage', stage, '--package', outDir, ...paramArgs]);
    try {
      whileRunning?.();
    } catch (error) {
      await packaged.catch(() => undefined);
      throw error;
    }
    await packaged;
    return templateSchema.parse(
      JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')),
    );
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
};

/** The resources of one CloudFormation type, by logical id. */
export const resourcesOfType = (template: Template, type: string): [string, TemplateResource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
