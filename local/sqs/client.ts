/** How the local stand-ins send to a queue named by ARN (as Lambda and EventBridge are configured), with the real SQS client. */
import {
  GetQueueUrlCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { localClientCredentials } from '../aws/credentials';
import { LocalError } from '../aws/errors';

export class QueueArnError extends LocalError {}

const QUEUE_ARN = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$/;

/** An SQS client of the local stack's SQS endpoint. */
export const localSqsClient = (endpoint: string, region: string): SQSClient =>
  new SQSClient({ endpoint, region, maxAttempts: 2, ...localClientCredentials() });

/** Sends `body` to the queue `queueArn` names: GetQueueUrl by its name and owner, then SendMessage. */
export const sendToQueueArn = async (
  sqs: SQSClient,
  queueArn: string,
  body: string,
  attributes: Record<string, string> = {},
): Promise<string | undefined> => {
  const match = QUEUE_ARN.exec(queueArn);
  if (match === null) throw new QueueArnError(`Not an SQS queue ARN: ${queueArn}`);
  const [, , account, name] = match;
  const { QueueUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }),
  );
  const MessageAttributes: Record<string, MessageAttributeValue> = Object.fromEntries(
    Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
  );
  const sent = await sqs.send(
    new SendMessageCommand({
      QueueUrl,
      MessageBody: body,
      ...(Object.keys(MessageAttributes).length === 0 ? {} : { MessageAttributes }),
    }),
  );
  return sent.MessageId;
};
