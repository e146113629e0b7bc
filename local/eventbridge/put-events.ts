/** PutEvents as EventBridge defines it: request limits, per-entry checks and errors, and the envelope built from an entry. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { LOCAL_ACCOUNT_ID } from '../aws/credentials';
import { AwsApiError, parseInput, utf8Length } from '../aws/json-protocol';
import type { BusEventEnvelope } from './bus-events';

export const DEFAULT_BUS = 'default';
/** "The total entry size must be less than 256KB" (Calculating PutEvents event entry size). */
const MAX_ENTRIES_BYTES = 262_144;
const MAX_ENTRIES = 10;
const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/(.+)$/;

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
export type PutEventsEntry = z.infer<typeof entrySchema>;

/** A bus named by name or ARN -> its name; no name is the default bus. */
export const busNameOf = (nameOrArn: string | undefined): string => {
  if (nameOrArn === undefined || nameOrArn === '') return DEFAULT_BUS;
  return BUS_ARN.exec(nameOrArn)?.[1] ?? nameOrArn;
};

/** Entry size as "Calculating Amazon EventBridge PutEvents event entry size" defines it. */
const entrySize = (e: PutEventsEntry): number =>
  (e.Time !== undefined ? 14 : 0) +
  utf8Length(e.Source ?? '') +
  utf8Length(e.DetailType ?? '') +
  utf8Length(e.Detail ?? '') +
  (e.Resources ?? []).reduce((n, r) => n + utf8Length(r), 0);

/** The request's entries, or the ValidationException AWS answers for the request as a whole. */
export const parsePutEvents = (input: Record<string, unknown>): PutEventsEntry[] => {
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
  return req.Entries;
};

export type EntryError = { ErrorCode: string; ErrorMessage: string };

/** The entry's detail, or the error PutEvents answers for that entry alone. */
export const checkEntry = (
  entry: PutEventsEntry,
  busExists: boolean,
  fromService = false,
): { detail: Record<string, unknown> } | EntryError => {
  if (!busExists) {
    const busName = busNameOf(entry.EventBusName);
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
  if (!fromService && entry.Source?.startsWith('aws.')) {
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
  return { detail: detail as Record<string, unknown> };
};

/** EventBridge's time format: ISO 8601 in UTC without milliseconds. */
const eventTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The envelope targets receive: a new id, the entry's Time (or now), the local account and region. */
export const envelopeOf = (
  entry: PutEventsEntry,
  detail: Record<string, unknown>,
  region: string,
): BusEventEnvelope => {
  const time =
    entry.Time === undefined
      ? new Date()
      : new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.parse(entry.Time));
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType ?? '',
    source: entry.Source ?? '',
    account: LOCAL_ACCOUNT_ID,
    time: eventTime(Number.isNaN(time.getTime()) ? new Date() : time),
    region,
    resources: entry.Resources ?? [],
    detail,
  };
};
