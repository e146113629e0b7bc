/** One standard queue of the local SQS: messages with visibility and receive counts, kept in `<dir>/<name>.json`. */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** A message attribute as SendMessage takes it (String and Number types carry StringValue, Binary a base64 value). */
export const messageAttributeSchema = z.object({
  DataType: z.string().min(1),
  StringValue: z.string().optional(),
  BinaryValue: z.string().optional(),
});
export type MessageAttribute = z.infer<typeof messageAttributeSchema>;

const storedMessageSchema = z.object({
  messageId: z.string(),
  body: z.string(),
  messageAttributes: z.record(z.string(), messageAttributeSchema),
  sentAtMs: z.number(),
  senderId: z.string(),
  receiveCount: z.number(),
  firstReceivedAtMs: z.number().optional(),
  visibleAtMs: z.number(),
});
export type StoredMessage = z.infer<typeof storedMessageSchema>;

export interface QueueSpec {
  name: string;
  arn: string;
  /** Seconds SQS keeps a message (MessageRetentionPeriod; default 4 days). */
  retentionSeconds: number;
  /** Largest body plus attributes accepted (MaximumMessageSize; default 1 MiB). */
  maximumMessageBytes: number;
  /** Default VisibilityTimeout of a receive (default 30 s). */
  visibilityTimeoutSeconds: number;
}

export const md5Hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

/**
 * MD5OfMessageAttributes as SQS computes it ("Calculating the MD5 message digest for message attributes"): per
 * attribute in name order, length-prefixed name, data type, a transport byte (1 string, 2 binary) and value.
 */
export const md5OfAttributes = (attributes: Record<string, MessageAttribute>): string | undefined => {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of names) {
    const attribute = attributes[name] as MessageAttribute;
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(attribute.DataType, 'utf8'));
    const binary = attribute.BinaryValue !== undefined;
    parts.push(Buffer.from([binary ? 2 : 1]));
    lengthPrefixed(
      binary
        ? Buffer.from(attribute.BinaryValue ?? '', 'base64')
        : Buffer.from(attribute.StringValue ?? '', 'utf8'),
    );
  }
  return md5Hex(Buffer.concat(parts));
};

/** The size SQS counts against MaximumMessageSize: the body plus every attribute's name, type and value. */
export const messageSize = (body: string, attributes: Record<string, MessageAttribute>): number =>
  Buffer.byteLength(body) +
  Object.entries(attributes).reduce(
    (n, [name, a]) =>
      n +
      Buffer.byteLength(name) +
      Buffer.byteLength(a.DataType) +
      Buffer.byteLength(a.StringValue ?? '') +
      Buffer.from(a.BinaryValue ?? '', 'base64').length,
    0,
  );

export class LocalQueue {
  private messages: StoredMessage[] = [];
  /** Where the next receive starts: successive receives walk the queue, as a standard queue's sampling does. */
  private cursor = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly spec: QueueSpec,
    private readonly file: string | undefined,
  ) {
    if (file !== undefined && existsSync(file)) {
      this.messages = z.array(storedMessageSchema).parse(JSON.parse(readFileSync(file, 'utf8')));
    }
  }

  static open(spec: QueueSpec, dataDir: string | undefined): LocalQueue {
    if (dataDir === undefined) return new LocalQueue(spec, undefined);
    mkdirSync(dataDir, { recursive: true });
    return new LocalQueue(spec, join(dataDir, `${spec.name}.json`));
  }

  send(body: string, messageAttributes: Record<string, MessageAttribute>, senderId: string): StoredMessage {
    const now = Date.now();
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      messageAttributes,
      sentAtMs: now,
      senderId,
      receiveCount: 0,
      visibleAtMs: now,
    };
    this.messages.push(message);
    this.save();
    for (const wake of this.waiters) wake();
    return message;
  }

  /** Up to `max` visible messages, hidden for `visibilitySeconds` (0: they stay visible, a peek). */
  receive(max: number, visibilitySeconds: number): StoredMessage[] {
    const now = Date.now();
    this.dropExpired(now);
    const visible = this.messages.filter((m) => m.visibleAtMs <= now);
    if (visible.length === 0) return [];
    const start = this.cursor % visible.length;
    const picked = [...visible.slice(start), ...visible.slice(0, start)].slice(0, max);
    this.cursor = start + picked.length;
    for (const m of picked) {
      m.receiveCount++;
      m.firstReceivedAtMs ??= now;
      m.visibleAtMs = now + visibilitySeconds * 1000;
    }
    this.save();
    return picked;
  }

  /** Resolves when a message is sent or after `ms`, whichever comes first (ReceiveMessage's WaitTimeSeconds). */
  waitForMessage(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }

  close(): void {
    for (const wake of this.waiters) wake();
  }

  private dropExpired(now: number): void {
    const keepAfter = now - this.spec.retentionSeconds * 1000;
    const kept = this.messages.filter((m) => m.sentAtMs > keepAfter);
    if (kept.length !== this.messages.length) {
      this.messages = kept;
      this.save();
    }
  }

  private save(): void {
    if (this.file === undefined) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.messages));
    renameSync(tmp, this.file);
  }
}
