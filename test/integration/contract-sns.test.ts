/** The local SNS speaks the wire protocol of @aws-sdk/client-sns: Publish answers, errors and kept messages. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidParameterException, NotFoundException, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { readPublishedMessages, type SnsService, startSnsService } from '../../local/sns/service';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:sovereign-agent-local-cost-alerts';

let sns: SnsService;
let client: SNSClient;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sovereign-agent-sns-'));
  sns = await startSnsService({
    topics: [{ name: 'sovereign-agent-local-cost-alerts', arn: TOPIC }],
    dataDir,
  });
  client = new SNSClient({
    endpoint: sns.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  client.destroy();
  await sns.close();
});

describe('local SNS through the SDK client', () => {
  it('answers Publish with a MessageId and keeps the message with its subject and attributes', async () => {
    // Act
    const out = await client.send(
      new PublishCommand({
        TopicArn: TOPIC,
        Subject: '[sovereign-agent] acme: 80% of its daily cap',
        Message: 'Tenant acme has spent $40.00 of $50.00.',
        MessageAttributes: {
          eventType: { DataType: 'String', StringValue: 'Agent Cost Threshold Crossed' },
          tenantId: { DataType: 'String', StringValue: 'acme' },
        },
      }),
    );

    // Assess
    expect(out.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    const expected = {
      messageId: out.MessageId,
      topicArn: TOPIC,
      subject: '[sovereign-agent] acme: 80% of its daily cap',
      message: 'Tenant acme has spent $40.00 of $50.00.',
      messageAttributes: {
        eventType: { dataType: 'String', value: 'Agent Cost Threshold Crossed' },
        tenantId: { dataType: 'String', value: 'acme' },
      },
    };
    expect(sns.messages().at(-1)).toMatchObject(expected);
    expect(readPublishedMessages(dataDir).at(-1)).toMatchObject(expected);
  });

  it('answers a topic it does not have with NotFoundException (404)', async () => {
    const error = await client
      .send(new PublishCommand({ TopicArn: `${TOPIC}-missing`, Message: 'x' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundException);
    expect(error).toMatchObject({ name: 'NotFoundException', $metadata: { httpStatusCode: 404 } });
  });

  it('answers an empty message with InvalidParameterException (400)', async () => {
    const error = await client
      .send(new PublishCommand({ TopicArn: TOPIC, Message: '' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidParameterException);
    expect(error).toMatchObject({ $metadata: { httpStatusCode: 400 } });
  });

  it('refuses an operation it does not serve, naming the ones it does', async () => {
    const response = await fetch(sns.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=CreateTopic&Version=2010-03-31&Name=x',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('<Code>InvalidAction</Code>');
  });
});
