/** Publishes an alert to the stage's SNS topic: a subject and a message people read (email), with a dedupe id. */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

export interface Alert {
  /** SNS: ASCII, no line breaks, at most 100 characters. */
  subject: string;
  message: string;
  /** Stable across redeliveries of the event that caused it, so a reader (or a FIFO topic) can dedupe. */
  alertId: string;
  /** The event's detail-type, as a message attribute subscribers may filter on. */
  eventType: string;
  tenantId: string;
}

export interface AlertSink {
  publish(alert: Alert): Promise<string>;
}

/** SNS subjects must be ASCII without line breaks, 1-100 characters. */
export const snsSubject = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

export class SnsAlertSink implements AlertSink {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(alert: Alert): Promise<string> {
    const out = await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: snsSubject(alert.subject),
        Message: alert.message,
        MessageAttributes: {
          eventType: { DataType: 'String', StringValue: alert.eventType },
          tenantId: { DataType: 'String', StringValue: alert.tenantId },
          alertId: { DataType: 'String', StringValue: alert.alertId },
        },
      }),
    );
    return out.MessageId ?? '';
  }
}
