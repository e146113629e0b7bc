/** Loopback port helpers: probe a free port, check that an endpoint accepts connections. */
import { connect, createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (for servers we cannot ask to listen on port 0, like java). */
export const freePort = (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });

/** Whether something accepts TCP connections at `url` (http://host:port) within `timeoutMs`. */
export const endpointAnswers = (url: string, timeoutMs = 500): Promise<boolean> =>
  new Promise((answer) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      answer(false);
      return;
    }
    const socket = connect({ host: parsed.hostname, port: Number(parsed.port || 80) });
    const done = (ok: boolean): void => {
      socket.destroy();
      answer(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
