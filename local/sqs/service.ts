/**
 * Local SQS: the queues of serverless.yml (standard queues), serving only the operations the local stack calls:
 * SendMessage (Lambda's on-failure destination, EventBridge's target dead-letter queue), GetQueueUrl and
 * ReceiveMessage (the `dead-letters` CLI). Messages persist in `<dataDir>/sqs/<queue>.json`.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { LOCAL_ACCOUNT_ID } from '../aws/credentials';
import { invalidParameterValue, queueDoesNotExist, SqsApiError, startSqsServer } from './protocol';
import {
  LocalQueue,
  type MessageAttribute,
  md5Hex,
  md5OfAttributes,
  messageAttributeSchema,
  messageSize,
  type QueueSpec,
  type StoredMessage,
} from './queue';

export type { QueueSpec } from './queue';

export interface SqsServiceOptions {
  queues: QueueSpec[];
  /** When given, messages persist under `<dataDir>/sqs/`. */
  dataDir?: string;
  port?: number;
}

export interface SqsService {
  url: string;
  /** `<url>/<account>/<name>`: SDK clients send a queue's requests to its URL's host, so it names this endpoint. */
  queueUrl(name: string): string;
  close(): Promise<void>;
}

/** Zod issues become the error SQS answers for a malformed parameter. */
const parse = <T>(schema: z.ZodType<T>, input: unknown): T => {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw invalidParameterValue(zodIssues(result.error).join('; '));
};

const attributesSchema = z.record(z.string(), messageAttributeSchema).default({});

const sendSchema = z.object({
  QueueUrl: z.string().min(1),
  MessageBody: z.string().min(1, 'MessageBody must not be empty'),
  MessageAttributes: attributesSchema,
  DelaySeconds: z.number().int().min(0).max(900).optional(),
});

const receiveSchema = z.object({
  QueueUrl: z.string().min(1),
  MaxNumberOfMessages: z.number().int().min(1).max(10).default(1),
  VisibilityTimeout: z.number().int().min(0).max(43_200).optional(),
  WaitTimeSeconds: z.number().int().min(0).max(20).default(0),
  MessageAttributeNames: z.array(z.string()).default([]),
  MessageSystemAttributeNames: z.array(z.string()).default([]),
  AttributeNames: z.array(z.string()).default([]),
});

/** The attributes of `attributes` a receive asked for (`All`, `.*`, a name, or a `prefix.*`). */
const selected = <T>(attributes: Record<string, T>, names: string[]): Record<string, T> =>
  Object.fromEntries(
    Object.entries(attributes).filter(([name]) =>
      names.some(
        (n) =>
          n === 'All' || n === '.*' || n === name || (n.endsWith('.*') && name.startsWith(n.slice(0, -1))),
      ),
    ),
  );

const received = (m: StoredMessage, attributeNames: string[], systemNames: string[]) => {
  const messageAttributes: Record<string, MessageAttribute> = selected(m.messageAttributes, attributeNames);
  const system = selected(
    {
      SenderId: m.senderId,
      SentTimestamp: String(m.sentAtMs),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAtMs ?? m.sentAtMs),
    },
    systemNames,
  );
  const md5 = md5OfAttributes(messageAttributes);
  return {
    MessageId: m.messageId,
    ReceiptHandle: Buffer.from(`${m.messageId}:${m.receiveCount}`).toString('base64'),
    MD5OfBody: md5Hex(m.body),
    Body: m.body,
    ...(Object.keys(system).length === 0 ? {} : { Attributes: system }),
    ...(md5 === undefined ? {} : { MD5OfMessageAttributes: md5, MessageAttributes: messageAttributes }),
  };
};

export const startSqsService = async (o: SqsServiceOptions): Promise<SqsService> => {
  const dir = o.dataDir === undefined ? undefined : join(o.dataDir, 'sqs');
  const queues = new Map(o.queues.map((spec) => [spec.name, LocalQueue.open(spec, dir)]));
  let url = '';
  const queueUrl = (name: string) => `${url}/${LOCAL_ACCOUNT_ID}/${name}`;

  /** A queue named by its URL: only the path `/<account>/<name>` counts, whatever host the caller used. */
  const queueAt = (queueUrlText: string): LocalQueue => {
    let path: string[];
    try {
      path = new URL(queueUrlText).pathname.split('/').filter((p) => p !== '');
    } catch {
      throw new SqsApiError(
        'InvalidAddress',
        'InvalidAddress',
        `The address ${queueUrlText} is not valid.`,
        404,
      );
    }
    const [account, name] = path;
    const queue = path.length === 2 && account === LOCAL_ACCOUNT_ID ? queues.get(name ?? '') : undefined;
    if (queue === undefined) throw queueDoesNotExist();
    return queue;
  };

  const server = await startSqsServer(
    {
      GetQueueUrl: (input) => {
        const req = parse(
          z.object({ QueueName: z.string().min(1), QueueOwnerAWSAccountId: z.string().optional() }),
          input,
        );
        const owner = req.QueueOwnerAWSAccountId ?? LOCAL_ACCOUNT_ID;
        if (owner !== LOCAL_ACCOUNT_ID || !queues.has(req.QueueName)) throw queueDoesNotExist();
        return { QueueUrl: queueUrl(req.QueueName) };
      },
      SendMessage: (input) => {
        const req = parse(sendSchema, input);
        const queue = queueAt(req.QueueUrl);
        const limit = queue.spec.maximumMessageBytes;
        if (messageSize(req.MessageBody, req.MessageAttributes) > limit) {
          throw invalidParameterValue(`Message must be shorter than ${limit} bytes.`);
        }
        const sent = queue.send(req.MessageBody, req.MessageAttributes, LOCAL_ACCOUNT_ID);
        const md5 = md5OfAttributes(sent.messageAttributes);
        return {
          MessageId: sent.messageId,
          MD5OfMessageBody: md5Hex(sent.body),
          ...(md5 === undefined ? {} : { MD5OfMessageAttributes: md5 }),
        };
      },
      ReceiveMessage: async (input) => {
        const req = parse(receiveSchema, input);
        const queue = queueAt(req.QueueUrl);
        const visibility = req.VisibilityTimeout ?? queue.spec.visibilityTimeoutSeconds;
        let messages = queue.receive(req.MaxNumberOfMessages, visibility);
        if (messages.length === 0 && req.WaitTimeSeconds > 0) {
          await queue.waitForMessage(req.WaitTimeSeconds * 1000);
          messages = queue.receive(req.MaxNumberOfMessages, visibility);
        }
        const systemNames = [...req.AttributeNames, ...req.MessageSystemAttributeNames];
        // An empty receive answers `{}`: no Messages member at all.
        return messages.length === 0
          ? {}
          : { Messages: messages.map((m) => received(m, req.MessageAttributeNames, systemNames)) };
      },
    },
    o.port,
  );
  url = server.url;
  return {
    url,
    queueUrl,
    close: async () => {
      for (const queue of queues.values()) queue.close();
      await server.close();
    },
  };
};
