/**
 * The function bundles as serverless.yml's custom.esbuild builds them: each loads on its own in a fresh Node.js
 * process and exports its handler, and each carries only the clients its function calls (esbuild's metafile).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { esbuildOptions } from '../../local/lambda/bundles';
import type { LambdaFunctionSpec } from '../../local/lambda/functions';
import {
  intrinsicContext,
  loadServerlessConfig,
  type ServerlessConfig,
} from '../../local/stack/serverless-config';
import { functionSpecs } from '../../local/stack/specs';
import { root } from './helpers';

interface Built {
  spec: LambdaFunctionSpec;
  outfile: string;
  /** Input files that left code in the bundle (a type-only or tree-shaken import leaves none). */
  inputs: string[];
}

/** `functions/x/handler.handler` -> the export name. */
const exportName = (handler: string): string => handler.slice(handler.lastIndexOf('.') + 1);

const buildOne = async (
  config: ServerlessConfig,
  spec: LambdaFunctionSpec,
  outDir: string,
): Promise<Built> => {
  const outfile = join(outDir, `${spec.key}.js`);
  const modulePath = spec.handler.slice(0, spec.handler.lastIndexOf('.'));
  const result = await build({
    ...esbuildOptions(config.esbuild),
    entryPoints: [join(root, `${modulePath}.ts`)],
    outfile,
    absWorkingDir: root,
    metafile: true,
    logLevel: 'silent',
  });
  const outputs: Metafile['outputs'] = result.metafile.outputs;
  const output = Object.entries(outputs).find(([path]) => !path.endsWith('.map'))?.[1];
  const inputs = Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path);
  return { spec, outfile, inputs };
};

/** Loads the bundle as the Node.js runtime does (require, for CommonJS) and reports what `handler` is. */
const loadInFreshProcess = (b: Built): Promise<string> =>
  new Promise((resolveOutput, reject) => {
    const script = `process.stdout.write(typeof require(process.argv[1])[${JSON.stringify(exportName(b.spec.handler))}])`;
    const child = spawn(process.execPath, ['-e', script, b.outfile], {
      env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', ...b.spec.environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolveOutput(code === 0 ? Buffer.concat(out).toString('utf8') : `exit ${code}: ${Buffer.concat(err)}`),
    );
  });

const fromPackage = (inputs: string[], name: string): string[] =>
  inputs.filter((path) => path.includes(`node_modules/${name}/`));

let outDir: string;
let config: ServerlessConfig;
let bundles: Built[];

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-bundles-'));
  config = await loadServerlessConfig({ rootDir: root, stage: 'local' });
  const specs = functionSpecs(config, intrinsicContext(config));
  bundles = await Promise.all(specs.map((spec) => buildOne(config, spec, outDir)));
}, 120_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('function bundles (serverless.yml custom.esbuild)', () => {
  it('are CommonJS, and each loads alone in a fresh process and exports its handler', async () => {
    expect(config.esbuild).toMatchObject({ format: 'cjs', bundle: true, exclude: [] });
    const loaded: Record<string, string> = {};
    for (const b of bundles) loaded[b.spec.key] = await loadInFreshProcess(b);
    expect(loaded).toEqual(Object.fromEntries(bundles.map((b) => [b.spec.key, 'function'])));
  }, 120_000);

  it('carry the Bedrock Runtime client only in plan, the one function that calls a model', () => {
    const withBedrock = bundles
      .filter((b) => fromPackage(b.inputs, '@aws-sdk/client-bedrock-runtime').length > 0)
      .map((b) => b.spec.key);
    expect(withBedrock).toEqual(['plan']);
  });

  it('carry the tool-schema validator (ajv) only where tool input is validated, not in plan', () => {
    // Act
    const withAjv = bundles
      .filter((b) => fromPackage(b.inputs, 'ajv').length > 0)
      .map((b) => b.spec.key)
      .sort();

    // Assess
    expect(withAjv).toEqual(['billingActionGroup', 'runTool']);
  });

  it("leave the billing action group's sample data out of its bundle: the package carries the files beside it", () => {
    // Act
    const billing = bundles.find((b) => b.spec.key === 'billingActionGroup');

    // Assess
    expect(billing?.inputs.filter((path) => path.endsWith('.json') && path.includes('/data/'))).toEqual([]);
    expect(billing?.spec.packageFiles).toEqual([
      'functions/action-groups/billing/data/acme.json',
      'functions/action-groups/billing/data/globex.json',
      'functions/action-groups/billing/data/initech.json',
    ]);
  });

  it('take credentials from the environment only: no SSO, INI, process or web-identity providers', () => {
    const chain = [
      '@aws-sdk/credential-provider-node',
      '@aws-sdk/credential-provider-ini',
      '@aws-sdk/credential-provider-sso',
      '@aws-sdk/credential-provider-process',
      '@aws-sdk/credential-provider-web-identity',
      '@aws-sdk/credential-provider-login',
    ];
    for (const b of bundles) {
      expect({ key: b.spec.key, chain: chain.flatMap((name) => fromPackage(b.inputs, name)) }).toEqual({
        key: b.spec.key,
        chain: [],
      });
      expect(fromPackage(b.inputs, '@aws-sdk/credential-provider-env').length).toBeGreaterThan(0);
    }
  });

  it("keep zod's English messages only (zod imported as a namespace, so its other locales are dropped)", () => {
    for (const b of bundles) {
      const locales = b.inputs.filter((path) => path.includes('node_modules/zod/v4/locales/'));
      expect({
        key: b.spec.key,
        locales: locales.map((path) => path.slice(path.lastIndexOf('/') + 1)),
      }).toEqual({
        key: b.spec.key,
        locales: ['en.js'],
      });
    }
  });
});
