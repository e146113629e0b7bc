/**
 * The wire protocol of the local SNS stand-in, as @aws-sdk/client-sns speaks it (AwsQueryProtocol, version
 * 2010-03-31): a form-encoded POST with `Action` and `Version`, an `<ActionResponse><ActionResult>` XML answer, and
 * errors as `<ErrorResponse><Error><Type/><Code/><Message/></Error>` whose Code the SDK maps to its exception
 * (NotFound -> NotFoundException, 404; InvalidParameter -> InvalidParameterException, 400: the `awsQueryError`
 * traits in the client's schema).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LocalError } from '../aws/errors';
import { type LoopbackListener, listenOnLoopback, readBody } from '../aws/http';
import { escapeXml } from '../cloudformation/query-protocol';

export const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const API_VERSION = '2010-03-31';
/** Publish takes messages up to 256 KiB; the form around one is a little larger. */
const MAX_BODY_BYTES = 512 * 1024;

/** An error SNS answers with: its query code (the SDK error's name less "Exception") and status. */
export class SnsApiError extends LocalError {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

export const notFound = (message: string): SnsApiError => new SnsApiError('NotFound', message, 404);
export const invalidParameter = (message: string): SnsApiError =>
  new SnsApiError('InvalidParameter', `Invalid parameter: ${message}`, 400);

/** An action: the form parameters in, the inner XML of `<ActionResult>` out. */
export type SnsAction = (params: URLSearchParams) => string;

const sendXml = (res: ServerResponse, status: number, requestId: string, xml: string): void => {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}\n`;
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': String(Buffer.byteLength(body)),
    'x-amzn-requestid': requestId,
  });
  res.end(body);
};

const answer = async (
  req: IncomingMessage,
  actions: Record<string, SnsAction>,
  requestId: string,
): Promise<string> => {
  if (req.method !== 'POST') throw new SnsApiError('InvalidAction', `No route for ${req.method}`, 404);
  const body = await readBody(req, MAX_BODY_BYTES, () => invalidParameter('request body too large'));
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action') ?? '';
  const version = params.get('Version');
  if (version !== null && version !== API_VERSION) {
    throw invalidParameter(`Version ${version} is not supported; SNS's API version is ${API_VERSION}`);
  }
  const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
  if (run === undefined) {
    throw new SnsApiError(
      'InvalidAction',
      `The local SNS answers ${Object.keys(actions).join(', ')} only (got ${action === '' ? 'no Action' : action})`,
    );
  }
  return (
    `<${action}Response xmlns="${SNS_XMLNS}"><${action}Result>${run(params)}</${action}Result>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
};

const errorXml = (error: unknown, requestId: string): { status: number; xml: string } => {
  if (!(error instanceof SnsApiError)) console.error('[local sns] internal error', error);
  const apiError =
    error instanceof SnsApiError
      ? error
      : new SnsApiError('InternalError', error instanceof Error ? error.message : String(error), 500);
  const type = apiError.statusCode >= 500 ? 'Receiver' : 'Sender';
  return {
    status: apiError.statusCode,
    xml:
      `<ErrorResponse xmlns="${SNS_XMLNS}"><Error><Type>${type}</Type><Code>${escapeXml(apiError.code)}</Code>` +
      `<Message>${escapeXml(apiError.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
};

/** Serves `actions` over the Query protocol on 127.0.0.1. */
export const startSnsServer = (
  actions: Record<string, SnsAction>,
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
