/** The largest state payload of an execution: the biggest state input or output among its history events, in bytes. */
import { type HistoryEvent, paginateGetExecutionHistory, SFNClient } from '@aws-sdk/client-sfn';

export interface PayloadSize {
  /** UTF-8 bytes of the largest state input or output (execution input and output included). */
  maxBytes: number;
  /** Where it was: `<state> input`, `<state> output`, `execution input` or `execution output`. */
  where: string;
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** The input or output strings an event carries, with where they belong. */
const payloadsOf = (event: HistoryEvent): { text: string; where: string }[] => {
  const found: { text: string; where: string }[] = [];
  const entered = event.stateEnteredEventDetails;
  if (entered?.input !== undefined) found.push({ text: entered.input, where: `${entered.name} input` });
  const exited = event.stateExitedEventDetails;
  if (exited?.output !== undefined) found.push({ text: exited.output, where: `${exited.name} output` });
  const started = event.executionStartedEventDetails?.input;
  if (started !== undefined) found.push({ text: started, where: 'execution input' });
  const succeeded = event.executionSucceededEventDetails?.output;
  if (succeeded !== undefined) found.push({ text: succeeded, where: 'execution output' });
  return found;
};

/** Pure: the largest payload among history events (state names as recorded, never assumed). */
export const largestPayload = (events: HistoryEvent[]): PayloadSize => {
  let largest: PayloadSize = { maxBytes: 0, where: 'none' };
  for (const event of events) {
    for (const { text, where } of payloadsOf(event)) {
      const bytes = utf8Bytes(text);
      if (bytes > largest.maxBytes) largest = { maxBytes: bytes, where };
    }
  }
  return largest;
};

/** Reads the execution's whole history through GetExecutionHistory, as one would on AWS. */
export const executionPayload = async (endpoint: string, executionArn: string): Promise<PayloadSize> => {
  const client = new SFNClient({ endpoint });
  try {
    const events: HistoryEvent[] = [];
    for await (const page of paginateGetExecutionHistory(
      { client, pageSize: 1000 },
      { executionArn, includeExecutionData: true },
    )) {
      events.push(...(page.events ?? []));
    }
    return largestPayload(events);
  } finally {
    client.destroy();
  }
};
