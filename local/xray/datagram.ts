/**
 * The X-Ray daemon's wire protocol: each UDP datagram is the header `{"format": "json", "version": 1}`, a newline,
 * then one segment document (a segment, or a subsegment sent on its own with `type: "subsegment"` and `parent_id`).
 * Sources (read 2026-12-02): https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html (section
 * "Sending segment documents to the X-Ray daemon") and the fields of
 * https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html (64 kB at most per document).
 */
import * as z from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';

/** A segment document may be up to 64 kB (xray-api-segmentdocuments). */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

const headerSchema = z.object({ format: z.literal('json'), version: z.literal(1) });

/** `1-<8 hex: epoch seconds>-<24 hex>`; ids are 16 hex digits. */
const TRACE_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const SEGMENT_ID = /^[0-9a-f]{16}$/;

const annotationValue = z.union([z.string(), z.number(), z.boolean()]);

/** The fields this stand-in reads; others (aws, http, metadata, cause...) are kept as sent. */
export const segmentDocumentSchema = z
  .object({
    name: z.string().min(1).max(250),
    id: z.string().regex(SEGMENT_ID, 'id must be 16 hexadecimal digits'),
    trace_id: z.string().regex(TRACE_ID, 'trace_id must look like 1-58406520-a006649127e371903a2de979'),
    start_time: z.number().positive(),
    end_time: z.number().positive().optional(),
    in_progress: z.boolean().optional(),
    type: z.literal('subsegment').optional(),
    parent_id: z.string().regex(SEGMENT_ID, 'parent_id must be 16 hexadecimal digits').optional(),
    origin: z.string().optional(),
    annotations: z.record(z.string(), annotationValue).optional(),
    error: z.boolean().optional(),
    fault: z.boolean().optional(),
    throttle: z.boolean().optional(),
  })
  .passthrough()
  .refine((d) => d.end_time !== undefined || d.in_progress === true, {
    message: 'a document needs end_time or in_progress: true',
  })
  .refine((d) => d.type !== 'subsegment' || d.parent_id !== undefined, {
    message: 'a subsegment sent on its own needs parent_id',
  });

export type SegmentDocument = z.infer<typeof segmentDocumentSchema>;

export type ParsedDatagram = { ok: true; document: SegmentDocument } | { ok: false; reason: string };

/** One datagram: the header line, then exactly one JSON document; anything else is refused with its reason. */
export const parseDatagram = (datagram: Buffer | string): ParsedDatagram => {
  const text = typeof datagram === 'string' ? datagram : datagram.toString('utf8');
  const newline = text.indexOf('\n');
  if (newline === -1)
    return { ok: false, reason: 'no header line (expected {"format":"json","version":1}\\n)' };
  let header: unknown;
  let body: unknown;
  try {
    header = JSON.parse(text.slice(0, newline));
  } catch {
    return { ok: false, reason: 'the header line is not JSON' };
  }
  if (!headerSchema.safeParse(header).success)
    return { ok: false, reason: 'the header is not {"format":"json","version":1}' };
  const rest = text.slice(newline + 1);
  if (Buffer.byteLength(rest) > MAX_DOCUMENT_BYTES)
    return { ok: false, reason: `the document is over ${MAX_DOCUMENT_BYTES} bytes` };
  try {
    body = JSON.parse(rest);
  } catch {
    return { ok: false, reason: 'the document is not one JSON object' };
  }
  const parsed = segmentDocumentSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: zodIssues(parsed.error).join('; ') };
  return { ok: true, document: parsed.data };
};

/** The datagram an SDK sends for a document (the stand-ins that emit segments, like Lambda's, use it too). */
export const formatDatagram = (document: Record<string, unknown>): Buffer =>
  Buffer.from(`${JSON.stringify({ format: 'json', version: 1 })}\n${JSON.stringify(document)}`);
