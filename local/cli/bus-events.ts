/**
 * `sovereign-agent events`: what the agent put on its bus (lifecycle and breaker events), read from the served stack
 * (`GET /_local/events`) or, with none served, from the data dir's `events.jsonl`, filtered by session and type.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_EVENT_TYPES } from '../../shared/contracts/lifecycle-events';
import { LocalError } from '../aws/errors';
import { type BusEventRecord, busEventRecordSchema, fetchBusEvents } from '../eventbridge/bus-events';
import { findRunningStack } from '../stack/stack-file';

export class BusEventsError extends LocalError {}

export interface ListedEvent {
  time: string;
  detailType: string;
  source: string;
  eventBusName: string;
  id: string;
  sessionId: string | null;
  tenantId: string | null;
  detail: Record<string, unknown>;
  /** Rules that matched it, and whether their targets got it. */
  deliveries: { rule: string; status: string; attempts: number }[];
}

export interface EventFilter {
  sessionId?: string;
  /** A detail-type, compared without case; `all` lists every event on the bus, the goals put on it included. */
  type?: string;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const listed = (record: BusEventRecord): ListedEvent => {
  const { event } = record;
  return {
    time: event.time,
    detailType: event['detail-type'],
    source: event.source,
    eventBusName: record.eventBusName,
    id: event.id,
    sessionId: str(event.detail.sessionId) ?? str(event.detail.goalId),
    tenantId: str(event.detail.tenantId),
    detail: event.detail,
    deliveries: record.deliveries.map((d) => ({ rule: d.rule, status: d.status, attempts: d.attempts })),
  };
};

/** The agent's own events (or, with type `all`, every event) that match the filter, in the order the bus took them. */
export const filterEvents = (records: BusEventRecord[], filter: EventFilter): ListedEvent[] => {
  const type = filter.type?.toLowerCase();
  const agentTypes = new Set(AGENT_EVENT_TYPES.map((t) => t.toLowerCase()));
  return records
    .map(listed)
    .filter((e) => (type === undefined ? agentTypes.has(e.detailType.toLowerCase()) : true))
    .filter((e) => type === undefined || type === 'all' || e.detailType.toLowerCase() === type)
    .filter((e) => filter.sessionId === undefined || e.sessionId === filter.sessionId);
};

/** The events file `serve` and `run` append settled events to: one JSON record per line. */
const readEventsFile = async (dataDir: string): Promise<BusEventRecord[]> => {
  const file = join(dataDir, 'events.jsonl');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BusEventsError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        json = undefined;
      }
      const parsed = busEventRecordSchema.safeParse(json);
      if (!parsed.success) throw new BusEventsError(`${file} line ${i + 1} is not a bus event record`);
      return parsed.data;
    });
};

/** Every recorded bus event: the served stack's (it also has those not yet settled), else the file's. */
export const readBusEvents = async (dataDir: string): Promise<BusEventRecord[]> => {
  const running = await findRunningStack(dataDir);
  const url = running?.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  return url === undefined ? readEventsFile(dataDir) : fetchBusEvents(url);
};

const summaryOf = (e: ListedEvent): string => {
  const d = e.detail;
  const parts = [
    str(d.status) ?? str(d.state),
    str(d.stopReason) ?? str(d.reason),
    typeof d.error === 'object' && d.error !== null ? str((d.error as Record<string, unknown>).type) : null,
    str(d.name) && str(d.kind) ? `${str(d.kind)} ${str(d.name)}` : null,
  ].filter((p): p is string => p !== null && p !== '');
  return [...new Set(parts)].join(' ');
};

/** One line per event: time, detail-type, session, and the status/reason it carries. */
export const formatEvent = (e: ListedEvent): string =>
  `${e.time}  ${e.detailType.padEnd(27)} ${(e.sessionId ?? '-').padEnd(38)} ${summaryOf(e)}`.trimEnd();
