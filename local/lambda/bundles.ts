/**
 * esbuild bundles of the functions (with serverless.yml's esbuild options) and of the worker runtime, cached on disk.
 * Each function gets a task root laid out as its zip is: the bundle at the handler's path, its package files at
 * theirs, so code that reads a file next to itself finds it locally as it does on Lambda.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { type BuildOptions, type BuildResult, build, version as esbuildVersion } from 'esbuild';
import { defaultBuildDir } from '../stack/data-dir';
import type { EsbuildConfig } from '../stack/serverless-config';
import { LambdaBuildError, LambdaServiceError } from './errors';
import type { LambdaFunctionSpec } from './functions';

export interface BuildReport {
  key: string;
  /** `<buildDir>/<key>/<handler path>.js` for a function (its task root is `<buildDir>/<key>`). */
  outfile: string;
  cached: boolean;
  ms: number;
}

export interface BuiltFunctions {
  /** The bundled worker bootstrap (local/lambda/worker.ts). */
  runtimeFile: string;
  entries: { spec: LambdaFunctionSpec; file: string; exportName: string }[];
  builds: BuildReport[];
  buildMs: number;
}

const HANDLER_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

/** `functions/x/handler.handler` -> the source file and the export name. */
const handlerEntry = (rootDir: string, handler: string): { file: string; exportName: string } => {
  const dot = handler.lastIndexOf('.');
  const modulePath = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  for (const ext of HANDLER_EXTENSIONS) {
    const file = resolve(rootDir, `${modulePath}${ext}`);
    if (existsSync(file)) return { file, exportName };
  }
  throw new LambdaBuildError(
    `Handler ${handler}: no ${modulePath}{${HANDLER_EXTENSIONS.join(',')}} under ${rootDir}`,
  );
};

/** esbuild's options from custom.esbuild, as serverless-esbuild passes them (its own defaults where it has one). */
export const esbuildOptions = (config: EsbuildConfig): BuildOptions => {
  const exclude = config.exclude;
  return {
    bundle: config.bundle ?? true,
    minify: config.minify ?? false,
    sourcemap: config.sourcemap ?? false,
    ...(config.sourcesContent === undefined ? {} : { sourcesContent: config.sourcesContent }),
    target: config.target ?? 'node22',
    platform: config.platform ?? 'node',
    format: config.format ?? 'cjs',
    keepNames: config.keepNames ?? false,
    ...(exclude === '*' ? { packages: 'external' as const } : {}),
    external: [...(config.external ?? []), ...(Array.isArray(exclude) ? exclude : [])],
    ...(config.define === undefined ? {} : { define: config.define }),
    ...(config.mainFields === undefined ? {} : { mainFields: config.mainFields }),
    ...(config.conditions === undefined ? {} : { conditions: config.conditions }),
    ...(config.alias === undefined ? {} : { alias: config.alias }),
  };
};

/** What a bundle was built from: the options' hash and every input file's mtime and size. */
interface BuildSignature {
  options: string;
  inputs: Record<string, [number, number]>;
}

const optionsHash = (entry: string, options: BuildOptions): string =>
  createHash('sha256').update(JSON.stringify({ esbuildVersion, entry, options })).digest('hex');

const upToDate = (signaturePath: string, outfile: string, hash: string, rootDir: string): boolean => {
  if (!existsSync(signaturePath) || !existsSync(outfile)) return false;
  try {
    const signature = JSON.parse(readFileSync(signaturePath, 'utf8')) as BuildSignature;
    if (signature.options !== hash) return false;
    for (const [input, [mtimeMs, size]] of Object.entries(signature.inputs)) {
      const stat = statSync(resolve(rootDir, input), { throwIfNoEntry: false });
      if (stat === undefined || stat.mtimeMs !== mtimeMs || stat.size !== size) return false;
    }
    return true;
  } catch {
    return false;
  }
};

const buildFailure = (cause: unknown, entry: string, rootDir: string): LambdaBuildError => {
  const detail =
    cause !== null && typeof cause === 'object' && 'errors' in cause && Array.isArray(cause.errors)
      ? (cause.errors as { text: string; location?: { file: string; line: number } | null }[])
          .map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`)
          .join('\n')
      : String(cause);
  return new LambdaBuildError(`esbuild failed for ${relative(rootDir, entry)}:\n${detail}`, { cause });
};

/** Writes the outputs and the signature, each to a temp file renamed into place: parallel test workers share the dir. */
const writeOutputs = (
  result: BuildResult<{ metafile: true; write: false }>,
  signaturePath: string,
  hash: string,
  rootDir: string,
): void => {
  const suffix = `.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  // The map first: a reader that sees the new bundle also finds its map.
  const files = [...result.outputFiles].sort(
    (a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')),
  );
  for (const file of files) {
    writeFileSync(`${file.path}${suffix}`, file.contents);
    renameSync(`${file.path}${suffix}`, file.path);
  }
  const inputs: BuildSignature['inputs'] = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const stat = statSync(resolve(rootDir, input), { throwIfNoEntry: false });
    if (stat !== undefined) inputs[input] = [stat.mtimeMs, stat.size];
  }
  writeFileSync(
    `${signaturePath}${suffix}`,
    JSON.stringify({ options: hash, inputs } satisfies BuildSignature),
  );
  renameSync(`${signaturePath}${suffix}`, signaturePath);
};

/** A function's task root: what Lambda extracts its zip into (LAMBDA_TASK_ROOT). */
export const taskRootOf = (buildDir: string, key: string): string => join(buildDir, key);

/** Where the zip holds a handler's bundle: `functions/x/handler.handler` -> `functions/x/handler.js`. */
const bundlePathOf = (handler: string): string => `${handler.slice(0, handler.lastIndexOf('.'))}.js`;

/** Copies the function's package files into its task root at their paths (every build: they are data, not inputs). */
const copyPackageFiles = (spec: LambdaFunctionSpec, rootDir: string, buildDir: string): void => {
  for (const file of spec.packageFiles ?? []) {
    const target = join(taskRootOf(buildDir, spec.key), file);
    mkdirSync(dirname(target), { recursive: true });
    // Through a temp file renamed into place: parallel test workers share the build dir.
    const temp = `${target}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    copyFileSync(resolve(rootDir, file), temp);
    renameSync(temp, target);
  }
};

/**
 * Bundles one entry into `outfile` (under `buildDir`) unless its inputs (esbuild's metafile) and options are
 * unchanged; the signature sits beside it as `<buildDir>/<name>.inputs.json`.
 */
const bundle = async (
  entry: string,
  name: string,
  options: BuildOptions,
  rootDir: string,
  buildDir: string,
  outfile = join(buildDir, `${name}.js`),
): Promise<BuildReport> => {
  const started = performance.now();
  const signaturePath = join(buildDir, `${name}.inputs.json`);
  const hash = optionsHash(entry, options);
  if (upToDate(signaturePath, outfile, hash, rootDir)) {
    return { key: name, outfile, cached: true, ms: performance.now() - started };
  }
  mkdirSync(dirname(outfile), { recursive: true });
  let result: BuildResult<{ metafile: true; write: false }>;
  try {
    result = await build({
      ...options,
      entryPoints: [entry],
      outfile,
      absWorkingDir: rootDir,
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
  } catch (cause) {
    throw buildFailure(cause, entry, rootDir);
  }
  writeOutputs(result, signaturePath, hash, rootDir);
  return { key: name, outfile, cached: false, ms: performance.now() - started };
};

/**
 * Bundles the runtime bootstrap and every function (in parallel: esbuild runs the builds concurrently). Also
 * used by the integration global-setup to warm the test run's `<data dir>/build` once for all test workers.
 */
export const buildFunctions = async (o: {
  functions: LambdaFunctionSpec[];
  esbuild: EsbuildConfig;
  rootDir: string;
  buildDir?: string;
}): Promise<BuiltFunctions> => {
  const buildDir = o.buildDir ?? defaultBuildDir(o.rootDir);
  const started = performance.now();
  const bundleOptions = esbuildOptions(o.esbuild);
  const workerSource = join(__dirname, 'worker.ts');
  const entries = o.functions.map((spec) => ({ spec, ...handlerEntry(o.rootDir, spec.handler) }));
  const [runtimeBuild, ...builds] = await Promise.all([
    bundle(
      workerSource,
      '_lambda-runtime',
      { bundle: true, platform: 'node', format: 'cjs', target: 'node22', sourcemap: false },
      dirname(workerSource),
      buildDir,
    ),
    ...entries.map(({ spec, file }) =>
      bundle(
        file,
        spec.key,
        bundleOptions,
        o.rootDir,
        buildDir,
        join(taskRootOf(buildDir, spec.key), bundlePathOf(spec.handler)),
      ),
    ),
  ]);
  for (const { spec } of entries) copyPackageFiles(spec, o.rootDir, buildDir);
  if (runtimeBuild === undefined) throw new LambdaServiceError('The Lambda runtime bootstrap was not built');
  return { runtimeFile: runtimeBuild.outfile, entries, builds, buildMs: performance.now() - started };
};

/**
 * The same handlers with every package left to node_modules (`packages: 'external'`, no source map): our code in
 * one file, each dependency loaded from node_modules at run time, as without a bundler. The benchmark's baseline
 * for module-load time. Always under `<repo>/.local` (not the data dir, which tests move to a temp dir), so that
 * Node.js resolves the packages from the repository's node_modules.
 */
export const buildUnbundled = async (o: {
  functions: LambdaFunctionSpec[];
  esbuild: EsbuildConfig;
  rootDir: string;
}): Promise<BuildReport[]> => {
  const buildDir = join(o.rootDir, '.local', 'unbundled');
  const options: BuildOptions = { ...esbuildOptions(o.esbuild), packages: 'external', sourcemap: false };
  return Promise.all(
    o.functions.map((spec) =>
      bundle(
        handlerEntry(o.rootDir, spec.handler).file,
        spec.key,
        options,
        o.rootDir,
        buildDir,
        join(taskRootOf(buildDir, spec.key), bundlePathOf(spec.handler)),
      ),
    ),
  );
};
