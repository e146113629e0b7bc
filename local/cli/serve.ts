/** `sovereign-agent serve`: the local stack on stable ports until Ctrl-C or SIGTERM, then a prompt, bounded stop. */
import { LocalError } from '../aws/errors';
import { portBaseFromEnv } from '../stack/ports';
import { findRunningStack } from '../stack/stack-file';
import { startLocalStack } from '../stack/start';
import { exportLines } from './env';

/**
 * How long a stop may take. A run in flight keeps requests open (a model answer, a tool, an execution) that the
 * services would wait for; nobody wants to wait minutes for Ctrl-C, so past this the process exits anyway, and
 * DynamoDB Local goes with it (its watchdog sees this process end).
 */
const STOP_DEADLINE_MS = 4000;

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface ServeIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const nextSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    const handlers = STOP_SIGNALS.map((signal) => {
      const handler = (): void => {
        for (const [s, h] of handlers) process.removeListener(s, h);
        resolve(signal);
      };
      process.on(signal, handler);
      return [signal, handler] as const;
    });
  });

/** Serves until a signal; returns the exit code (1 when the stack cannot start: a port taken, one already served). */
export const serve = async (dataDir: string, io: ServeIo): Promise<number> => {
  if (await findRunningStack(dataDir)) {
    io.err(`error: a local stack is already being served for ${dataDir} (\`sovereign-agent env\` prints it)`);
    return 1;
  }
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    const portBase = portBaseFromEnv();
    stack = await startLocalStack({ dataDir, log: io.err, ...(portBase === undefined ? {} : { portBase }) });
  } catch (error) {
    if (!(error instanceof LocalError)) throw error;
    io.err(`error: ${error.message}`);
    return 1;
  }
  io.out(
    '# local stack up; for sls invoke local and SDK clients (`sovereign-agent env` prints these again):',
  );
  for (const line of exportLines(stack.env)) io.out(line);
  io.err('serving; Ctrl-C stops');

  const signal = await nextSignal();
  io.err(`${signal}: stopping the local stack`);
  // A second signal does not wait for anything.
  void nextSignal().then(() => process.exit(130));
  const stopped = await Promise.race([
    stack.stop().then(
      () => true,
      (error: unknown) => {
        io.err(`stopping: ${(error as Error).message}`);
        return true;
      },
    ),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), STOP_DEADLINE_MS).unref()),
  ]);
  if (!stopped)
    io.err(`the stack did not stop within ${STOP_DEADLINE_MS / 1000} s (a run in flight); exiting`);
  // Open requests of a run in flight would keep the event loop alive after stop(): end the process here.
  process.exit(0);
};
