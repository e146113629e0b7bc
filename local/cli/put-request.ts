/** Puts one of the CLI's requests (a tenant pause, an approval decision) on the local stage bus, as an operator's tooling would. */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CLI_SOURCE } from './resume';

/**
 * PutEvents of one entry from the CLI's source on the stage bus (`EVENT_BUS_NAME` at the stack's EventBridge
 * endpoint); a refused entry throws `refused(entries)`, the caller's own error.
 */
export const putCliRequest = async (
  env: Record<string, string | undefined>,
  detailType: string,
  detail: Record<string, unknown>,
  refused: (entries: string) => Error,
): Promise<void> => {
  const bus = new EventBridgeClient({ endpoint: env.AWS_ENDPOINT_URL_EVENTBRIDGE });
  try {
    const put = await bus.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: env.EVENT_BUS_NAME,
            Source: CLI_SOURCE,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    if ((put.FailedEntryCount ?? 0) > 0) throw refused(JSON.stringify(put.Entries));
  } finally {
    bus.destroy();
  }
};
