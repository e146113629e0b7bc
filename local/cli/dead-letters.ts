/**
 * `sovereign-agent dead-letters`: the goal events intake never accepted, peeked from the intake dead-letter queue
 * (ReceiveMessage with VisibilityTimeout 0, so listing hides nothing from other readers). Two kinds of message land
 * there: Lambda's on-failure invocation records (the event is `requestPayload`) and events EventBridge could not
 * deliver (the body is the event; the why is in its message attributes).
 */
import {
  GetQueueUrlCommand,
  type Message,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { localClientCredentials } from '../aws/credentials';
import { LocalError } from '../aws/errors';

export class DeadLettersError extends LocalError {}

export interface DeadLetter {
  messageId: string;
  /** `lambda`: an on-failure record of intake; `eventbridge`: an event the bus could not deliver. */
  source: 'lambda' | 'eventbridge';
  /** When it failed (the record's timestamp, else when the message was sent). */
  at: string;
  /** RetriesExhausted / EventAgeExceeded (Lambda), or EventBridge's ERROR_CODE. */
  condition: string;
  attempts: number | null;
  functionArn: string | null;
  error: { type: string; message: string } | null;
  eventId: string | null;
  detailType: string | null;
  tenantId: string | null;
  goalId: string | null;
  /** The goal event as it was delivered. */
  event: unknown;
}

const eventSchema = z.looseObject({
  id: z.string().optional(),
  'detail-type': z.string().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

const recordSchema = z.looseObject({
  timestamp: z.string(),
  requestContext: z.looseObject({
    functionArn: z.string(),
    condition: z.string(),
    approximateInvokeCount: z.number(),
  }),
  requestPayload: z.unknown(),
  responsePayload: z.unknown(),
});

const errorPayloadSchema = z.looseObject({
  errorType: z.string().optional(),
  errorMessage: z.string().optional(),
});

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** Which goal a delivered event was about: its id, tenant and goal (or the resumed session). */
const aboutEvent = (event: unknown) => {
  const parsed = eventSchema.safeParse(event);
  const e = parsed.success ? parsed.data : {};
  return {
    eventId: text(e.id),
    detailType: text(e['detail-type']),
    tenantId: text(e.detail?.tenantId),
    goalId: text(e.detail?.goalId) ?? text(e.detail?.sessionId),
  };
};

const jsonOf = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
};

/** One message of the queue as a dead letter, whichever of the two senders wrote it. */
export const deadLetterOf = (message: Message): DeadLetter => {
  const body = jsonOf(message.Body ?? '');
  const messageId = message.MessageId ?? '';
  const record = recordSchema.safeParse(body);
  if (record.success) {
    const { requestContext: ctx } = record.data;
    const payload = errorPayloadSchema.safeParse(record.data.responsePayload);
    return {
      messageId,
      source: 'lambda',
      at: record.data.timestamp,
      condition: ctx.condition,
      attempts: ctx.approximateInvokeCount,
      functionArn: ctx.functionArn,
      error: payload.success
        ? { type: payload.data.errorType ?? 'Error', message: payload.data.errorMessage ?? '' }
        : null,
      ...aboutEvent(record.data.requestPayload),
      event: record.data.requestPayload,
    };
  }
  const attribute = (name: string) => message.MessageAttributes?.[name]?.StringValue;
  const sent = Number(message.Attributes?.SentTimestamp);
  const retries = Number(attribute('RETRY_ATTEMPTS'));
  return {
    messageId,
    source: 'eventbridge',
    at: Number.isFinite(sent) ? new Date(sent).toISOString() : '',
    condition: attribute('ERROR_CODE') ?? 'UNKNOWN',
    attempts: Number.isFinite(retries) ? retries + 1 : null,
    functionArn: attribute('TARGET_ARN') ?? null,
    error: { type: attribute('ERROR_CODE') ?? 'UNKNOWN', message: attribute('ERROR_MESSAGE') ?? '' },
    ...aboutEvent(body),
    event: body,
  };
};

/** One line: when, why, which goal. */
export const formatDeadLetter = (d: DeadLetter): string => {
  const why =
    d.source === 'lambda'
      ? `${d.condition} after ${d.attempts ?? '?'} tries`
      : `EventBridge could not deliver (${d.condition})`;
  const error = d.error === null ? '' : `: ${d.error.type}: ${d.error.message.split('\n')[0]}`;
  const goal = `tenant ${d.tenantId ?? '?'} goal ${d.goalId ?? '?'} event ${d.eventId ?? '?'}`;
  return `${d.at}  ${goal}  ${why}${error}`;
};

/** Rounds of peeks: SQS returns at most 10 messages per receive, a sample of a standard queue's messages. */
const MAX_ROUNDS = 20;

/** Every dead letter the queue `queueName` returns to peeks, oldest first. */
export const listDeadLetters = async (env: Record<string, string>): Promise<DeadLetter[]> => {
  const queueName = env.INTAKE_DEAD_LETTER_QUEUE_NAME;
  const endpoint = env.AWS_ENDPOINT_URL_SQS;
  if (queueName === undefined || endpoint === undefined) {
    throw new DeadLettersError(
      'This stack has no intake dead-letter queue (IntakeDeadLetterQueue in serverless.yml)',
    );
  }
  const sqs = new SQSClient({ endpoint, region: env.AWS_REGION ?? 'us-east-1', ...localClientCredentials() });
  try {
    const { QueueUrl } = await sqs
      .send(new GetQueueUrlCommand({ QueueName: queueName }))
      .catch((error: unknown) => {
        if (error instanceof QueueDoesNotExist)
          throw new DeadLettersError(`No queue ${queueName} on this stack`);
        throw error;
      });
    const seen = new Map<string, DeadLetter>();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      const fresh = (out.Messages ?? []).filter((m) => m.MessageId !== undefined && !seen.has(m.MessageId));
      if (fresh.length === 0) break;
      for (const m of fresh) seen.set(m.MessageId ?? '', deadLetterOf(m));
    }
    return [...seen.values()].sort((a, b) => a.at.localeCompare(b.at));
  } finally {
    sqs.destroy();
  }
};
