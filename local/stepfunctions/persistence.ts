/** Execution records and histories on disk (`<dataDir>/executions/<machine>.<name>.json`), so they outlive the process. */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendEvent } from './history';
import {
  type ExecutionRecord,
  type HistoryEvent,
  nowIso,
  type PersistedExecution,
  persistedExecutionSchema,
} from './records';

const fileNameFor = (record: ExecutionRecord): string => {
  const smName = record.stateMachineArn.split(':').pop() ?? 'unknown';
  return `${smName}.${record.name}.json`;
};

/** An execution left RUNNING by a process that is gone: close it so callers stop waiting. */
const abortOrphan = (persisted: PersistedExecution): PersistedExecution => {
  const stopDate = nowIso();
  const record: ExecutionRecord = {
    ...persisted.record,
    status: 'ABORTED',
    stopDate,
    error: 'LocalStackRestarted',
    cause:
      `The local Step Functions process (pid ${persisted.record.ownerPid}) that ran this execution exited before it ` +
      `finished; marked ABORTED when the service restarted at ${stopDate}.`,
  };
  const history = [...persisted.history];
  appendEvent(record, history, 'ExecutionAborted', 'executionAbortedEventDetails', {
    error: record.error,
    cause: record.cause,
  });
  return { record, history };
};

export class ExecutionFiles {
  /** The last write per file: writes of one execution run in order, so the newest snapshot lands last. */
  readonly #writing = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  /** Reads every execution file; executions left RUNNING by an earlier process are marked ABORTED (and saved). */
  async load(): Promise<PersistedExecution[]> {
    await mkdir(this.dir, { recursive: true });
    const loaded: PersistedExecution[] = [];
    for (const file of (await readdir(this.dir)).filter((f) => f.endsWith('.json'))) {
      const persisted = await this.read(join(this.dir, file));
      if (persisted === undefined) continue;
      if (persisted.record.status !== 'RUNNING') {
        loaded.push(persisted);
        continue;
      }
      // Executions do not survive their process.
      const aborted = abortOrphan(persisted);
      await this.save(aborted.record, aborted.history);
      loaded.push(aborted);
    }
    return loaded;
  }

  /** Writes a snapshot (temp file + rename); a failed write is reported, and the execution goes on. */
  save(record: ExecutionRecord, history: HistoryEvent[]): Promise<void> {
    const snapshot = JSON.stringify({ record, history });
    const file = join(this.dir, fileNameFor(record));
    const written = (this.#writing.get(file) ?? Promise.resolve())
      .then(async () => {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, snapshot);
        await rename(tmp, file);
      })
      .catch((err: unknown) => {
        // Only the durable copy is stale. Say so instead of failing the run.
        console.error(`[local stepfunctions] could not write ${file}`, err);
      });
    this.#writing.set(file, written);
    return written;
  }

  /** Waits for every pending write. */
  async flush(): Promise<void> {
    await Promise.all(this.#writing.values());
  }

  private async read(path: string): Promise<PersistedExecution | undefined> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      console.warn(`[local stepfunctions] ignoring ${path}: not JSON (${String(err)})`);
      return undefined;
    }
    const parsed = persistedExecutionSchema.safeParse(raw);
    if (!parsed.success) {
      console.warn(
        `[local stepfunctions] ignoring ${path}: not an execution record (${parsed.error.message})`,
      );
      return undefined;
    }
    return parsed.data;
  }
}
