/** HTTP plumbing shared by the loopback stand-ins: listening on 127.0.0.1, closing promptly, reading bodies. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Reads the body; past `limit` bytes it keeps draining (so the client gets the error answer rather than a reset
 * connection) and rejects with `tooLarge()`, the error the stand-in's protocol uses for it.
 */
export const readBody = (req: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });

export interface LoopbackListener {
  url: string;
  /** Stops accepting and drops kept-alive connections, so close does not wait for their idle timeout. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0: a free one); `wrapError` turns a listen failure into the caller's error. */
export const listenOnLoopback = async (
  server: Server,
  port = 0,
  wrapError: (error: Error) => Error = (error) => error,
): Promise<LoopbackListener> => {
  // The SDK keeps connections alive; a short idle timeout lets a stopped stack release them quickly.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(wrapError(error)));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};
