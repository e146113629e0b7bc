/** The AWS Query protocol as CloudFormation speaks it: form-encoded `Action=...` requests, XML answers and errors. */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type LoopbackListener, listenOnLoopback, readBody } from '../aws/http';
import { LocalServiceError } from '../aws/json-protocol';

const XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
const API_VERSION = '2010-05-15';
/** The Query protocol carries small forms; anything this large is not a CloudFormation read. */
const MAX_BODY_BYTES = 1024 * 1024;

/** An error answered in the Query protocol's `<ErrorResponse>` shape; `code` becomes the SDK error's name. */
export class CloudFormationApiError extends LocalServiceError {
  readonly code: string;
  readonly statusCode: number;
  readonly type: 'Sender' | 'Receiver';
  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options);
    this.name = 'CloudFormationApiError';
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

const sendXml = (res: ServerResponse, status: number, requestId: string, xml: string): void => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/xml');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('x-amzn-requestid', requestId);
  res.end(body);
};

/** Reads the form, checks Version and Action, and runs the action; errors are thrown as CloudFormationApiError. */
const answer = async (
  req: IncomingMessage,
  actions: Record<string, QueryAction>,
  requestId: string,
): Promise<string> => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method !== 'POST' || url.pathname !== '/') {
    throw new CloudFormationApiError('InvalidAction', `No route for ${req.method} ${url.pathname}`, {
      statusCode: 404,
    });
  }
  const body = await readBody(
    req,
    MAX_BODY_BYTES,
    () => new CloudFormationApiError('RequestEntityTooLarge', 'Request body too large', { statusCode: 413 }),
  );
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action') ?? '';
  const version = params.get('Version');
  if (version !== null && version !== API_VERSION) {
    throw new CloudFormationApiError(
      'InvalidParameterValue',
      `Version ${version} is not supported; CloudFormation's API version is ${API_VERSION}`,
    );
  }
  const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
  if (run === undefined) {
    throw new CloudFormationApiError(
      'InvalidAction',
      `The local CloudFormation answers ${Object.keys(actions).join(', ')} only (got ${action === '' ? 'no Action' : action})`,
    );
  }
  return (
    `<${action}Response xmlns="${XMLNS}"><${action}Result>${run(params)}</${action}Result>` +
    `<ResponseMetadata>${el('RequestId', requestId)}</ResponseMetadata></${action}Response>`
  );
};

/** The `<ErrorResponse>` of an error; anything but a CloudFormationApiError is a stand-in bug, answered as InternalFailure. */
const errorXml = (error: unknown, requestId: string): { status: number; xml: string } => {
  const apiError =
    error instanceof CloudFormationApiError
      ? error
      : new CloudFormationApiError(
          'InternalFailure',
          error instanceof Error ? error.message : String(error),
          {
            statusCode: 500,
            cause: error,
          },
        );
  // A bug in the stand-in, not a modelled AWS error: say so loudly.
  if (!(error instanceof CloudFormationApiError))
    console.error('[local cloudformation] internal error', error);
  return {
    status: apiError.statusCode,
    xml: `<ErrorResponse xmlns="${XMLNS}"><Error>${
      el('Type', apiError.type) + el('Code', apiError.code) + el('Message', apiError.message)
    }</Error>${el('RequestId', requestId)}</ErrorResponse>`,
  };
};

/** Serves `actions` over the Query protocol on 127.0.0.1. */
export const startQueryServer = (
  actions: Record<string, QueryAction>,
  port?: number,
): Promise<LoopbackListener> => {
  const server = createServer((req, res) => {
    const requestId = randomUUID();
    answer(req, actions, requestId).then(
      (xml) => sendXml(res, 200, requestId, xml),
      (error: unknown) => {
        const { status, xml } = errorXml(error, requestId);
        sendXml(res, status, requestId, xml);
      },
    );
  });
  return listenOnLoopback(server, port);
};
