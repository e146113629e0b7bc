/** Sizes of the function bundles the local stack built, and of the packaged zips when `sls package` left some. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { BuildReport } from '../lambda/bundles';

export interface BundleSize {
  key: string;
  /** The bundle as the local stack runs it (esbuild options of serverless.yml). */
  file: string;
  bytes: number;
  /** Its source map, when serverless.yml asks for one (not loaded unless --enable-source-maps). */
  mapBytes: number | null;
}

export interface ZipSize {
  file: string;
  bytes: number;
}

export interface BundleReport {
  functions: BundleSize[];
  /** `.serverless/*.zip` of the last `sls package` (the bench never packages); empty when there is none. */
  zips: ZipSize[];
}

const sizeOf = (file: string): number | null => statSync(file, { throwIfNoEntry: false })?.size ?? null;

export const bundleSizes = (builds: BuildReport[], rootDir: string): BundleReport => {
  const functions = builds
    .map((b) => ({
      key: b.key,
      file: relative(rootDir, b.outfile),
      bytes: sizeOf(b.outfile) ?? 0,
      mapBytes: sizeOf(`${b.outfile}.map`),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
  const packageDir = join(rootDir, '.serverless');
  const zips = existsSync(packageDir)
    ? readdirSync(packageDir)
        .filter((name) => name.endsWith('.zip'))
        .sort()
        .map((name) => ({ file: join('.serverless', name), bytes: sizeOf(join(packageDir, name)) ?? 0 }))
    : [];
  return { functions, zips };
};
