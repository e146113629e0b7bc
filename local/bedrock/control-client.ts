/** Client for the emulator's control endpoint, so another process (the CLI) can install a session's model script. */
import http2 from 'node:http2';
import { EmulatorControlError } from './errors';
import type { ModelScript } from './script';

const TIMEOUT_MS = 10_000;

const request = (
  url: string,
  method: 'PUT',
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      client.destroy();
      reject(
        new EmulatorControlError(
          `Cannot reach the Bedrock emulator at ${url} (${method} ${path}): ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    const client = http2.connect(url);
    client.on('error', fail);
    const stream = client.request({
      ':method': method,
      ':path': path,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    });
    stream.setTimeout(TIMEOUT_MS, () => fail(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      client.close();
      resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
    });
    stream.on('error', fail);
    stream.end(body);
  });

const messageOf = (body: string): string => {
  try {
    const parsed: unknown = JSON.parse(body);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'message' in parsed &&
      typeof parsed.message === 'string'
    ) {
      return parsed.message;
    }
  } catch {
    // not JSON: the raw body is the message
  }
  return body;
};

const scriptPath = (sessionId: string): string => `/_local/scripts/${encodeURIComponent(sessionId)}`;

/** Installs (or replaces) the model script of a session; rejects with the emulator's validation message. */
export const putModelScript = async (url: string, sessionId: string, script: ModelScript): Promise<void> => {
  const answer = await request(url, 'PUT', scriptPath(sessionId), JSON.stringify(script));
  if (answer.status !== 204) {
    throw new EmulatorControlError(
      `The Bedrock emulator refused the script of session "${sessionId}": ${messageOf(answer.body)}`,
      {
        status: answer.status,
      },
    );
  }
};
