/**
 * Segments the local stand-ins send as the AWS services do (Lambda's AWS::Lambda::Function segment of each traced
 * invocation), and the trace header they pass on: ids and the `X-Amzn-Trace-Id` format of
 * https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader (read 2026-12-02).
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { formatDatagram } from './datagram';

/** A new trace id: version 1, the epoch second in 8 hex digits, 96 random bits. */
export const newTraceId = (nowMs = Date.now()): string =>
  `1-${Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0')}-${randomBytes(12).toString('hex')}`;

/** A new segment or subsegment id: 64 random bits in 16 hex digits. */
export const newSegmentId = (): string => randomBytes(8).toString('hex');

export interface TraceHeader {
  root: string;
  parent?: string;
  sampled?: boolean;
}

/** `Root=...;Parent=...;Sampled=1` (keys case-insensitive, other keys such as Lineage ignored). */
export const parseTraceHeader = (header: string | undefined): TraceHeader | undefined => {
  if (header === undefined || header.trim() === '') return undefined;
  const fields = new Map(
    header.split(';').map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()] as const;
    }),
  );
  const root = fields.get('root');
  if (root === undefined || root === '') return undefined;
  const parent = fields.get('parent');
  const sampled = fields.get('sampled');
  return {
    root,
    ...(parent ? { parent } : {}),
    ...(sampled === undefined || sampled === '?' ? {} : { sampled: sampled === '1' }),
  };
};

export const formatTraceHeader = (h: TraceHeader): string =>
  [
    `Root=${h.root}`,
    ...(h.parent ? [`Parent=${h.parent}`] : []),
    ...(h.sampled === undefined ? [] : [`Sampled=${h.sampled ? 1 : 0}`]),
  ].join(';');

/** A service's part of a trace: its own segment's id, in the caller's trace when the request carried a header. */
export interface ServiceTrace {
  /** The header passed on to what this service calls (Parent = this service's segment). */
  header: string;
  /** A caller's Sampled=0 is honoured: nothing is sent. */
  sampled: boolean;
  traceId: string;
  segmentId: string;
  /** The caller's segment or subsegment, when the request had a trace header with a Parent. */
  parentId?: string;
}

/** Continues the caller's trace (`X-Amzn-Trace-Id` or a traceHeader parameter), or starts a sampled one. */
export const continueTrace = (incoming: string | undefined, nowMs = Date.now()): ServiceTrace => {
  const caller = parseTraceHeader(incoming);
  const traceId = caller?.root ?? newTraceId(nowMs);
  const segmentId = newSegmentId();
  const sampled = caller?.sampled !== false;
  return {
    header: formatTraceHeader({ root: traceId, parent: segmentId, sampled }),
    sampled,
    traceId,
    segmentId,
    ...(caller?.parent ? { parentId: caller.parent } : {}),
  };
};

/** Sends one document to the daemon at `address` (`host:port`); a send error is logged, never thrown (as the SDK). */
export const sendSegment = (
  address: string,
  document: Record<string, unknown>,
  log: (line: string) => void = () => {},
): Promise<void> =>
  new Promise((sent) => {
    const at = address.lastIndexOf(':');
    const socket = createSocket('udp4');
    const datagram = formatDatagram(document);
    socket.send(datagram, Number(address.slice(at + 1)), address.slice(0, at), (error) => {
      if (error) log(`Sending a segment to the X-Ray daemon at ${address} failed: ${error.message}`);
      socket.close();
      sent();
    });
  });

/** Epoch seconds with millisecond precision, as segment documents want them. */
export const epochSeconds = (ms: number): number => Math.round(ms) / 1000;
