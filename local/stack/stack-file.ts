/** `<dataDir>/stack.json`: how a running stack (`serve`) tells other processes (the CLI) its endpoints. */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { endpointAnswers } from '../aws/ports';

/** What `<dataDir>/stack.json` holds while a stack runs, so another process (the CLI) can use it. */
export const stackFileSchema = z.object({
  pid: z.number().int().positive(),
  env: z.record(z.string(), z.string()),
  startedAt: z.string(),
});
export type StackFile = z.infer<typeof stackFileSchema>;

const stackFilePath = (dataDir: string): string => join(dataDir, 'stack.json');

/** Writes this process's stack file atomically (rename), so a reader never sees half of it. */
const writeStackFile = (dataDir: string, env: Record<string, string>): void => {
  const stackFile: StackFile = { pid: process.pid, env, startedAt: new Date().toISOString() };
  const tmp = `${stackFilePath(dataDir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stackFile, null, 2)}\n`);
  renameSync(tmp, stackFilePath(dataDir));
};

/** Removes the stack file if it is this process's own: a later stack on the same data dir may have replaced it. */
const removeOwnStackFile = (dataDir: string): void => {
  const file = stackFilePath(dataDir);
  try {
    const current = stackFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (current.success && current.data.pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
};

/** This process's stack file: written once the stack is up, removed by stop() or, failing that, at process exit. */
export class OwnStackFile {
  private written = false;
  private readonly onExit = (): void => this.remove();

  constructor(private readonly dataDir: string) {}

  write(env: Record<string, string>): void {
    writeStackFile(this.dataDir, env);
    this.written = true;
    process.on('exit', this.onExit);
  }

  remove(): void {
    process.removeListener('exit', this.onExit);
    if (this.written) removeOwnStackFile(this.dataDir);
    this.written = false;
  }
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The stack a `serve` process runs for `dataDir`, if its pid is alive and its endpoints accept connections;
 * a stale stack.json (the process died) is removed.
 */
export const findRunningStack = async (dataDir: string): Promise<StackFile | undefined> => {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  let stack: StackFile;
  try {
    stack = stackFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
  if (!pidAlive(stack.pid)) {
    rmSync(file, { force: true });
    return undefined;
  }
  const endpoints = Object.entries(stack.env)
    .filter(([name]) => name.startsWith('AWS_ENDPOINT_URL_'))
    .map(([, url]) => url);
  const answers = await Promise.all(endpoints.map((url) => endpointAnswers(url)));
  return endpoints.length > 0 && answers.every(Boolean) ? stack : undefined;
};
