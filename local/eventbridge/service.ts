/**
 * Local EventBridge: PutEvents (AWS JSON 1.1) on named buses, rules matched with the documented event-pattern
 * language, and delivery of each matched event to its Lambda targets through the real Lambda client with
 * InvocationType "Event", as EventBridge does. Every accepted event is recorded (memory, `<dataDir>/events.jsonl`,
 * and `GET /_local/events?since=<iso>` for other processes such as the CLI).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import {
  AwsApiError,
  decodeToken,
  encodeToken,
  LocalServiceError,
  parseInput,
  startAwsJsonServer,
  utf8Length,
} from '../aws/json-protocol';
import {
  type CompiledEventPattern,
  compileEventPattern,
  InvalidEventPatternError,
  parseEventPattern,
} from './event-pattern';

export interface EventRule {
  name: string;
  eventBusName: string;
  pattern: Record<string, unknown>;
  targets: { functionArn: string }[];
}

export interface EventBridgeServiceOptions {
  rules: EventRule[];
  /** The Lambda Invoke endpoint targets are delivered to. */
  lambdaEndpoint: string;
  region: string;
  /** When given, every accepted event is appended to `<dataDir>/events.jsonl`. */
  dataDir?: string;
  /** Buses that exist without rules (the default bus always exists). */
  eventBuses?: string[];
  /** Delivery retries after a failed Invoke (EventBridge retries for hours; locally a few quick tries). */
  delivery?: { attempts?: number; baseDelayMs?: number };
  /** Defaults to a free port on 127.0.0.1. */
  port?: number;
}

export const ACCOUNT_ID = '000000000000';
const DEFAULT_BUS = 'default';
/** "The total entry size must be less than 256KB" (Calculating PutEvents event entry size). */
const MAX_ENTRIES_BYTES = 262_144;
const MAX_ENTRIES = 10;
const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/(.+)$/;
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

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

const busEventRecordSchema = z.object({
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

export interface EventBridgeService {
  url: string;
  events(): BusEventRecord[];
  /** Resolves with the first event (past or future) matching `pred` once its deliveries have settled. */
  waitForEvent(pred: (e: BusEventRecord) => boolean, timeoutMs?: number): Promise<BusEventRecord>;
  close(): Promise<void>;
}

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

/** EventBridge's time format: ISO 8601 in UTC without milliseconds. */
const eventTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

const entrySchema = z.object({
  Source: z.string().optional(),
  DetailType: z.string().optional(),
  Detail: z.string().optional(),
  Resources: z.array(z.string()).optional(),
  EventBusName: z.string().optional(),
  /** The SDK sends timestamps as epoch seconds. */
  Time: z.union([z.number(), z.string()]).optional(),
  TraceHeader: z.string().optional(),
});
type PutEventsEntry = z.infer<typeof entrySchema>;

/** Entry size as "Calculating Amazon EventBridge PutEvents event entry size" defines it. */
const entrySize = (e: PutEventsEntry): number =>
  (e.Time !== undefined ? 14 : 0) +
  utf8Length(e.Source ?? '') +
  utf8Length(e.DetailType ?? '') +
  utf8Length(e.Detail ?? '') +
  (e.Resources ?? []).reduce((n, r) => n + utf8Length(r), 0);

const busNameOf = (nameOrArn: string | undefined): string => {
  if (nameOrArn === undefined || nameOrArn === '') return DEFAULT_BUS;
  return BUS_ARN.exec(nameOrArn)?.[1] ?? nameOrArn;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const startEventBridgeService = async (o: EventBridgeServiceOptions): Promise<EventBridgeService> => {
  const compiled: { rule: EventRule; matcher: CompiledEventPattern }[] = o.rules.map((rule) => {
    try {
      return { rule, matcher: compileEventPattern(rule.pattern) };
    } catch (err) {
      if (err instanceof InvalidEventPatternError) {
        throw new InvalidEventPatternError(`rule ${rule.name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  });
  const buses = new Set([
    DEFAULT_BUS,
    ...(o.eventBuses ?? []),
    ...o.rules.map((r) => busNameOf(r.eventBusName)),
  ]);
  const attempts = Math.max(1, o.delivery?.attempts ?? 4);
  const baseDelayMs = o.delivery?.baseDelayMs ?? 200;
  const eventsFile = o.dataDir === undefined ? undefined : join(o.dataDir, 'events.jsonl');
  if (o.dataDir !== undefined) await mkdir(o.dataDir, { recursive: true });

  const lambdaConfig: LambdaClientConfig = { region: o.region, endpoint: o.lambdaEndpoint, maxAttempts: 1 };
  if (!process.env.AWS_ACCESS_KEY_ID) lambdaConfig.credentials = LOCAL_CREDENTIALS;
  const lambda = new LambdaClient(lambdaConfig);

  const records: BusEventRecord[] = [];
  const settledEvents = new EventEmitter();
  settledEvents.setMaxListeners(0);
  const inFlight = new Set<Promise<void>>();
  let writing = Promise.resolve();
  let seq = 0;

  const ruleArn = (rule: EventRule) => {
    const bus = busNameOf(rule.eventBusName);
    return `arn:aws:events:${o.region}:${ACCOUNT_ID}:rule/${bus === DEFAULT_BUS ? '' : `${bus}/`}${rule.name}`;
  };

  const deliver = async (record: BusEventRecord, delivery: BusDelivery): Promise<void> => {
    const payload = Buffer.from(JSON.stringify(record.event));
    for (let attempt = 1; attempt <= attempts; attempt++) {
      delivery.attempts = attempt;
      try {
        await lambda.send(
          new InvokeCommand({
            FunctionName: delivery.functionArn,
            InvocationType: 'Event',
            Payload: payload,
          }),
        );
        delivery.status = 'delivered';
        delivery.deliveredAt = new Date().toISOString();
        delete delivery.lastError;
        return;
      } catch (err) {
        delivery.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        if (attempt < attempts) await sleep(baseDelayMs * 2 ** (attempt - 1));
      }
    }
    delivery.status = 'failed';
    console.warn(
      `[local eventbridge] gave up delivering ${record.event.id} (rule ${delivery.rule}) to ${delivery.functionArn} ` +
        `after ${attempts} attempts: ${delivery.lastError}`,
    );
  };

  const settle = async (record: BusEventRecord) => {
    await Promise.all(record.deliveries.map((d) => deliver(record, d)));
    record.settled = true;
    if (eventsFile) {
      const line = `${JSON.stringify(record)}\n`;
      writing = writing
        .then(() => appendFile(eventsFile, line))
        .catch((err: unknown) => console.error(`[local eventbridge] could not append to ${eventsFile}`, err));
      await writing;
    }
    settledEvents.emit('settled', record);
  };

  const accept = (entry: PutEventsEntry, busName: string, detail: Record<string, unknown>): string => {
    const id = randomUUID();
    const time =
      entry.Time === undefined
        ? new Date()
        : new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.parse(entry.Time));
    const event: BusEventEnvelope = {
      version: '0',
      id,
      'detail-type': entry.DetailType ?? '',
      source: entry.Source ?? '',
      account: ACCOUNT_ID,
      time: eventTime(Number.isNaN(time.getTime()) ? new Date() : time),
      region: o.region,
      resources: entry.Resources ?? [],
      detail,
    };
    const matched = compiled.filter(
      (c) => busNameOf(c.rule.eventBusName) === busName && c.matcher.matches(event),
    );
    const record: BusEventRecord = {
      seq: ++seq,
      eventBusName: busName,
      receivedAt: new Date().toISOString(),
      event,
      matchedRules: matched.map((c) => c.rule.name),
      deliveries: matched.flatMap((c) =>
        c.rule.targets.map((t) => ({
          rule: c.rule.name,
          functionArn: t.functionArn,
          status: 'pending' as const,
          attempts: 0,
        })),
      ),
      settled: false,
    };
    records.push(record);
    // Delivery is asynchronous, after PutEvents has answered, as with EventBridge.
    const job = settle(record).finally(() => inFlight.delete(job));
    inFlight.add(job);
    return id;
  };

  type EntryResult = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

  const checkEntry = (entry: PutEventsEntry): EntryResult => {
    const busName = busNameOf(entry.EventBusName);
    if (!buses.has(busName)) {
      return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${busName} does not exist.` };
    }
    for (const field of ['Source', 'DetailType', 'Detail'] as const) {
      if (entry[field] === undefined || entry[field] === '') {
        return {
          ErrorCode: 'InvalidArgument',
          ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
        };
      }
    }
    if (entry.Source?.startsWith('aws.')) {
      return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail ?? '');
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    return { EventId: accept(entry, busName, detail as Record<string, unknown>) };
  };

  const putEvents = (input: Record<string, unknown>) => {
    const req = parseInput(z.object({ Entries: z.array(entrySchema) }), input, 'PutEvents');
    if (req.Entries.length < 1 || req.Entries.length > MAX_ENTRIES) {
      const bound =
        req.Entries.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${MAX_ENTRIES}`;
      throw new AwsApiError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length ${bound}`,
      );
    }
    if (req.Entries.reduce((n, e) => n + entrySize(e), 0) > MAX_ENTRIES_BYTES) {
      throw new AwsApiError(
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
    }
    const entries = req.Entries.map(checkEntry);
    return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
  };

  const ruleView = (rule: EventRule) => ({
    Name: rule.name,
    Arn: ruleArn(rule),
    EventPattern: JSON.stringify(rule.pattern),
    State: 'ENABLED',
    EventBusName: busNameOf(rule.eventBusName),
  });

  const rulesOfBus = (busNameOrArn: string | undefined) => {
    const bus = busNameOf(busNameOrArn);
    if (!buses.has(bus))
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${bus} does not exist.`);
    return o.rules.filter((r) => busNameOf(r.eventBusName) === bus);
  };

  const listRules = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({
        NamePrefix: z.string().optional(),
        EventBusName: z.string().optional(),
        Limit: z.number().int().min(1).max(100).optional(),
        NextToken: z.string().optional(),
      }),
      input,
      'ListRules',
    );
    const matching = rulesOfBus(req.EventBusName).filter((r) => r.name.startsWith(req.NamePrefix ?? ''));
    const scope = `${busNameOf(req.EventBusName)}|${req.NamePrefix ?? ''}`;
    const offset = decodeToken(req.NextToken, scope, 'ValidationException');
    const size = req.Limit ?? 100;
    return {
      Rules: matching.slice(offset, offset + size).map(ruleView),
      ...(offset + size < matching.length ? { NextToken: encodeToken(offset + size, scope) } : {}),
    };
  };

  const describeRule = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({ Name: z.string(), EventBusName: z.string().optional() }),
      input,
      'DescribeRule',
    );
    const rule = rulesOfBus(req.EventBusName).find((r) => r.name === req.Name);
    if (!rule) throw new AwsApiError('ResourceNotFoundException', `Rule ${req.Name} does not exist.`);
    return { ...ruleView(rule), CreatedBy: ACCOUNT_ID };
  };

  const listTargetsByRule = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({ Rule: z.string(), EventBusName: z.string().optional() }),
      input,
      'ListTargetsByRule',
    );
    const rule = rulesOfBus(req.EventBusName).find((r) => r.name === req.Rule);
    if (!rule) throw new AwsApiError('ResourceNotFoundException', `Rule ${req.Rule} does not exist.`);
    return { Targets: rule.targets.map((t, i) => ({ Id: `target-${i + 1}`, Arn: t.functionArn })) };
  };

  const testEventPattern = (input: Record<string, unknown>) => {
    const req = parseInput(
      z.object({ EventPattern: z.string(), Event: z.string() }),
      input,
      'TestEventPattern',
    );
    let matcher: CompiledEventPattern;
    try {
      matcher = parseEventPattern(req.EventPattern);
    } catch (err) {
      if (err instanceof InvalidEventPatternError)
        throw new AwsApiError(err.code, err.message, { cause: err });
      throw err;
    }
    let event: unknown;
    try {
      event = JSON.parse(req.Event);
    } catch (err) {
      throw new AwsApiError('InvalidEventPatternException', 'Event is not valid JSON', { cause: err });
    }
    return { Result: matcher.matches(event) };
  };

  const server = await startAwsJsonServer({
    targetPrefix: 'AWSEvents',
    jsonVersion: '1.1',
    ...(o.port !== undefined ? { port: o.port } : {}),
    operations: {
      PutEvents: putEvents,
      ListRules: listRules,
      DescribeRule: describeRule,
      ListTargetsByRule: listTargetsByRule,
      TestEventPattern: testEventPattern,
    },
    extraRoutes: (method, url) => {
      if (method !== 'GET' || url.pathname !== '/_local/events') return undefined;
      const since = url.searchParams.get('since');
      const sinceMs = since === null ? undefined : Date.parse(since);
      if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
        return { status: 400, body: { message: `since must be an ISO timestamp, got ${since}` } };
      }
      return {
        status: 200,
        body: { events: records.filter((r) => sinceMs === undefined || Date.parse(r.receivedAt) >= sinceMs) },
      };
    },
  });

  return {
    url: server.url,
    events: () => structuredClone(records),
    waitForEvent: (pred, timeoutMs = 10_000) =>
      new Promise<BusEventRecord>((resolve, reject) => {
        const found = records.find((r) => r.settled && pred(structuredClone(r)));
        if (found) {
          resolve(structuredClone(found));
          return;
        }
        const onSettled = (record: BusEventRecord) => {
          const copy = structuredClone(record);
          if (!pred(copy)) return;
          clearTimeout(timer);
          settledEvents.off('settled', onSettled);
          resolve(copy);
        };
        const timer = setTimeout(() => {
          settledEvents.off('settled', onSettled);
          reject(
            new LocalServiceError(
              `No matching bus event within ${timeoutMs} ms (${records.length} events seen)`,
            ),
          );
        }, timeoutMs);
        settledEvents.on('settled', onSettled);
      }),
    close: async () => {
      await server.close();
      await Promise.all(inFlight);
      await writing;
      lambda.destroy();
    },
  };
};
