import { formatDatagram, parseDatagram } from '../../local/xray/datagram';
import { continueTrace, formatTraceHeader, newTraceId, parseTraceHeader } from '../../local/xray/emitter';

const HEADER = '{"format":"json","version":1}';
const subsegment = {
  name: '## tool audit_billing_logs',
  id: '70de5b6f19ff9a0c',
  trace_id: '1-581cf771-a006649127e371903a2de979',
  start_time: 1.478293361271e9,
  end_time: 1.478293361449e9,
  type: 'subsegment',
  parent_id: '70de5b6f19ff9a0b',
  annotations: { sessionId: 's-1', turn: 2 },
};

describe('the X-Ray daemon datagram', () => {
  it('takes the header line and one subsegment document, keeping fields it does not read', () => {
    // Prepare
    const datagram = `${HEADER}\n${JSON.stringify({ ...subsegment, aws: { operation: 'Invoke' } })}`;

    // Act
    const parsed = parseDatagram(Buffer.from(datagram));

    // Assess
    expect(parsed).toEqual({ ok: true, document: { ...subsegment, aws: { operation: 'Invoke' } } });
  });

  it('accepts the header with spaces, as the AWS guide writes it, and an in-progress segment', () => {
    const inProgress = {
      name: 'Scorekeep',
      id: '70de5b6f19ff9a0b',
      trace_id: subsegment.trace_id,
      start_time: 1,
      in_progress: true,
    };
    expect(parseDatagram(`{"format": "json", "version": 1}\n${JSON.stringify(inProgress)}`).ok).toBe(true);
  });

  it.each([
    ['no header line', JSON.stringify(subsegment), /no header line/],
    ['a header that is not JSON', `format json\n${JSON.stringify(subsegment)}`, /header line is not JSON/],
    [
      'another format version',
      `{"format":"json","version":2}\n${JSON.stringify(subsegment)}`,
      /header is not/,
    ],
    ['a body that is not JSON', `${HEADER}\n{"name":`, /not one JSON object/],
    [
      'two documents',
      `${HEADER}\n${JSON.stringify(subsegment)}\n${JSON.stringify(subsegment)}`,
      /not one JSON object/,
    ],
    ['a short id', `${HEADER}\n${JSON.stringify({ ...subsegment, id: 'abc' })}`, /^id: id must be 16/],
    ['a malformed trace id', `${HEADER}\n${JSON.stringify({ ...subsegment, trace_id: '1-x' })}`, /^trace_id/],
    [
      'neither end_time nor in_progress',
      `${HEADER}\n${JSON.stringify({ ...subsegment, end_time: undefined })}`,
      /end_time or in_progress/,
    ],
    [
      'a subsegment without parent_id',
      `${HEADER}\n${JSON.stringify({ ...subsegment, parent_id: undefined })}`,
      /needs parent_id/,
    ],
    [
      'a document over 64 kB',
      `${HEADER}\n${JSON.stringify({ ...subsegment, metadata: { x: 'y'.repeat(70_000) } })}`,
      /over 65536 bytes/,
    ],
  ])('refuses %s with its reason', (_case, datagram, reason) => {
    const parsed = parseDatagram(datagram);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });

  it('formats what it parses', () => {
    expect(parseDatagram(formatDatagram(subsegment))).toEqual({ ok: true, document: subsegment });
  });
});

describe('the X-Amzn-Trace-Id header', () => {
  it('reads Root, Parent and Sampled in any case and ignores other keys', () => {
    expect(
      parseTraceHeader(
        'root=1-5759e988-bd862e3fe1be46a994272793;parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1',
      ),
    ).toEqual({
      root: '1-5759e988-bd862e3fe1be46a994272793',
      parent: '53995c3f42cd8ad8',
      sampled: true,
    });
    expect(parseTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?')).toEqual({
      root: '1-5759e988-bd862e3fe1be46a994272793',
    });
    expect(parseTraceHeader('Parent=53995c3f42cd8ad8')).toBeUndefined();
    expect(parseTraceHeader(undefined)).toBeUndefined();
  });

  it('continues a caller trace with a new segment as Parent, and starts a sampled trace without one', () => {
    // Act
    const continued = continueTrace(
      'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    );
    const fresh = continueTrace(undefined, Date.UTC(2026, 11, 2));

    // Assess
    expect(continued).toMatchObject({
      traceId: '1-5759e988-bd862e3fe1be46a994272793',
      parentId: '53995c3f42cd8ad8',
      sampled: true,
    });
    expect(continued.segmentId).toMatch(/^[0-9a-f]{16}$/);
    expect(continued.header).toBe(
      `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=${continued.segmentId};Sampled=1`,
    );
    expect(fresh.traceId).toMatch(
      new RegExp(`^1-${(Date.UTC(2026, 11, 2) / 1000).toString(16)}-[0-9a-f]{24}$`),
    );
    expect(fresh.parentId).toBeUndefined();
    expect(continueTrace('Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0').sampled).toBe(false);
  });

  it('writes the header it reads', () => {
    const header = { root: newTraceId(), parent: '53995c3f42cd8ad8', sampled: false };
    expect(parseTraceHeader(formatTraceHeader(header))).toEqual(header);
  });
});
