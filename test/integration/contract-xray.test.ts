/**
 * The local X-Ray daemon against the real sender: aws-xray-sdk-core (the SDK under Powertools Tracer) sends
 * segments and streamed subsegments over UDP exactly as it does to the daemon in Lambda, and the stand-in keeps
 * each document, whole, as one line; what is not the daemon's protocol is refused and logged.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startXrayDaemon, type XrayDaemon } from '../../local/xray/daemon';
import { readSegments, tracesOfSession } from '../../local/xray/traces';

// The SDK's CommonJS entry (no types for the sub-modules used here).
const AWSXRay = require('aws-xray-sdk-core') as typeof import('aws-xray-sdk-core');
const SegmentUtils = require('aws-xray-sdk-core/dist/lib/segments/segment_utils') as {
  setStreamingThreshold(n: number): void;
};

let daemon: XrayDaemon;
const refusals: string[] = [];

beforeAll(async () => {
  daemon = await startXrayDaemon({
    dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-xray-')),
    log: (line) => refusals.push(line),
  });
  AWSXRay.setDaemonAddress(daemon.address);
});

afterAll(async () => {
  await daemon?.close();
});

/** UDP gives no answer: wait until the daemon has taken `count` documents (or refused datagrams). */
const until = async (done: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
};

describe('the local X-Ray daemon with aws-xray-sdk-core', () => {
  it('keeps a segment the SDK sends with its subsegments inside', async () => {
    // Prepare
    const before = daemon.counts().accepted;
    const segment = new AWSXRay.Segment('contract-embedded');
    const sub = segment.addNewSubsegment('## model us.anthropic.claude-sonnet-4-6');
    sub.addAnnotation('sessionId', 'embedded-1');
    sub.addAnnotation('turn', 3);

    // Act
    sub.close();
    segment.close();
    await until(() => daemon.counts().accepted === before + 1, 'the segment');

    // Assess
    const [trace] = tracesOfSession(readSegments(daemon.file), 'embedded-1');
    expect(trace?.traceId).toBe(segment.trace_id);
    expect(trace?.roots.map((r) => r.name)).toEqual(['contract-embedded']);
    expect(trace?.roots[0]?.children[0]).toMatchObject({
      name: '## model us.anthropic.claude-sonnet-4-6',
      annotations: { sessionId: 'embedded-1', turn: 3 },
    });
  });

  it('keeps a subsegment streamed on its own (as in Lambda) and joins it under its embedded parent', async () => {
    // Prepare: Lambda's setting (env/aws_lambda.js): a subsegment closed while its segment is open is sent alone.
    SegmentUtils.setStreamingThreshold(0);
    const before = daemon.counts().accepted;
    const segment = new AWSXRay.Segment('contract-streamed');
    const handler = segment.addNewSubsegment('## handler');
    const tool = handler.addNewSubsegment('## tool audit_billing_logs');
    tool.addAnnotation('sessionId', 'streamed-1');
    tool.addError(new Error('the tool failed'));

    // Act: the tool closes while the handler is open (streamed); the handler goes inside the segment.
    tool.close();
    handler.close();
    segment.close();
    await until(() => daemon.counts().accepted === before + 2, 'two documents');
    SegmentUtils.setStreamingThreshold(100);

    // Assess
    const docs = readSegments(daemon.file).filter((d) => d.trace_id === segment.trace_id);
    expect(docs.map((d) => [d.name, (d as { type?: string }).type ?? 'segment', d.parent_id])).toEqual([
      ['## tool audit_billing_logs', 'subsegment', handler.id],
      ['contract-streamed', 'segment', undefined],
    ]);
    const [trace] = tracesOfSession(readSegments(daemon.file), 'streamed-1');
    const toolNode = trace?.roots[0]?.children[0]?.children[0];
    expect(trace?.roots[0]?.children[0]?.name).toBe('## handler');
    expect(toolNode).toMatchObject({ name: '## tool audit_billing_logs', fault: true });
  });

  it('refuses and logs a datagram without the header, and one that is not a segment document', async () => {
    // Prepare
    const before = daemon.counts();
    const socket = createSocket('udp4');
    const send = (text: string) =>
      new Promise<void>((sent) => socket.send(Buffer.from(text), daemon.port, '127.0.0.1', () => sent()));

    // Act
    await send('{"name":"no header","id":"70de5b6f19ff9a0a"}');
    await send('{"format":"json","version":1}\n{"name":"x","id":"70de5b6f19ff9a0a"}');
    socket.close();
    await until(() => daemon.counts().refused === before.refused + 2, 'two refusals');

    // Assess
    expect(daemon.counts().accepted).toBe(before.accepted);
    expect(refusals.slice(-2)).toEqual([
      expect.stringMatching(/refused a datagram from 127\.0\.0\.1:\d+: no header line/),
      expect.stringMatching(/refused a datagram from 127\.0\.0\.1:\d+: .*trace_id/),
    ]);
  });
});
