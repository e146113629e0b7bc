/** `sovereign-agent events`: which recorded bus events it lists, read from a stopped stack's events.jsonl. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterEvents, formatEvent, readBusEvents } from '../../local/cli/bus-events';
import type { BusEventRecord } from '../../local/eventbridge/bus-events';

const record = (seq: number, detailType: string, detail: Record<string, unknown>): BusEventRecord => ({
  seq,
  eventBusName: 'sovereign-agent-local',
  receivedAt: `2026-12-02T03:00:0${seq}.000Z`,
  event: {
    version: '0',
    id: `id-${seq}`,
    'detail-type': detailType,
    source: detailType === 'Agent Goal Submitted' ? 'acme.billing-platform' : 'sovereign-agent',
    account: '000000000000',
    time: `2026-12-02T03:00:0${seq}Z`,
    region: 'us-east-1',
    resources: [],
    detail,
  },
  matchedRules: [],
  deliveries: [],
  settled: true,
});

const records = [
  record(1, 'Agent Goal Submitted', { goalId: 's-1', tenantId: 'acme' }),
  record(2, 'Agent Circuit Opened', { kind: 'tool', name: 'audit_billing_logs', state: 'open' }),
  record(3, 'Agent Goal Stopped', {
    sessionId: 's-1',
    tenantId: 'acme',
    status: 'stopped',
    stopReason: 'loop_detected',
  }),
  record(4, 'Agent Goal Completed', { sessionId: 's-2', tenantId: 'acme', status: 'completed' }),
];

describe('filterEvents', () => {
  it("lists only the agent's own events by default, in bus order", () => {
    expect(filterEvents(records, {}).map((e) => e.id)).toEqual(['id-2', 'id-3', 'id-4']);
  });

  it('filters by session (a submitted goal counts by its goalId) and by type, without case', () => {
    expect(filterEvents(records, { sessionId: 's-1', type: 'all' }).map((e) => e.id)).toEqual([
      'id-1',
      'id-3',
    ]);
    expect(filterEvents(records, { type: 'agent circuit opened' }).map((e) => e.id)).toEqual(['id-2']);
    expect(filterEvents(records, { type: 'Agent Goal Failed' })).toEqual([]);
  });

  it('prints one line with the status and reason or the breaker it is about', () => {
    const [circuit, stopped] = filterEvents(records, {});
    expect(formatEvent(stopped as never)).toMatch(/Agent Goal Stopped +s-1 +stopped loop_detected$/);
    expect(formatEvent(circuit as never)).toMatch(/Agent Circuit Opened +- +open tool audit_billing_logs$/);
  });
});

describe('readBusEvents without a served stack', () => {
  it("reads the data dir's events.jsonl, and nothing when there is none", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sovereign-agent-events-'));
    expect(await readBusEvents(dir)).toEqual([]);
    writeFileSync(join(dir, 'events.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    expect((await readBusEvents(dir)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });

  it('names the line that is not a bus event record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sovereign-agent-events-'));
    writeFileSync(join(dir, 'events.jsonl'), `${JSON.stringify(records[0])}\n{"seq":"x"}\nnot json\n`);
    await expect(readBusEvents(dir)).rejects.toThrow(/events.jsonl line 2 is not a bus event record/);
  });
});
