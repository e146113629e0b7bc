/**
 * Contract of the local SQS stand-in, through the real @aws-sdk/client-sqs (AWS JSON 1.0, query-compatible errors).
 *
 * References (SQS Developer Guide and API Reference, found with the docs search):
 * - "Interpreting Amazon SQS JSON API responses": an unknown queue is status 400, `x-amzn-query-error:
 *   AWS.SimpleQueueService.NonExistentQueue;Sender`, `__type` `com.amazonaws.sqs#QueueDoesNotExist`.
 * - SendMessage: "The maximum size is 1 MiB or 1,048,576 bytes" (the queue's MaximumMessageSize, default 1 MiB).
 * - ReceiveMessage with VisibilityTimeout 0 leaves the messages visible (a peek); ApproximateReceiveCount counts it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type SqsService, startSqsService } from '../../local/sqs/service';

const QUEUE = {
  name: 'contract-dead-letters',
  arn: 'arn:aws:sqs:us-east-1:000000000000:contract-dead-letters',
  retentionSeconds: 1_209_600,
  maximumMessageBytes: 1_048_576,
  visibilityTimeoutSeconds: 30,
};

const dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-sqs-'));
let service: SqsService;
let sqs: SQSClient;

const start = async () => {
  service = await startSqsService({ queues: [QUEUE], dataDir });
  sqs = new SQSClient({
    endpoint: service.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
};

beforeAll(start);

afterAll(async () => {
  sqs?.destroy();
  await service?.close();
});

const queueUrl = async () =>
  (await sqs.send(new GetQueueUrlCommand({ QueueName: QUEUE.name }))).QueueUrl ?? '';

describe('GetQueueUrl', () => {
  it('answers the URL of a queue of serverless.yml, on the stand-in itself', async () => {
    expect(await queueUrl()).toBe(`${service.url}/000000000000/${QUEUE.name}`);
  });

  it('refuses an unknown queue as SQS does: QueueDoesNotExist with the query code', async () => {
    // Act
    const call = sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' }));

    // Assess
    await expect(call).rejects.toBeInstanceOf(QueueDoesNotExist);
    await expect(call).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
      Code: 'AWS.SimpleQueueService.NonExistentQueue',
      message: 'The specified queue does not exist.',
      $metadata: { httpStatusCode: 400 },
    });
  });
});

describe('SendMessage and ReceiveMessage', () => {
  it('keeps a message with its attributes; a peek (VisibilityTimeout 0) leaves it there', async () => {
    // Prepare
    const QueueUrl = await queueUrl();

    // Act: the SDK checks MD5OfMessageBody and MD5OfBody itself, so a wrong digest would throw.
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: '{"id":"e1"}',
        MessageAttributes: { RULE_ARN: { DataType: 'String', StringValue: 'arn:aws:events:x' } },
      }),
    );
    const peek = () =>
      sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
    const first = await peek();
    const second = await peek();

    // Assess
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(first.Messages).toEqual([
      expect.objectContaining({
        MessageId: sent.MessageId,
        Body: '{"id":"e1"}',
        MessageAttributes: { RULE_ARN: { DataType: 'String', StringValue: 'arn:aws:events:x' } },
        MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
      }),
    ]);
    expect(second.Messages?.[0]?.Attributes).toMatchObject({ ApproximateReceiveCount: '2' });
  });

  it('hides a received message for its visibility timeout', async () => {
    // Prepare
    const QueueUrl = await queueUrl();
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hidden soon' }));

    // Act
    const taken = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
    );
    const after = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));

    // Assess: nothing visible is left, and an empty receive has no Messages at all.
    expect(taken.Messages?.map((m) => m.Body).sort()).toEqual(['hidden soon', '{"id":"e1"}']);
    expect(after.Messages).toBeUndefined();
  });

  it('refuses a message over the queue’s maximum size, and an unknown queue URL', async () => {
    // Prepare
    const QueueUrl = await queueUrl();

    // Act
    const tooLarge = sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x'.repeat(1_048_577) }));
    const unknown = sqs.send(
      new SendMessageCommand({ QueueUrl: `${service.url}/000000000000/nope`, MessageBody: 'x' }),
    );

    // Assess
    await expect(tooLarge).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringContaining('Message must be shorter than 1048576 bytes'),
    });
    await expect(unknown).rejects.toBeInstanceOf(QueueDoesNotExist);
  });

  it('keeps messages under the data dir across a restart', async () => {
    // Act
    sqs.destroy();
    await service.close();
    await start();
    const QueueUrl = await queueUrl();
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );

    // Assess: still hidden by the 60 s receive above, so the file still holds both.
    expect(out.Messages).toBeUndefined();
    const stored = JSON.parse(readFileSync(join(dataDir, 'sqs', `${QUEUE.name}.json`), 'utf8')) as unknown[];
    expect(stored).toHaveLength(2);
  });
});
