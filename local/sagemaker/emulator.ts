/**
 * Local SageMaker Runtime stand-in: InvokeEndpoint (`POST /endpoints/{EndpointName}/invocations`, REST-JSON over
 * HTTP/1.1 as the SDK sends it) on the stage's endpoints, answering OpenAI-compatible chat completions like an
 * LMI/TGI container from the same model scripts and fixture model as the Bedrock emulator, usage from its token
 * counter. Every call is recorded, so a test can say which provider a session reached.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LOCAL_ACCOUNT_ID } from '../aws/credentials';
import { listenOnLoopback, readBody } from '../aws/http';
import type { ConverseRequestBody } from '../bedrock/converse-request';
import { ConverseFaultError } from '../bedrock/errors';
import { planFixtureAnswer } from '../bedrock/fixture-model';
import type { Answer, SessionScripts } from '../bedrock/session-scripts';
import { fitToMaxTokens, PromptCache } from '../bedrock/tokens';
import { withToolUseIds } from '../bedrock/tool-use-ids';
import { chatRequestSchema, chatResponseOf, converseRequestOf, readCustomAttributes } from './chat-request';
import { faultFor, InvokeEndpointFault, modelError } from './errors';

export interface InvokeEndpointCallRecord {
  endpointName: string;
  /** From X-Amzn-SageMaker-Custom-Attributes (production sends tenantId, sessionId and turn there). */
  sessionId?: string;
  tenantId?: string;
  /** The model turn the call asks for: assistant messages in the request + 1. */
  turn: number;
  status: number;
  errorType?: string;
  usage?: { promptTokens: number; completionTokens: number };
  at: string;
  abandoned?: boolean;
}

export interface SageMakerEmulator {
  /** e.g. http://127.0.0.1:PORT: the value for AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME. */
  url: string;
  /** Every InvokeEndpoint call answered, in order of arrival. */
  calls(): InvokeEndpointCallRecord[];
  close(): Promise<void>;
}

export interface SageMakerEmulatorOptions {
  /** The endpoints that exist (the stage's PRIVATE_MODEL_ENDPOINT); any other name is "not found". */
  endpointNames: string[];
  /** The Bedrock emulator's scripts: one session's script answers whichever provider it calls. */
  scripts: SessionScripts;
  region: string;
  port?: number;
}

const MAX_BODY_BYTES = 6 * 1024 * 1024; // InvokeEndpoint's payload limit: 6 MB.
const INVOCATIONS_PATH = /^\/endpoints\/([^/]+)\/invocations$/;

const send = (res: ServerResponse, status: number, body: unknown, errorType?: string): void => {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-requestid': randomUUID(),
    ...(errorType
      ? { 'x-amzn-errortype': errorType }
      : { 'x-amzn-invoked-production-variant': 'AllTraffic' }),
  });
  res.end(JSON.stringify(body));
};

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Answers InvokeEndpoint calls on the known endpoints and keeps a record of each. */
class InvocationHandler {
  private readonly records: InvokeEndpointCallRecord[] = [];
  private readonly cache = new PromptCache();

  constructor(private readonly options: SageMakerEmulatorOptions) {}

  calls(): InvokeEndpointCallRecord[] {
    return this.records.filter((r) => r.status !== 0).map((r) => ({ ...r }));
  }

  async handle(endpointName: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: InvokeEndpointCallRecord = {
      endpointName,
      turn: 1,
      status: 0,
      at: new Date().toISOString(),
    };
    this.records.push(record);
    try {
      const request = await this.readRequest(endpointName, req, record);
      const answer = await this.answer(record.sessionId, request, res, endpointName);
      if (answer === 'abandoned') {
        record.abandoned = true;
        record.status = 499;
        return;
      }
      const fitted = fitToMaxTokens(answer.content, request.inferenceConfig?.maxTokens);
      const promptTokens =
        answer.usageOverride?.inputTokens ?? this.cache.measure(endpointName, request).inputTokens;
      const completionTokens = answer.usageOverride?.outputTokens ?? fitted.outputTokens;
      record.usage = { promptTokens, completionTokens };
      record.status = 200;
      const stopReason = fitted.truncated ? 'max_tokens' : answer.stopReason;
      send(
        res,
        200,
        chatResponseOf({
          id: `chatcmpl-${randomUUID()}`,
          model: endpointName,
          content: fitted.content,
          stopReason,
          promptTokens,
          completionTokens,
          created: Math.floor(Date.now() / 1000),
        }),
      );
    } catch (error) {
      const fault = this.faultOf(endpointName, error);
      record.status = fault.status;
      record.errorType = fault.errorType;
      send(res, fault.status, { Message: fault.message, ...fault.members }, fault.errorType);
    }
  }

  /** Script or fixture model, as the Bedrock emulator answers; a scripted fault becomes SageMaker's. */
  private answer(
    sessionId: string | undefined,
    request: ConverseRequestBody,
    res: ServerResponse,
    endpointName: string,
  ): Promise<Answer | 'abandoned'> | Answer {
    if (this.options.scripts.has(sessionId))
      return this.options.scripts.answer(sessionId, request, res, endpointName);
    const planned = planFixtureAnswer(request);
    return {
      content: withToolUseIds(planned.content, request, 'policy', sessionId ?? ''),
      stopReason: planned.stopReason,
    };
  }

  private faultOf(endpointName: string, error: unknown): InvokeEndpointFault {
    if (error instanceof InvokeEndpointFault) return error;
    if (error instanceof ConverseFaultError) {
      return faultFor(error.errorType, error.message, {
        name: endpointName,
        accountId: LOCAL_ACCOUNT_ID,
        region: this.options.region,
      });
    }
    return new InvokeEndpointFault(
      500,
      'InternalFailure',
      `SageMaker emulator failure: ${(error as Error).message}`,
    );
  }

  /** The endpoint must exist, the call be signed for SageMaker and the body a chat-completions request. */
  private async readRequest(
    endpointName: string,
    req: IncomingMessage,
    record: InvokeEndpointCallRecord,
  ): Promise<ConverseRequestBody> {
    const tooLarge = () =>
      new InvokeEndpointFault(413, 'ValidationError', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    const raw = (await readBody(req, MAX_BODY_BYTES, tooLarge)).toString('utf8');
    if (!(header(req, 'authorization') ?? '').includes('/sagemaker/aws4_request')) {
      throw new InvokeEndpointFault(
        403,
        'MissingAuthenticationTokenException',
        'Missing Authentication Token',
      );
    }
    const metadata = readCustomAttributes(header(req, 'x-amzn-sagemaker-custom-attributes'));
    if (metadata.sessionId !== undefined) record.sessionId = metadata.sessionId;
    if (metadata.tenantId !== undefined) record.tenantId = metadata.tenantId;
    if (!this.options.endpointNames.includes(endpointName)) {
      // Wording as SageMaker answers it (e.g. github.com/aws/amazon-sagemaker-examples/issues/293).
      throw new InvokeEndpointFault(
        400,
        'ValidationError',
        `Endpoint ${endpointName} of account ${LOCAL_ACCOUNT_ID} not found.`,
      );
    }
    const containerError = (status: number, message: string) =>
      modelError(endpointName, LOCAL_ACCOUNT_ID, this.options.region, status, message);
    if (!(header(req, 'content-type') ?? '').startsWith('application/json')) {
      throw containerError(415, `Content type ${header(req, 'content-type')} is not supported`);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw containerError(400, 'The request body is not JSON');
    }
    const chat = chatRequestSchema.safeParse(body);
    if (!chat.success) throw containerError(400, `Not a chat-completions request: ${chat.error.message}`);
    record.turn = chat.data.messages.filter((m) => m.role === 'assistant').length + 1;
    try {
      return converseRequestOf(chat.data, metadata);
    } catch (error) {
      throw containerError(400, `Tool call arguments are not JSON: ${(error as Error).message}`);
    }
  }
}

export const startSageMakerEmulator = async (
  options: SageMakerEmulatorOptions,
): Promise<SageMakerEmulator> => {
  const handler = new InvocationHandler(options);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator.local');
    const match = INVOCATIONS_PATH.exec(url.pathname);
    if (match?.[1] === undefined || req.method !== 'POST') {
      send(
        res,
        404,
        { Message: `The SageMaker emulator has no ${req.method} ${url.pathname}.` },
        'UnknownOperationException',
      );
      return;
    }
    handler.handle(decodeURIComponent(match[1]), req, res).catch((error: unknown) => {
      send(
        res,
        500,
        { Message: `SageMaker emulator failure: ${(error as Error).message}` },
        'InternalFailure',
      );
    });
  });
  const listener = await listenOnLoopback(server, options.port);
  return { url: listener.url, calls: () => handler.calls(), close: () => listener.close() };
};
