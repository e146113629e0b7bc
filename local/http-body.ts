/** Request bodies for the loopback stand-ins: read whole, up to a limit, refused with the protocol's own error. */
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
