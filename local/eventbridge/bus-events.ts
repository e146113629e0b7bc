/** What the local bus records of each accepted event: schemas, the in-process log, and the reader for other processes. */
import { EventEmitter } from 'node:events';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LocalServiceError } from '../aws/json-protocol';

const envelopeSchema = z.object({
  version: z.literal('0'),
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.record(z.string(), z.unknown()),
});
/** The event as EventBridge delivers it to targets. */
export type BusEventEnvelope = z.infer<typeof envelopeSchema>;

const deliverySchema = z.object({
  rule: z.string(),
  functionArn: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastError: z.string().optional(),
  deliveredAt: z.string().optional(),
});
export type BusDelivery = z.infer<typeof deliverySchema>;

export const busEventRecordSchema = z.object({
  /** Order of acceptance in this process. */
  seq: z.number().int(),
  eventBusName: z.string(),
  receivedAt: z.string(),
  /** The event exactly as targets receive it. */
  event: envelopeSchema,
  matchedRules: z.array(z.string()),
  deliveries: z.array(deliverySchema),
  /** True once every delivery is delivered or failed for good. */
  settled: z.boolean(),
});
export type BusEventRecord = z.infer<typeof busEventRecordSchema>;

/** Reads the events a running local bus accepted (optionally from `since` on, inclusive) from another process. */
export const fetchBusEvents = async (url: string, since?: string | Date): Promise<BusEventRecord[]> => {
  const query = since === undefined ? '' : `?since=${encodeURIComponent(new Date(since).toISOString())}`;
  const response = await fetch(`${url.replace(/\/$/, '')}/_local/events${query}`);
  if (!response.ok) {
    throw new LocalServiceError(
      `GET ${url}/_local/events answered ${response.status}: ${await response.text()}`,
    );
  }
  return z.object({ events: z.array(busEventRecordSchema) }).parse(await response.json()).events;
};

/** The accepted events of one bus process: kept in memory, appended to `events.jsonl` once settled, awaitable. */
export class BusEventLog {
  private readonly records: BusEventRecord[] = [];
  private readonly settledEvents = new EventEmitter();
  private readonly eventsFile: string | undefined;
  private writing = Promise.resolve();
  private seq = 0;

  private constructor(dataDir: string | undefined) {
    this.settledEvents.setMaxListeners(0);
    this.eventsFile = dataDir === undefined ? undefined : join(dataDir, 'events.jsonl');
  }

  static async open(dataDir: string | undefined): Promise<BusEventLog> {
    if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
    return new BusEventLog(dataDir);
  }

  /** Records a new event, numbered in order of acceptance. */
  add(record: Omit<BusEventRecord, 'seq'>): BusEventRecord {
    const numbered = { seq: ++this.seq, ...record };
    this.records.push(numbered);
    return numbered;
  }

  /** Marks the record settled, appends it to the file (in order), and wakes whoever waits for it. */
  async settle(record: BusEventRecord): Promise<void> {
    record.settled = true;
    const file = this.eventsFile;
    if (file !== undefined) {
      const line = `${JSON.stringify(record)}\n`;
      this.writing = this.writing
        .then(() => appendFile(file, line))
        .catch((err: unknown) => console.error(`[local eventbridge] could not append to ${file}`, err));
      await this.writing;
    }
    this.settledEvents.emit('settled', record);
  }

  all(): BusEventRecord[] {
    return structuredClone(this.records);
  }

  /** Events received at or after `sinceMs` (all without it). */
  since(sinceMs: number | undefined): BusEventRecord[] {
    return this.records.filter((r) => sinceMs === undefined || Date.parse(r.receivedAt) >= sinceMs);
  }

  /** Resolves with the first event (past or future) matching `pred` once its deliveries have settled. */
  waitFor(pred: (e: BusEventRecord) => boolean, timeoutMs: number): Promise<BusEventRecord> {
    return new Promise<BusEventRecord>((resolve, reject) => {
      const found = this.records.find((r) => r.settled && pred(structuredClone(r)));
      if (found) {
        resolve(structuredClone(found));
        return;
      }
      const onSettled = (record: BusEventRecord) => {
        const copy = structuredClone(record);
        if (!pred(copy)) return;
        clearTimeout(timer);
        this.settledEvents.off('settled', onSettled);
        resolve(copy);
      };
      const timer = setTimeout(() => {
        this.settledEvents.off('settled', onSettled);
        reject(
          new LocalServiceError(
            `No matching bus event within ${timeoutMs} ms (${this.records.length} events seen)`,
          ),
        );
      }, timeoutMs);
      this.settledEvents.on('settled', onSettled);
    });
  }

  /** Waits for the appends already queued. */
  flushed(): Promise<void> {
    return this.writing;
  }
}
