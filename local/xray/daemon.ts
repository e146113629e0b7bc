/**
 * The local X-Ray daemon stand-in: a UDP server on 127.0.0.1 that takes the SDK's datagrams (datagram.ts) and
 * appends each document as one line of `<data dir>/xray/segments.jsonl`; a malformed datagram is refused and logged.
 */
import { createSocket, type Socket } from 'node:dgram';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseDatagram } from './datagram';

export interface StartXrayDaemonOptions {
  /** Where segments.jsonl goes: `<dataDir>/xray/segments.jsonl`. */
  dataDir: string;
  /** UDP port (default: a free one). */
  port?: number;
  log?: (line: string) => void;
}

export interface XrayDaemon {
  /** `127.0.0.1:<port>`, the AWS_XRAY_DAEMON_ADDRESS the SDK reads. */
  address: string;
  port: number;
  /** The file every accepted document is appended to. */
  file: string;
  /** Documents accepted and datagrams refused since start. */
  counts(): { accepted: number; refused: number };
  close(): Promise<void>;
}

export const segmentsFile = (dataDir: string): string => join(dataDir, 'xray', 'segments.jsonl');

const bind = (socket: Socket, port: number): Promise<void> =>
  new Promise((bound, failed) => {
    socket.once('error', failed);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', failed);
      bound();
    });
  });

export const startXrayDaemon = async (options: StartXrayDaemonOptions): Promise<XrayDaemon> => {
  const file = segmentsFile(options.dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const log = options.log ?? (() => {});
  const socket = createSocket('udp4');
  let accepted = 0;
  let refused = 0;
  socket.on('message', (datagram, from) => {
    const parsed = parseDatagram(datagram);
    if (!parsed.ok) {
      refused++;
      log(`X-Ray daemon refused a datagram from ${from.address}:${from.port}: ${parsed.reason}`);
      return;
    }
    accepted++;
    // One synchronous append per document: lines from concurrent senders never interleave.
    appendFileSync(file, `${JSON.stringify(parsed.document)}\n`);
  });
  await bind(socket, options.port ?? 0);
  const port = socket.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    file,
    counts: () => ({ accepted, refused }),
    close: () => new Promise((closed) => socket.close(() => closed())),
  };
};
