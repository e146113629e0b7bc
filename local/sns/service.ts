/**
 * Local SNS: the topics of serverless.yml, serving the one operation a function calls (Publish, by costAlert).
 * Published messages are kept in memory and appended to `<dataDir>/sns.jsonl`, where `sovereign-agent alerts`
 * reads them; no subscription is delivered to (an email would leave the machine).
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { escapeXml, startQueryServer } from '../aws/query-protocol';
import { invalidParameter, notFound, SNS_QUERY_SERVICE } from './protocol';

export interface TopicSpec {
  name: string;
  arn: string;
}

export const publishedMessageSchema = z.object({
  messageId: z.string(),
  topicArn: z.string(),
  subject: z.string().optional(),
  message: z.string(),
  messageAttributes: z.record(z.string(), z.object({ dataType: z.string(), value: z.string() })),
  publishedAt: z.string(),
});
export type PublishedMessage = z.infer<typeof publishedMessageSchema>;

export interface SnsServiceOptions {
  topics: TopicSpec[];
  /** When given, messages are appended to `<dataDir>/sns.jsonl`. */
  dataDir?: string;
  port?: number;
}

export interface SnsService {
  url: string;
  /** Every message published since start, oldest first. */
  messages(): PublishedMessage[];
  close(): Promise<void>;
}

export const SNS_MESSAGES_FILE = 'sns.jsonl';

/** The messages a (possibly stopped) local SNS kept in `dataDir`, oldest first. */
export const readPublishedMessages = (dataDir: string): PublishedMessage[] => {
  let text: string;
  try {
    text = readFileSync(join(dataDir, SNS_MESSAGES_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => publishedMessageSchema.parse(JSON.parse(line)));
};

/** `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` (or BinaryValue) of the form. */
export const messageAttributesOf = (params: URLSearchParams): PublishedMessage['messageAttributes'] => {
  const attributes: PublishedMessage['messageAttributes'] = {};
  for (let n = 1; params.has(`MessageAttributes.entry.${n}.Name`); n++) {
    const at = `MessageAttributes.entry.${n}`;
    const name = params.get(`${at}.Name`) ?? '';
    const dataType = params.get(`${at}.Value.DataType`);
    const value = params.get(`${at}.Value.StringValue`) ?? params.get(`${at}.Value.BinaryValue`);
    if (dataType === null || value === null) {
      throw invalidParameter(
        `The message attribute '${name}' must contain a non-empty value of type '${dataType ?? 'String'}'.`,
      );
    }
    attributes[name] = { dataType, value };
  }
  return attributes;
};

const MAX_MESSAGE_BYTES = 256 * 1024;

const publish = (topics: Map<string, TopicSpec>, params: URLSearchParams): PublishedMessage => {
  const topicArn = params.get('TopicArn') ?? params.get('TargetArn');
  if (topicArn === null)
    throw invalidParameter('TopicArn or TargetArn Reason: no value for required parameter');
  if (!topics.has(topicArn)) throw notFound('Topic does not exist');
  const message = params.get('Message');
  if (message === null || message === '') throw invalidParameter('Message: Empty message');
  if (Buffer.byteLength(message) > MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');
  const subject = params.get('Subject') ?? undefined;
  if (subject !== undefined && (subject.length > 100 || /[^\x20-\x7e]/.test(subject))) {
    throw invalidParameter('Subject');
  }
  return {
    messageId: randomUUID(),
    topicArn,
    ...(subject === undefined ? {} : { subject }),
    message,
    messageAttributes: messageAttributesOf(params),
    publishedAt: new Date().toISOString(),
  };
};

export const startSnsService = async (o: SnsServiceOptions): Promise<SnsService> => {
  const topics = new Map(o.topics.map((t) => [t.arn, t]));
  const kept: PublishedMessage[] = [];
  if (o.dataDir !== undefined) mkdirSync(o.dataDir, { recursive: true });
  const server = await startQueryServer(
    SNS_QUERY_SERVICE,
    {
      Publish: (params) => {
        const published = publish(topics, params);
        kept.push(published);
        if (o.dataDir !== undefined) {
          appendFileSync(join(o.dataDir, SNS_MESSAGES_FILE), `${JSON.stringify(published)}\n`);
        }
        return `<MessageId>${escapeXml(published.messageId)}</MessageId>`;
      },
    },
    o.port,
  );
  return { url: server.url, messages: () => [...kept], close: () => server.close() };
};
