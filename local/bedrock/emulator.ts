/** Local Bedrock Runtime stand-in: Converse over cleartext HTTP/2, scripted per session or by the default policy. */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readBody } from '../aws/http';
import { type ConverseRequestBody, validateConverseRequest } from './converse-request';
import {
  type ConverseErrorType,
  ConverseFaultError,
  ConverseValidationError,
  ModelScriptError,
} from './errors';
import { planFixtureAnswer } from './fixture-model';
import { isJsonObject, stableStringify, toolUseIdFrom } from './json';
import {
  exhaustedMessage,
  type ModelScript,
  nextScriptStep,
  type ParsedModelScript,
  parseModelScript,
  type ScriptCursor,
  type ScriptTurn,
  START_CURSOR,
  scriptedBlocks,
} from './script';
import { type AnswerBlock, fitToMaxTokens, PromptCache } from './tokens';

export { clearModelScript, fetchConverseCalls, putModelScript } from './control-client';
export type { ModelScript } from './script';

export interface ConverseCallRecord {
  /** requestMetadata.sessionId of the call (production sets tenantId and sessionId there). */
  sessionId?: string;
  tenantId?: string;
  modelId: string;
  /** The model turn the call asks for: assistant messages in the request + 1 (turn 1 answers the goal). */
  turn: number;
  status: number;
  errorType?: string;
  usage?: {
    inputTokens: number;
    outputTokens: number;
    cacheReadInputTokens: number;
    cacheWriteInputTokens: number;
  };
  /** When the request arrived (ISO 8601). */
  at: string;
  /** The client closed the stream before the (delayed) answer was sent; the script turn was not used up. */
  abandoned?: boolean;
}

export interface BedrockEmulator {
  /** e.g. http://127.0.0.1:PORT: the value for AWS_ENDPOINT_URL_BEDROCK_RUNTIME. */
  url: string;
  setScript(sessionId: string, script: ModelScript): void;
  clearScript(sessionId: string): void;
  /** Every Converse request seen, in order of arrival (calls still being answered are left out). */
  calls(): ConverseCallRecord[];
  close(): Promise<void>;
}

interface SessionScript {
  script: ParsedModelScript;
  cursor: ScriptCursor;
}

interface Answer {
  content: AnswerBlock[];
  stopReason: string;
  usageOverride?: ScriptTurn['usage'];
}

const MAX_BODY_BYTES = 20 * 1024 * 1024;
const CONVERSE_PATH = /^\/model\/([^/]+)\/converse$/;
const SCRIPT_PATH = /^\/_local\/scripts\/([^/]+)$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const tooLarge = (): HttpError =>
  new HttpError(413, 'ValidationException', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);

/** The client reset or closed the stream: nothing can be sent any more. */
const isGone = (res: http2.Http2ServerResponse): boolean => res.stream.destroyed || res.stream.closed;

const sendJson = (
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

const sendError = (
  res: http2.Http2ServerResponse,
  status: number,
  errorType: string,
  message: string,
): void => sendJson(res, status, { message }, errorType);

const stringField = (record: unknown, key: string): string | undefined => {
  if (!isJsonObject(record)) return undefined;
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
};

const decodePathSegment = (segment: string): string => {
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

/**
 * Gives each planned toolUse block an id. Ids come from a hash of the conversation, so a retried request
 * gets the same ids and every turn of a conversation gets new ones (Bedrock requires them unique).
 */
const withToolUseIds = (
  blocks: ({ text: string } | { toolUse: { name: string; input: Record<string, unknown> } })[],
  request: ConverseRequestBody,
  ...seed: string[]
): AnswerBlock[] => {
  const conversation = stableStringify(request.messages ?? []);
  return blocks.map((block, index) =>
    'text' in block
      ? block
      : { toolUse: { toolUseId: toolUseIdFrom(...seed, String(index), conversation), ...block.toolUse } },
  );
};

/** The model turn a request asks for, read from the raw body so even rejected calls get one. */
const turnOf = (body: unknown): number => {
  if (!isJsonObject(body) || !Array.isArray(body.messages)) return 1;
  return body.messages.filter((m) => isJsonObject(m) && m.role === 'assistant').length + 1;
};

export const startBedrockEmulator = async (options: { port?: number } = {}): Promise<BedrockEmulator> => {
  const scripts = new Map<string, SessionScript>();
  const records: ConverseCallRecord[] = [];
  const cache = new PromptCache();
  const sessions = new Set<http2.ServerHttp2Session>();
  const sleepers = new Set<() => void>();
  let closing = false;

  /** Waits `ms`, or less when the client closes the stream or the emulator closes. */
  const sleep = (ms: number, stream: http2.ServerHttp2Stream): Promise<void> =>
    new Promise((resolve) => {
      if (ms <= 0 || stream.closed) return resolve();
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        stream.off('close', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
      stream.once('close', wake);
    });

  const setScript = (sessionId: string, script: ModelScript): void => {
    scripts.set(sessionId, { script: parseModelScript(script), cursor: START_CURSOR });
  };

  const answerFromScript = async (
    sessionId: string,
    entry: SessionScript,
    request: ConverseRequestBody,
    res: http2.Http2ServerResponse,
  ): Promise<Answer | 'abandoned'> => {
    const { step, next } = nextScriptStep(entry.script, entry.cursor);
    if (step.kind !== 'exhausted') await sleep(step.turn.delayMs ?? 0, res.stream);
    if (isGone(res) || closing) return 'abandoned';
    // The turn counts as used once a waiting client gets it; a script replaced meanwhile starts afresh.
    if (scripts.get(sessionId) === entry) entry.cursor = next;
    if (step.kind === 'exhausted') throw new ConverseValidationError(exhaustedMessage(sessionId, step));
    if (step.kind === 'fail') {
      throw new ConverseFaultError(
        step.errorType,
        `Scripted ${step.errorType} for session "${sessionId}", turn ${step.turnNumber} (failure ${step.failure} of ${step.of}).`,
      );
    }
    const content = withToolUseIds(
      scriptedBlocks(step.turn),
      request,
      'script',
      sessionId,
      String(step.turnNumber),
    );
    const stopReason = step.turn.stopReason ?? (step.turn.toolUse ? 'tool_use' : 'end_turn');
    return { content, stopReason, ...(step.turn.usage ? { usageOverride: step.turn.usage } : {}) };
  };

  const answerFromPolicy = (sessionId: string | undefined, request: ConverseRequestBody): Answer => {
    const planned = planFixtureAnswer(request);
    const content = withToolUseIds(planned.content, request, 'policy', sessionId ?? '');
    return { content, stopReason: planned.stopReason };
  };

  const handleConverse = async (
    modelId: string,
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ): Promise<void> => {
    const started = Date.now();
    const record: ConverseCallRecord = { modelId, turn: 1, status: 0, at: new Date(started).toISOString() };
    records.push(record);
    const finish = (status: number, errorType?: string): void => {
      record.status = status;
      if (errorType) record.errorType = errorType;
    };
    try {
      const raw = (await readBody(req, MAX_BODY_BYTES, tooLarge)).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        throw new ConverseValidationError('Malformed input request: the request body is not valid JSON.');
      }
      const metadata = isJsonObject(body) ? body.requestMetadata : undefined;
      const sessionId = stringField(metadata, 'sessionId');
      const tenantId = stringField(metadata, 'tenantId');
      if (sessionId !== undefined) record.sessionId = sessionId;
      if (tenantId !== undefined) record.tenantId = tenantId;
      record.turn = turnOf(body);

      const request = validateConverseRequest(modelId, body);
      const entry = sessionId !== undefined ? scripts.get(sessionId) : undefined;
      const answer =
        entry && sessionId !== undefined
          ? await answerFromScript(sessionId, entry, request, res)
          : answerFromPolicy(sessionId, request);
      if (answer === 'abandoned') {
        record.abandoned = true;
        finish(499);
        return;
      }

      const fitted = fitToMaxTokens(answer.content, request.inferenceConfig?.maxTokens);
      const counted = cache.measure(modelId, request);
      const usage = {
        inputTokens: answer.usageOverride?.inputTokens ?? counted.inputTokens,
        outputTokens: answer.usageOverride?.outputTokens ?? fitted.outputTokens,
        cacheReadInputTokens: answer.usageOverride?.cacheReadInputTokens ?? counted.cacheReadInputTokens,
        cacheWriteInputTokens: answer.usageOverride?.cacheWriteInputTokens ?? counted.cacheWriteInputTokens,
      };
      record.usage = usage;
      finish(200);
      sendJson(res, 200, {
        output: { message: { role: 'assistant', content: fitted.content } },
        stopReason: fitted.truncated ? 'max_tokens' : answer.stopReason,
        usage: {
          ...usage,
          // Bedrock's totalTokens counts cache reads and writes too.
          totalTokens:
            usage.inputTokens + usage.outputTokens + usage.cacheReadInputTokens + usage.cacheWriteInputTokens,
        },
        metrics: { latencyMs: Math.max(1, Date.now() - started) },
      });
    } catch (error) {
      if (error instanceof ConverseFaultError) {
        finish(error.status, error.errorType);
        sendError(res, error.status, error.errorType, error.message);
      } else if (error instanceof HttpError) {
        finish(error.status, error.errorType);
        sendError(res, error.status, error.errorType, error.message);
      } else {
        const errorType: ConverseErrorType = 'InternalServerException';
        finish(500, errorType);
        sendError(res, 500, errorType, `Bedrock emulator failure: ${(error as Error).message}`);
      }
    }
  };

  const handleControl = async (
    path: string,
    query: URLSearchParams,
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ): Promise<void> => {
    const scriptMatch = SCRIPT_PATH.exec(path);
    if (scriptMatch?.[1] !== undefined) {
      const sessionId = decodePathSegment(scriptMatch[1]);
      if (req.method === 'PUT') {
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
          setScript(sessionId, body as ModelScript);
        } catch (error) {
          if (error instanceof ModelScriptError)
            throw new HttpError(400, 'ValidationException', error.message);
          throw error;
        }
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'DELETE') {
        scripts.delete(sessionId);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'GET') {
        const entry = scripts.get(sessionId);
        if (!entry)
          throw new HttpError(
            404,
            'ResourceNotFoundException',
            `No model script for session "${sessionId}".`,
          );
        sendJson(res, 200, {
          script: entry.script,
          nextTurn: entry.cursor.turnIndex + 1,
          failuresServed: entry.cursor.failuresServed,
        });
        return;
      }
    }
    if (path === '/_local/calls' && req.method === 'GET') {
      const sessionId = query.get('sessionId');
      sendJson(
        res,
        200,
        emulator.calls().filter((c) => sessionId === null || c.sessionId === sessionId),
      );
      return;
    }
    throw new HttpError(
      404,
      'UnknownOperationException',
      `The Bedrock emulator has no ${req.method} ${path}.`,
    );
  };

  const server = http2.createServer();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    // A client that vanishes mid-stream is not the emulator's failure.
    session.on('error', () => session.destroy());
  });
  server.on('request', (req, res) => {
    const dispatch = async (): Promise<void> => {
      const url = new URL(req.url ?? '/', 'http://emulator.local');
      const converse = CONVERSE_PATH.exec(url.pathname);
      if (converse?.[1] !== undefined && req.method === 'POST') {
        return handleConverse(decodePathSegment(converse[1]), req, res);
      }
      return handleControl(url.pathname, url.searchParams, req, res);
    };
    dispatch().catch((error: unknown) => {
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
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const emulator: BedrockEmulator = {
    url: `http://127.0.0.1:${port}`,
    setScript,
    clearScript: (sessionId) => {
      scripts.delete(sessionId);
    },
    calls: () =>
      records
        .filter((r) => r.status !== 0)
        .map((r) => ({ ...r, ...(r.usage ? { usage: { ...r.usage } } : {}) })),
    close: async () => {
      closing = true;
      for (const wake of [...sleepers]) wake();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
  return emulator;
};
