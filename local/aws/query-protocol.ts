/**
 * The AWS Query protocol as the SDK's awsQuery clients speak it (CloudFormation, SNS): form-encoded `Action=...`
 * POSTs, `<ActionResponse><ActionResult>` XML answers, errors as `<ErrorResponse><Error><Type/><Code/><Message/>`
 * whose Code the SDK turns into its exception. One server for every stand-in that speaks it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type LoopbackListener, listenOnLoopback, readBody } from './http';
import { LocalServiceError } from './json-protocol';

/** An error answered in the `<ErrorResponse>` shape; `code` becomes the SDK error's name. */
export class QueryApiError extends LocalServiceError {
  readonly code: string;
  readonly statusCode: number;
  readonly type: 'Sender' | 'Receiver';
  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.name = 'QueryApiError';
    this.code = code;
    this.statusCode = options?.statusCode ?? 400;
    this.type = this.statusCode >= 500 ? 'Receiver' : 'Sender';
  }
}

export const escapeXml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );

/** `<name>text</name>`, escaped; nothing when the value is absent (the Query protocol omits empty members). */
export const el = (name: string, value: string | undefined): string =>
  value === undefined ? '' : `<${name}>${escapeXml(value)}</${name}>`;

export const members = (items: string[]): string =>
  items.map((inner) => `<member>${inner}</member>`).join('');

/** An action: the request's form parameters in, the inner XML of `<ActionResult>` out. */
export type QueryAction = (params: URLSearchParams) => string;

/** What tells one Query service from another. */
export interface QueryService {
  /** For messages and logs: "CloudFormation", "SNS". */
  name: string;
  xmlns: string;
  apiVersion: string;
  maxBodyBytes: number;
  /** The code of a stand-in bug's error (CloudFormation: InternalFailure; SNS: InternalError). */
  internalErrorCode: string;
  /** The code of a Version the service does not speak (InvalidParameterValue, InvalidParameter). */
  invalidVersionCode: string;
}

const sendXml = (res: ServerResponse, status: number, requestId: string, xml: string): void => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/xml');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('x-amzn-requestid', requestId);
  res.end(body);
};

/** Reads the form, checks Version and Action, and runs the action; errors are thrown as QueryApiError. */
const answer = async (
  service: QueryService,
  req: IncomingMessage,
  actions: Record<string, QueryAction>,
  requestId: string,
): Promise<string> => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method !== 'POST' || url.pathname !== '/') {
    throw new QueryApiError('InvalidAction', `No route for ${req.method} ${url.pathname}`, {
      statusCode: 404,
    });
  }
  const body = await readBody(
    req,
    service.maxBodyBytes,
    () => new QueryApiError('RequestEntityTooLarge', 'Request body too large', { statusCode: 413 }),
  );
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action') ?? '';
  const version = params.get('Version');
  if (version !== null && version !== service.apiVersion) {
    throw new QueryApiError(
      service.invalidVersionCode,
      `Version ${version} is not supported; ${service.name}'s API version is ${service.apiVersion}`,
    );
  }
  const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
  if (run === undefined) {
    throw new QueryApiError(
      'InvalidAction',
      `The local ${service.name} answers ${Object.keys(actions).join(', ')} only (got ${action === '' ? 'no Action' : action})`,
    );
  }
  return (
    `<${action}Response xmlns="${service.xmlns}"><${action}Result>${run(params)}</${action}Result>` +
    `<ResponseMetadata>${el('RequestId', requestId)}</ResponseMetadata></${action}Response>`
  );
};

/** The `<ErrorResponse>` of an error; anything but a QueryApiError is a stand-in bug, answered as its internal error. */
const errorXml = (
  service: QueryService,
  error: unknown,
  requestId: string,
): { status: number; xml: string } => {
  const apiError =
    error instanceof QueryApiError
      ? error
      : new QueryApiError(service.internalErrorCode, error instanceof Error ? error.message : String(error), {
          statusCode: 500,
          cause: error,
        });
  // A bug in the stand-in, not a modelled AWS error: say so loudly.
  if (!(error instanceof QueryApiError)) console.error(`[local ${service.name}] internal error`, error);
  return {
    status: apiError.statusCode,
    xml: `<ErrorResponse xmlns="${service.xmlns}"><Error>${
      el('Type', apiError.type) + el('Code', apiError.code) + el('Message', apiError.message)
    }</Error>${el('RequestId', requestId)}</ErrorResponse>`,
  };
};

/** Serves `actions` of `service` over the Query protocol on 127.0.0.1. */
export const startQueryServer = (
  service: QueryService,
  actions: Record<string, QueryAction>,
  port?: number,
): Promise<LoopbackListener> => {
  const server = createServer((req, res) => {
    const requestId = randomUUID();
    answer(service, req, actions, requestId).then(
      (xml) => sendXml(res, 200, requestId, xml),
      (error: unknown) => {
        const { status, xml } = errorXml(service, error, requestId);
        sendXml(res, status, requestId, xml);
      },
    );
  });
  return listenOnLoopback(server, port);
};
