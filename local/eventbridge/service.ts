/**
 * Local EventBridge: PutEvents (AWS JSON 1.1) on named buses, rules matched with the documented event-pattern
 * language, and delivery of each matched event to its Lambda targets (see delivery.ts). Every accepted event is
 * recorded (memory, `<dataDir>/events.jsonl`, and `GET /_local/events?since=<iso>` for other processes such as the
 * CLI).
 */
import { startAwsJsonServer } from '../aws/json-protocol';
import { type BusEventEnvelope, BusEventLog, type BusEventRecord } from './bus-events';
import { LambdaDelivery } from './delivery';
import { type CompiledEventPattern, compileEventPattern, InvalidEventPatternError } from './event-pattern';
import {
  busNameOf,
  checkEntry,
  DEFAULT_BUS,
  envelopeOf,
  type PutEventsEntry,
  parsePutEvents,
} from './put-events';

export type { BusDelivery, BusEventEnvelope, BusEventRecord } from './bus-events';
export { fetchBusEvents } from './bus-events';

export interface EventRule {
  name: string;
  eventBusName: string;
  pattern: Record<string, unknown>;
  /** `deadLetterQueueArn`: where an event goes that could not be delivered to that target. */
  targets: { functionArn: string; deadLetterQueueArn?: string }[];
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
  /** The local SQS endpoint, for the targets' dead-letter queues. */
  sqsEndpoint?: string;
  /** Defaults to a free port on 127.0.0.1. */
  port?: number;
}

export interface EventBridgeService {
  url: string;
  events(): BusEventRecord[];
  /** Resolves with the first event (past or future) matching `pred` once its deliveries have settled. */
  waitForEvent(pred: (e: BusEventRecord) => boolean, timeoutMs?: number): Promise<BusEventRecord>;
  /**
   * An AWS service's own event (source aws.*) on the default bus, as Step Functions sends its status changes: not
   * through PutEvents, which refuses aws.* sources to callers.
   */
  putServiceEvent(entry: Omit<PutEventsEntry, 'EventBusName'>): void;
  close(): Promise<void>;
}

type CompiledRule = { rule: EventRule; matcher: CompiledEventPattern };

/** Compiles every rule's pattern up front: a bad pattern stops the bus from starting, naming its rule. */
const compileRules = (rules: EventRule[]): CompiledRule[] =>
  rules.map((rule) => {
    try {
      return { rule, matcher: compileEventPattern(rule.pattern) };
    } catch (err) {
      if (err instanceof InvalidEventPatternError) {
        throw new InvalidEventPatternError(`rule ${rule.name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  });

/** The record of a new event: the rules of its bus it matches, and one pending delivery per target. */
const recordOf = (
  event: BusEventEnvelope,
  busName: string,
  rules: CompiledRule[],
): Omit<BusEventRecord, 'seq'> => {
  const matched = rules.filter((c) => busNameOf(c.rule.eventBusName) === busName && c.matcher.matches(event));
  return {
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
};

/** `GET /_local/events?since=<iso>`: the recorded events, for the CLI in another process. */
const eventsRoute = (log: BusEventLog) => (method: string, url: URL) => {
  if (method !== 'GET' || url.pathname !== '/_local/events') return undefined;
  const since = url.searchParams.get('since');
  const sinceMs = since === null ? undefined : Date.parse(since);
  if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
    return { status: 400, body: { message: `since must be an ISO timestamp, got ${since}` } };
  }
  return { status: 200, body: { events: log.since(sinceMs) } };
};

export const startEventBridgeService = async (o: EventBridgeServiceOptions): Promise<EventBridgeService> => {
  const rules = compileRules(o.rules);
  const buses = new Set([
    DEFAULT_BUS,
    ...(o.eventBuses ?? []),
    ...o.rules.map((r) => busNameOf(r.eventBusName)),
  ]);
  const log = await BusEventLog.open(o.dataDir);
  const delivery = new LambdaDelivery({
    lambdaEndpoint: o.lambdaEndpoint,
    region: o.region,
    ...o.delivery,
    rules: o.rules,
    ...(o.sqsEndpoint === undefined ? {} : { sqsEndpoint: o.sqsEndpoint }),
  });
  const inFlight = new Set<Promise<void>>();

  const accept = (
    entry: PutEventsEntry,
    fromService = false,
  ): { EventId: string } | { ErrorCode: string; ErrorMessage: string } => {
    const busName = busNameOf(entry.EventBusName);
    const checked = checkEntry(entry, buses.has(busName), fromService);
    if ('ErrorCode' in checked) return checked;
    const record = log.add(recordOf(envelopeOf(entry, checked.detail, o.region), busName, rules));
    // Delivery is asynchronous, after PutEvents has answered, as with EventBridge.
    const job = Promise.all(record.deliveries.map((d) => delivery.deliver(record, d)))
      .then(() => log.settle(record))
      .finally(() => inFlight.delete(job));
    inFlight.add(job);
    return { EventId: record.event.id };
  };

  const server = await startAwsJsonServer({
    targetPrefix: 'AWSEvents',
    jsonVersion: '1.1',
    ...(o.port !== undefined ? { port: o.port } : {}),
    operations: {
      PutEvents: (input) => {
        const entries = parsePutEvents(input).map((entry) => accept(entry));
        return { FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries };
      },
    },
    extraRoutes: eventsRoute(log),
  });

  return {
    url: server.url,
    events: () => log.all(),
    waitForEvent: (pred, timeoutMs = 10_000) => log.waitFor(pred, timeoutMs),
    putServiceEvent: (entry) => {
      const result = accept({ ...entry, EventBusName: DEFAULT_BUS }, true);
      if ('ErrorCode' in result)
        console.error(`[local eventbridge] service event refused: ${result.ErrorMessage}`);
    },
    close: async () => {
      await server.close();
      await Promise.all(inFlight);
      await log.flushed();
      delivery.close();
    },
  };
};
