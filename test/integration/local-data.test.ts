/** Tests keep to their own data folder: no bundle, cache or log of the suite lands in the repo's .local. */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startLambdaService } from '../../local/lambda/api';
import { fixtureFunctions } from '../fixtures/lambda/functions';
import { root } from './helpers';

jest.setTimeout(60_000);

const mtimeOf = (file: string): number | undefined => statSync(file, { throwIfNoEntry: false })?.mtimeMs;

describe('the integration suite', () => {
  it('runs with a data dir outside the repo, where the test-only bundles go', async () => {
    // Prepare
    const dataDir = process.env.SOVEREIGN_AGENT_DATA_DIR;
    // The bundle sits in its function's task root at the handler's path, as in the function's zip.
    const bundlePath = join('echo', 'test', 'fixtures', 'lambda', 'echo.js');
    const repoBundle = join(root, '.local', 'build', bundlePath);
    const before = mtimeOf(repoBundle);
    const workDir = mkdtempSync(join(tmpdir(), 'local-data-'));

    // Act: the Lambda stand-in with the fixture functions and no buildDir, as the contract tests start it.
    const service = await startLambdaService({
      functions: fixtureFunctions(join(workDir, 'side-effects.log')).filter((f) => f.key === 'echo'),
      region: 'us-east-1',
      esbuild: { bundle: true, format: 'cjs', platform: 'node', target: 'node22' },
      rootDir: root,
      logDir: join(workDir, 'logs'),
    });
    await service.close();

    // Assess
    expect(dataDir).toBeDefined();
    expect(relative(root, dataDir ?? root).startsWith('..')).toBe(true);
    expect(existsSync(join(dataDir ?? '', 'build', bundlePath))).toBe(true);
    // An echo.js left by an older suite may be there; this run did not write it.
    expect(mtimeOf(repoBundle)).toBe(before);
  });
});
