/**
 * The concurrency benchmark's measurement (local/bench/concurrency.ts) at N = 2 on a test stack: its shape, every
 * goal completed, every session's counters exact. No timing is asserted: wall time and the floor are information.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelScript } from '../../local/bedrock/script';
import { measureConcurrency } from '../../local/bench/concurrency';
import { type LocalStack, startLocalStack } from '../../local/stack/start';
import { loadEvent, loadJson } from './helpers';

jest.setTimeout(180_000);

describe('measureConcurrency', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    if (!endpoint)
      throw new Error('global-setup did not start DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB unset)');
    stack = await startLocalStack({
      dynamodbEndpoint: endpoint,
      inMemory: true,
      dataDir: mkdtempSync(join(tmpdir(), 'sovereign-agent-it-')),
      countDynamoDbRequests: true,
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('runs two goals at once: both complete, every counter exact, the floor from the requests they made', async () => {
    // Prepare
    const goal = loadEvent('goal-billing-audit.json');
    const script = loadJson<ModelScript>('events/model-scripts/billing-four-tools.json');

    // Act
    const report = await measureConcurrency(stack, {
      goal,
      script,
      levels: [2],
      storeRate: { writesPerStep: 100, parallelisms: [1, 8] },
    });

    // Assess
    const level = report.levels['2'];
    expect(Object.keys(report.levels)).toEqual(['2']);
    expect(level).toMatchObject({ goals: 2, completed: 2, exact: true, mismatches: [] });
    // The script's four turns with four tool calls, as the reference goal alone ran them.
    expect(report.reference).toMatchObject({ status: 'completed', turns: 4, toolCalls: 4 });
    // The requests are the functions' own (the counting proxy's), at least each turn's commit per goal.
    expect(level?.dynamodbRequests).toBeGreaterThan(0);
    expect(level?.dynamodbRequests).toBe(
      Object.values(level?.dynamodbByOperation ?? {}).reduce((a, b) => a + b, 0),
    );
    expect(level?.dynamodbByOperation.TransactWriteItems).toBeGreaterThanOrEqual(2 * 4);
    expect(report.storeRate.steps.map((s) => s.parallelism)).toEqual([1, 8]);
    expect(report.storeRate.requestsPerSecond).toBe(
      Math.max(report.storeRate.before, report.storeRate.after),
    );
    // floor = requests / rate, ratio = wall / floor: consistent whatever the machine's speed.
    expect(level?.storeFloorMs).toBe(
      Math.round(((level?.dynamodbRequests ?? 0) / report.storeRate.requestsPerSecond) * 1000),
    );
    expect(level?.ratio).toBeGreaterThan(0);
  });
});
