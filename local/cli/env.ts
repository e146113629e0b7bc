/** `sovereign-agent env`: the `export` lines of the stack `serve` runs now, for `sls invoke local` and SDK clients. */
import { findRunningStack } from '../stack/stack-file';

/** `export NAME=value` lines, one per variable, as `serve` prints them and a shell `eval`s them. */
export const exportLines = (env: Record<string, string>): string[] =>
  Object.entries(env).map(([name, value]) => `export ${name}=${value}`);

/**
 * Prints the served stack's variables and returns 0, or says that nothing is served for `dataDir` and returns 1:
 * ports stay the same across restarts of `serve`, but this is the way to be sure (`eval "$(sovereign-agent env)"`).
 */
export const printEnv = async (
  dataDir: string,
  io: { out: (line: string) => void; err: (line: string) => void },
): Promise<number> => {
  const running = await findRunningStack(dataDir);
  if (running === undefined) {
    io.err(`No local stack is being served for ${dataDir}: start one with \`sovereign-agent serve\``);
    return 1;
  }
  io.out(`# local stack served by pid ${running.pid} since ${running.startedAt}`);
  for (const line of exportLines(running.env)) io.out(line);
  return 0;
};
