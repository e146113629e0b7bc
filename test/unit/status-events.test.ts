/** The local Step Functions' status-change events: their shape, the outbox, and executions a restart finds RUNNING. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executions } from '../../local/stepfunctions/executions';
import { ExecutionFiles } from '../../local/stepfunctions/persistence';
import type { ExecutionRecord } from '../../local/stepfunctions/records';
import { type StatusChangeEvent, statusChangeEvent } from '../../local/stepfunctions/status-events';
import { executionStatusChangeSchema } from '../../shared/steps/reconcile';

const record = (overrides: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
  executionArn: 'arn:aws:states:us-east-1:000000000000:execution:sovereign-agent-local-agent-goal:acme-x',
  stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sovereign-agent-local-agent-goal',
  name: 'acme-x',
  status: 'RUNNING',
  input: JSON.stringify({ tenantId: 'acme', sessionId: 'x', mode: 'start' }),
  startDate: '2026-12-02T02:00:00.000Z',
  stateTransitions: 3,
  historyEventCount: 9,
  ownerPid: 999_999,
  ...overrides,
});

describe('statusChangeEvent', () => {
  it('has the shape the reconciler reads from AWS', () => {
    // Act
    const event = statusChangeEvent(
      record({ status: 'ABORTED', stopDate: '2026-12-02T02:01:00.000Z', error: 'E' }),
    );

    // Assess
    const parsed = executionStatusChangeSchema.parse({
      source: event.Source,
      'detail-type': event.DetailType,
      detail: JSON.parse(event.Detail),
    });
    expect(parsed.detail).toMatchObject({ status: 'ABORTED', name: 'acme-x', error: 'E', cause: null });
    expect(JSON.parse(event.Detail)).toMatchObject({ startDate: Date.parse('2026-12-02T02:00:00.000Z') });
    expect(event.Resources).toEqual([record().executionArn]);
  });
});

describe('a restart with executions a killed process left RUNNING', () => {
  it('marks them ABORTED and sends their status change once a bus is connected, and never again', async () => {
    // Prepare
    const dir = join(mkdtempSync(join(tmpdir(), 'sfn-outbox-')), 'executions');
    await mkdir(dir, { recursive: true });
    writeFileSync(
      join(dir, 'sovereign-agent-local-agent-goal.acme-x.json'),
      JSON.stringify({ record: record(), history: [] }),
    );
    const files = new ExecutionFiles(dir);
    const executions = new Executions({ region: 'us-east-1', files });
    const sent: StatusChangeEvent[] = [];

    // Act
    executions.restore(await files.load());
    const beforeConnect = sent.length;
    executions.statusEvents.connect((e) => sent.push(e));
    await files.flush();
    const again = new Executions({ region: 'us-east-1', files });
    again.restore(await new ExecutionFiles(dir).load());
    again.statusEvents.connect((e) => sent.push(e));

    // Assess
    expect(beforeConnect).toBe(0);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]?.Detail ?? '{}')).toMatchObject({
      status: 'ABORTED',
      error: 'LocalStackRestarted',
    });
  });
});
