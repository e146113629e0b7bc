/**
 * Local Bedrock Runtime stand-in: Converse over cleartext HTTP/2, answered per session from a model script or,
 * without one, by the deterministic fixture model (fixture-model.ts). `PUT /_local/scripts/<sessionId>` lets
 * another process (the CLI) install a script.
 */
import type http2 from 'node:http2';
import { readBody } from '../aws/http';
import { type ConverseCallRecord, ConverseHandler, MAX_BODY_BYTES, tooLarge } from './converse';
import { ModelScriptError } from './errors';
import { type GuardrailDenyLists, GuardrailEmulator } from './guardrails';
import { decodePathSegment, HttpError, listenHttp2 } from './http2-server';
import type { ModelScript } from './script';
import { SessionScripts } from './session-scripts';

export { putModelScript } from './control-client';
export type { ConverseCallRecord } from './converse';
export type { ModelScript } from './script';

export interface BedrockEmulator {
  /** e.g. http://127.0.0.1:PORT: the value for AWS_ENDPOINT_URL_BEDROCK_RUNTIME. */
  url: string;
  setScript(sessionId: string, script: ModelScript): void;
  /** Every Converse request seen, in order of arrival (calls still being answered are left out). */
  calls(): ConverseCallRecord[];
  close(): Promise<void>;
}

const CONVERSE_PATH = /^\/model\/([^/]+)\/converse$/;
const SCRIPT_PATH = /^\/_local\/scripts\/([^/]+)$/;

/** `PUT /_local/scripts/<sessionId>`: installs a script; an invalid one is refused with its reason. */
const putScript = async (scripts: SessionScripts, sessionId: string, req: http2.Http2ServerRequest) => {
  const raw = (await readBody(req, MAX_BODY_BYTES, tooLarge)).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (error) {
    throw new HttpError(
      400,
      'ValidationException',
      `The model script is not JSON: ${(error as Error).message}`,
    );
  }
  try {
    scripts.set(sessionId, body as ModelScript);
  } catch (error) {
    if (error instanceof ModelScriptError) throw new HttpError(400, 'ValidationException', error.message);
    throw error;
  }
};

export const startBedrockEmulator = async (
  /** `scripts`: shared with the SageMaker emulator, so one session's script answers whichever provider it calls. */
  options: { port?: number; scripts?: SessionScripts; guardrails?: GuardrailDenyLists } = {},
): Promise<BedrockEmulator> => {
  const scripts = options.scripts ?? new SessionScripts();
  const converse = new ConverseHandler(scripts, new GuardrailEmulator(options.guardrails));
  const server = await listenHttp2(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator.local');
    const converseMatch = CONVERSE_PATH.exec(url.pathname);
    if (converseMatch?.[1] !== undefined && req.method === 'POST') {
      return converse.handle(decodePathSegment(converseMatch[1]), req, res);
    }
    const scriptMatch = SCRIPT_PATH.exec(url.pathname);
    if (scriptMatch?.[1] !== undefined && req.method === 'PUT') {
      await putScript(scripts, decodePathSegment(scriptMatch[1]), req);
      res.writeHead(204).end();
      return;
    }
    throw new HttpError(
      404,
      'UnknownOperationException',
      `The Bedrock emulator has no ${req.method} ${url.pathname}.`,
    );
  }, options.port);

  return {
    url: server.url,
    setScript: (sessionId, script) => scripts.set(sessionId, script),
    calls: () => converse.calls(),
    close: async () => {
      scripts.close();
      await server.close();
    },
  };
};
