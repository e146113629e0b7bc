/** The emulator's HTTP/2 plumbing (the Bedrock Runtime client speaks cleartext h2): listening, JSON answers, errors. */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** An answer other than 200, with the `x-amzn-errortype` the SDK maps to its exception class. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client reset or closed the stream: nothing can be sent any more. */
export const isGone = (res: http2.Http2ServerResponse): boolean => res.stream.destroyed || res.stream.closed;

export const sendJson = (
  res: http2.Http2ServerResponse,
  status: number,
  body: unknown,
  errorType?: string,
): void => {
  if (isGone(res) || res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(payload);
};

/** Bedrock's error shape: `{"message"}` with the error type in the header. */
export const sendError = (
  res: http2.Http2ServerResponse,
  status: number,
  errorType: string,
  message: string,
): void => sendJson(res, status, { message }, errorType);

export const decodePathSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(
      400,
      'ValidationException',
      `The path segment "${segment}" is not valid URL encoding.`,
    );
  }
};

export type Http2Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => Promise<void>;

/** Listens on 127.0.0.1; an HttpError thrown by `handle` is answered as such, anything else as a 500. */
export const listenHttp2 = async (
  handle: Http2Handler,
  port = 0,
): Promise<{ url: string; close(): Promise<void> }> => {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    // A client that vanishes mid-stream is not the emulator's failure.
    session.on('error', () => session.destroy());
  });
  server.on('request', (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) sendError(res, error.status, error.errorType, error.message);
      else
        sendError(
          res,
          500,
          'InternalServerException',
          `Bedrock emulator failure: ${(error as Error).message}`,
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
};
