/**
 * The Converse operation: reads and checks the request (Bedrock's rules and the model catalog's), answers from the
 * session's script or the fixture model, counts tokens.
 */
import type http2 from 'node:http2';
import { readBody } from '../aws/http';
import { checkAgainstCatalog, requireInvocableModel } from './catalog-rules';
import { type ConverseRequestBody, validateConverseRequest } from './converse-request';
import { type ConverseErrorType, ConverseFaultError, ConverseValidationError } from './errors';
import { planFixtureAnswer } from './fixture-model';
import { GuardrailEmulator, type Intervention } from './guardrails';
import { HttpError, sendError, sendJson } from './http2-server';
import { isJsonObject } from './json';
import type { Answer, SessionScripts } from './session-scripts';
import { fitToMaxTokens, PromptCache } from './tokens';
import { withToolUseIds } from './tool-use-ids';

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
  /** guardrailConfig.guardrailIdentifier of the call, when it named a guardrail. */
  guardrail?: string;
}

export const MAX_BODY_BYTES = 20 * 1024 * 1024;

export const tooLarge = (): HttpError =>
  new HttpError(413, 'ValidationException', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);

const stringField = (record: unknown, key: string): string | undefined => {
  if (!isJsonObject(record)) return undefined;
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
};

/** The model turn a request asks for, read from the raw body so even rejected calls get one. */
const turnOf = (body: unknown): number => {
  if (!isJsonObject(body) || !Array.isArray(body.messages)) return 1;
  return body.messages.filter((m) => isJsonObject(m) && m.role === 'assistant').length + 1;
};

/** Without a script, the deterministic fixture model plans the answer (offline runs, not a model). */
const answerFromFixtureModel = (sessionId: string | undefined, request: ConverseRequestBody): Answer => {
  const planned = planFixtureAnswer(request);
  const content = withToolUseIds(planned.content, request, 'policy', sessionId ?? '');
  return { content, stopReason: planned.stopReason };
};

/** Parses the body, noting session, tenant and turn on the record before validation can reject the call. */
const readRequest = async (
  modelId: string,
  req: http2.Http2ServerRequest,
  record: ConverseCallRecord,
): Promise<ConverseRequestBody> => {
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
  const entry = requireInvocableModel(modelId);
  const request = validateConverseRequest(modelId, body);
  if (request.guardrailConfig) record.guardrail = request.guardrailConfig.guardrailIdentifier;
  checkAgainstCatalog(entry, request);
  return request;
};

/** Answers Converse calls and keeps a record of each one, in order of arrival. */
export class ConverseHandler {
  private readonly records: ConverseCallRecord[] = [];
  private readonly cache = new PromptCache();

  constructor(
    private readonly scripts: SessionScripts,
    private readonly guardrails: GuardrailEmulator = new GuardrailEmulator(),
  ) {}

  /** Every call answered so far (calls still being answered are left out). */
  calls(): ConverseCallRecord[] {
    return this.records
      .filter((r) => r.status !== 0)
      .map((r) => ({ ...r, ...(r.usage ? { usage: { ...r.usage } } : {}) }));
  }

  async handle(
    modelId: string,
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ): Promise<void> {
    const started = Date.now();
    const record: ConverseCallRecord = { modelId, turn: 1, status: 0, at: new Date(started).toISOString() };
    this.records.push(record);
    const fail = (status: number, errorType: string, message: string): void => {
      record.status = status;
      record.errorType = errorType;
      sendError(res, status, errorType, message);
    };
    try {
      const request = await readRequest(modelId, req, record);
      // A guardrail that blocks the input answers before the model is called (no script turn is used up).
      const blocked = this.guardrails.checkInput(request);
      if (blocked) return this.send(res, record, modelId, request, blocked, started);
      const { sessionId } = record;
      const answer = this.scripts.has(sessionId)
        ? await this.scripts.answer(sessionId, request, res.stream, modelId)
        : answerFromFixtureModel(sessionId, request);
      if (answer === 'abandoned') {
        record.abandoned = true;
        record.status = 499;
        return;
      }
      const intervened = this.guardrails.checkOutput(request, answer.content);
      this.send(res, record, modelId, request, intervened ? { ...answer, ...intervened } : answer, started);
    } catch (error) {
      if (error instanceof ConverseFaultError || error instanceof HttpError) {
        fail(error.status, error.errorType, error.message);
      } else {
        const errorType: ConverseErrorType = 'InternalServerException';
        fail(500, errorType, `Bedrock emulator failure: ${(error as Error).message}`);
      }
    }
  }

  /** The 200 answer: content cut at maxTokens, usage counted (or overridden by the script), latency. */
  private send(
    res: http2.Http2ServerResponse,
    record: ConverseCallRecord,
    modelId: string,
    request: ConverseRequestBody,
    answer: Answer | (Intervention & Partial<Answer>),
    started: number,
  ): void {
    const fitted = fitToMaxTokens(answer.content, request.inferenceConfig?.maxTokens);
    const counted = this.cache.measure(modelId, request);
    const usage = {
      inputTokens: answer.usageOverride?.inputTokens ?? counted.inputTokens,
      outputTokens: answer.usageOverride?.outputTokens ?? fitted.outputTokens,
      cacheReadInputTokens: answer.usageOverride?.cacheReadInputTokens ?? counted.cacheReadInputTokens,
      cacheWriteInputTokens: answer.usageOverride?.cacheWriteInputTokens ?? counted.cacheWriteInputTokens,
    };
    record.usage = usage;
    record.status = 200;
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
      ...('trace' in answer && answer.trace ? { trace: answer.trace } : {}),
    });
  }
}
