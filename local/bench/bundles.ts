/** The bundle part of the benchmark: each function's bundle size and its module-load time against the same handler unbundled. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildFunctions, buildUnbundled } from '../lambda/bundles';
import type { LambdaFunctionSpec } from '../lambda/functions';
import { type EsbuildConfig, intrinsicContext, loadServerlessConfig } from '../stack/serverless-config';
import { functionSpecs } from '../stack/specs';
import { BenchError } from './measure';

export interface BundleFigures {
  key: string;
  /** The bundle as serverless.yml's custom.esbuild builds it (the local stack runs the same file). */
  file: string;
  bytes: number;
  /** Its source map, when serverless.yml asks for one (read only with --enable-source-maps). */
  mapBytes: number | null;
  /** Median over the samples of `await import(bundle)`, timed inside a fresh `node` process (spawn excluded). */
  loadMs: number;
  /** The same for the handler unbundled: our code in one file, every package from node_modules at run time. */
  unbundledLoadMs: number;
  loadRatio: number;
  /** CPU time (user + system) of the same imports: less moved than wall time by other processes on the machine. */
  loadCpuMs: number;
  unbundledLoadCpuMs: number;
  loadCpuRatio: number;
}

export interface ZipSize {
  file: string;
  bytes: number;
}

export interface BundleReport {
  maxBytes: number;
  medianBytes: number;
  loadRatioMedian: number;
  loadCpuRatioMedian: number;
  /** Fresh processes per bundle and per unbundled handler. */
  samples: number;
  functions: BundleFigures[];
  /** `.serverless/*.zip` of the last `sls package` (the bench never packages); empty when there is none. */
  zips: ZipSize[];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
};

const sizeOf = (file: string): number | null => statSync(file, { throwIfNoEntry: false })?.size ?? null;

// Runs in the child: the load alone is timed, after Node.js itself has started. Like the Node.js Lambda runtime,
// it require()s a CommonJS file and import()s only an ES module: import() of a .js file would add Node's module
// format detection and CommonJS export scan (about half the time measured for a 500 KB bundle).
const LOAD_SCRIPT = [
  "import { createRequire } from 'node:module';",
  "import { pathToFileURL } from 'node:url';",
  'const file = process.env.BENCH_MODULE_FILE;',
  'const cpu = process.cpuUsage();',
  'const started = performance.now();',
  "if (file.endsWith('.mjs')) await import(pathToFileURL(file).href);",
  'else createRequire(import.meta.url)(file);',
  'const ms = performance.now() - started;',
  'const { user, system } = process.cpuUsage(cpu);',
  'process.stdout.write(JSON.stringify({ ms, cpuMs: (user + system) / 1000 }));',
].join('\n');

interface LoadTime {
  ms: number;
  cpuMs: number;
}

/** One fresh `node` process importing `file` with the function's environment (NODE_OPTIONS included, as on Lambda). */
const timeImport = (file: string, environment: Record<string, string>): Promise<LoadTime> =>
  new Promise((resolveMs, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '--eval', LOAD_SCRIPT], {
      env: { PATH: process.env.PATH ?? '', ...environment, BENCH_MODULE_FILE: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolveMs(JSON.parse(Buffer.concat(out).toString('utf8')) as LoadTime);
      else
        reject(
          new BenchError(`Loading ${file} failed (exit ${code}): ${Buffer.concat(err).toString('utf8')}`),
        );
    });
  });

/** The environment a handler module needs at init: the function's own, plus what Lambda always sets. */
const initEnvironment = (spec: LambdaFunctionSpec, region: string): Record<string, string> => ({
  AWS_REGION: region,
  AWS_LAMBDA_FUNCTION_NAME: spec.name,
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
  ...spec.environment,
});

const packagedZips = (rootDir: string): ZipSize[] => {
  const packageDir = join(rootDir, '.serverless');
  if (!existsSync(packageDir)) return [];
  return readdirSync(packageDir)
    .filter((name) => name.endsWith('.zip'))
    .sort()
    .map((name) => ({ file: join('.serverless', name), bytes: sizeOf(join(packageDir, name)) ?? 0 }));
};

interface Target {
  spec: LambdaFunctionSpec;
  bundled: string;
  unbundled: string;
  env: Record<string, string>;
}

type Samples = { bundled: LoadTime[]; unbundled: LoadTime[] };

/** Samples every bundle and its unbundled twin in turn, so both see the same machine load. */
const sampleLoads = async (targets: Target[], samples: number): Promise<Map<string, Samples>> => {
  const times = new Map<string, Samples>();
  // One unrecorded import of each unbundled handler first, so that node_modules is in the page cache: both then
  // read from memory (each bundle was just written or checked).
  for (const t of targets) await timeImport(t.unbundled, t.env);
  for (let round = 0; round < samples; round += 1) {
    for (const t of targets) {
      const s = times.get(t.spec.key) ?? { bundled: [], unbundled: [] };
      s.bundled.push(await timeImport(t.bundled, t.env));
      s.unbundled.push(await timeImport(t.unbundled, t.env));
      times.set(t.spec.key, s);
    }
  }
  return times;
};

/**
 * Builds every function of serverless.yml as serverless-esbuild would (cached in the local build dir) and
 * unbundled, then times `samples` imports of each in fresh processes. About 7 functions x (2 x samples + 1)
 * processes of some 0.2-0.5 s each on an idle machine: keep samples small (5: under a minute on 2 cores).
 */
export const measureBundles = async (o: { rootDir: string; samples?: number }): Promise<BundleReport> => {
  const samples = o.samples ?? 5;
  const config = await loadServerlessConfig({ rootDir: o.rootDir, stage: 'local' });
  const specs = functionSpecs(config, intrinsicContext(config));
  const esbuild: EsbuildConfig = config.esbuild;
  const [built, unbundled] = await Promise.all([
    buildFunctions({ functions: specs, esbuild, rootDir: o.rootDir }),
    buildUnbundled({ functions: specs, esbuild, rootDir: o.rootDir }),
  ]);
  const targets: Target[] = specs.map((spec, i) => {
    const bundled = built.builds.find((b) => b.key === spec.key);
    const twin = unbundled[i];
    if (bundled === undefined || twin === undefined) throw new BenchError(`No bundle for ${spec.key}`);
    return {
      spec,
      bundled: bundled.outfile,
      unbundled: twin.outfile,
      env: initEnvironment(spec, config.region),
    };
  });
  const times = await sampleLoads(targets, samples);
  const functions = targets
    .map(({ spec, bundled }): BundleFigures => {
      const s = times.get(spec.key) ?? { bundled: [], unbundled: [] };
      const loadMs = median(s.bundled.map((t) => t.ms));
      const unbundledLoadMs = median(s.unbundled.map((t) => t.ms));
      const loadCpuMs = median(s.bundled.map((t) => t.cpuMs));
      const unbundledLoadCpuMs = median(s.unbundled.map((t) => t.cpuMs));
      return {
        key: spec.key,
        file: relative(o.rootDir, bundled),
        bytes: sizeOf(bundled) ?? 0,
        mapBytes: sizeOf(`${bundled}.map`),
        loadMs,
        unbundledLoadMs,
        loadRatio: loadMs / unbundledLoadMs,
        loadCpuMs,
        unbundledLoadCpuMs,
        loadCpuRatio: loadCpuMs / unbundledLoadCpuMs,
      };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
  return {
    maxBytes: Math.max(...functions.map((f) => f.bytes)),
    medianBytes: median(functions.map((f) => f.bytes)),
    loadRatioMedian: median(functions.map((f) => f.loadRatio)),
    loadCpuRatioMedian: median(functions.map((f) => f.loadCpuRatio)),
    samples,
    functions,
    zips: packagedZips(o.rootDir),
  };
};
