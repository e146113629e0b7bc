/** Where local data lives: SOVEREIGN_AGENT_DATA_DIR, else `<repo>/.local`; bundles and the `sls print` cache go there too. */
import { join, resolve } from 'node:path';

/** The repository root holding serverless.yml: the parent of local/. */
export const defaultRootDir = (): string => resolve(__dirname, '..', '..');

/** The variable that moves all local data (tests point it at a temp dir, so they never write the repo's .local). */
export const DATA_DIR_VARIABLE = 'SOVEREIGN_AGENT_DATA_DIR';

export const defaultDataDir = (rootDir: string = defaultRootDir()): string =>
  resolve(process.env[DATA_DIR_VARIABLE] ?? join(rootDir, '.local'));

/** Function bundles (esbuild), cached between starts. */
export const defaultBuildDir = (rootDir: string = defaultRootDir()): string =>
  join(defaultDataDir(rootDir), 'build');

/** Printed serverless.yml configurations, keyed by the hash of their inputs. */
export const defaultCacheDir = (rootDir: string = defaultRootDir()): string =>
  join(defaultDataDir(rootDir), 'cache');
