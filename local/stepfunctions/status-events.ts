/**
 * "Step Functions Execution Status Change" events, as Step Functions puts them on the account's default bus, and
 * their outbox: events wait until a bus is connected, and an ended execution whose event never left (the stack
 * was stopped or killed first) sends it once the bus is connected after a restart.
 */
import type { ExecutionRecord } from './records';

/**
 * The event's shape: source aws.states, the execution ARN in resources, and in detail the execution's ARN, state
 * machine, name, status, start and stop dates (epoch milliseconds), input and output (strings) and error/cause.
 * https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html
 */
export interface StatusChangeEvent {
  Source: 'aws.states';
  DetailType: 'Step Functions Execution Status Change';
  Resources: string[];
  Detail: string;
}

export type StatusChangeSink = (event: StatusChangeEvent) => void;

export const statusChangeEvent = (r: ExecutionRecord): StatusChangeEvent => ({
  Source: 'aws.states',
  DetailType: 'Step Functions Execution Status Change',
  Resources: [r.executionArn],
  Detail: JSON.stringify({
    executionArn: r.executionArn,
    stateMachineArn: r.stateMachineArn,
    name: r.name,
    status: r.status,
    startDate: Date.parse(r.startDate),
    stopDate: r.stopDate === undefined ? null : Date.parse(r.stopDate),
    input: r.input,
    inputDetails: { included: true },
    output: r.output ?? null,
    outputDetails: r.output === undefined ? null : { included: true },
    error: r.error ?? null,
    cause: r.cause ?? null,
  }),
});

/** Holds status changes until a sink is connected; `sent` marks the record so a restart does not send it again. */
export class StatusChangeOutbox {
  #sink: StatusChangeSink | undefined;
  readonly #waiting: ExecutionRecord[] = [];

  constructor(private readonly sent: (record: ExecutionRecord) => void) {}

  emit(record: ExecutionRecord): void {
    if (this.#sink === undefined) {
      this.#waiting.push(record);
      return;
    }
    this.#sink(statusChangeEvent(record));
    if (record.status !== 'RUNNING') {
      record.statusEventSent = true;
      this.sent(record);
    }
  }

  /** Sends what waited, then each change as it happens; undefined disconnects (the bus is closing). */
  connect(sink: StatusChangeSink | undefined): void {
    this.#sink = sink;
    if (sink === undefined) return;
    for (const record of this.#waiting.splice(0)) this.emit(record);
  }
}
