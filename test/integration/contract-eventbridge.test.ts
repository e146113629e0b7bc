/**
 * Contract of the local EventBridge stand-in, exercised through the real @aws-sdk/client-eventbridge (reached via
 * AWS_ENDPOINT_URL_EVENTBRIDGE, as production code reaches it), with deliveries observed on a loopback Lambda
 * Invoke server.
 *
 * References (AWS documentation, found with the docs search):
 * - PutEvents: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html and "Sending events
 *   with PutEvents" https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html ("The response
 *   Entries array always includes the same number of entries as the request array ... Successful result entries
 *   include an Id value, and unsuccessful result entries include ErrorCode and ErrorMessage values").
 * - PutEventsResultEntry error codes (InvalidArgument, MalformedDetail, NotAuthorizedForSourceException, ...):
 *   https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
 * - Entry size: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html; the over-limit
 *   answer "ValidationException ... Total size of the entries in the request is over the limit." as reported from
 *   AWS in https://github.com/awslabs/aws-service-catalog-puppet/issues/563. At most 10 entries per request
 *   (Amazon EventBridge quotas).
 * - The event envelope targets receive: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
 *   (version "0", id, detail-type, source, account, time "2017-12-22T18:43:48Z", region, resources, detail).
 * - Targets are invoked asynchronously: EventBridge invokes Lambda with the Event invocation type
 *   (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventBridgeClient,
  ListRulesCommand,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { InvalidEventPatternError } from '../../local/eventbridge/event-pattern';
import {
  type EventBridgeService,
  type EventRule,
  fetchBusEvents,
  startEventBridgeService,
} from '../../local/eventbridge/service';
import { type FakeLambda, startFakeLambda } from '../fixtures/sfn/fake-lambda';

const REGION = 'us-east-1';
const BUS = 'sovereign-agent-test';
const BUS_ARN = `arn:aws:events:${REGION}:000000000000:event-bus/${BUS}`;
const fn = (name: string) => `arn:aws:lambda:${REGION}:000000000000:function:${name}`;

const rules: EventRule[] = [
  {
    name: 'goal-intake',
    eventBusName: BUS,
    pattern: { 'detail-type': ['Agent Goal Submitted', 'Agent Goal Resume Requested'] },
    targets: [{ functionArn: fn('intake') }],
  },
  {
    name: 'costly-alerts',
    eventBusName: BUS_ARN,
    pattern: {
      source: [{ prefix: 'sovereign-agent' }],
      'detail-type': ['Agent Budget Threshold Reached'],
      detail: { percent: [{ numeric: ['>=', 80] }] },
    },
    targets: [{ functionArn: fn('alerts') }, { functionArn: fn('audit') }],
  },
  {
    name: 'default-bus-audit',
    eventBusName: 'default',
    pattern: { source: ['billing'] },
    targets: [{ functionArn: fn('audit') }],
  },
  {
    name: 'broken-target',
    eventBusName: BUS,
    pattern: { 'detail-type': ['Goes Nowhere'] },
    targets: [{ functionArn: fn('broken') }],
  },
];

const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  EventBusName: BUS,
  Source: 'sovereign-agent',
  DetailType: 'Agent Goal Submitted',
  Detail: JSON.stringify({ tenantId: 't1', agent: 'billing', goal: 'reduce cost' }),
  ...overrides,
});

let fake: FakeLambda;
let bus: EventBridgeService;
let events: EventBridgeClient;
let dataDir: string;
const previousEnv = { ...process.env };
let flakyFailures = 0;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'eventbridge-local-'));
  fake = await startFakeLambda({
    intake: () => ({ result: null }),
    alerts: () => {
      // Fails once, then accepts: the bus must retry.
      if (flakyFailures > 0) {
        flakyFailures--;
        return { serviceError: { status: 500, type: 'ServiceException', message: 'try again' } };
      }
      return { result: null };
    },
    audit: () => ({ result: null }),
    broken: () => ({ serviceError: { status: 500, type: 'ServiceException', message: 'always down' } }),
  });
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  bus = await startEventBridgeService({
    rules,
    lambdaEndpoint: fake.url,
    region: REGION,
    dataDir,
    delivery: { attempts: 3, baseDelayMs: 5 },
  });
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.url;
  events = new EventBridgeClient({});
});

afterAll(async () => {
  events?.destroy();
  await bus?.close();
  await fake?.close();
  await rm(dataDir, { recursive: true, force: true });
  process.env = previousEnv;
});

const deliveriesTo = (name: string, eventId: string | undefined) =>
  fake.invocations.filter(
    (i) => i.functionName === name && (i.payload as { id?: string } | null)?.id === eventId,
  );

describe('PutEvents', () => {
  it('accepts entries and answers one EventId per entry in request order', async () => {
    const out = await events.send(
      new PutEventsCommand({ Entries: [entry(), entry({ DetailType: 'Agent Goal Resume Requested' })] }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries).toHaveLength(2);
    const ids = out.Entries?.map((e) => e.EventId);
    expect(ids?.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(2);
  });

  it('fails bad entries one by one with ErrorCode and ErrorMessage and counts them', async () => {
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          entry({ Source: undefined }),
          entry({ DetailType: undefined }),
          entry({ Detail: undefined }),
          entry({ Detail: '{"tenantId": ' }),
          entry({ Detail: '["not", "an", "object"]' }),
          entry({ EventBusName: 'no-such-bus' }),
          entry({ Source: 'aws.ec2' }),
          entry(),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(7);
    expect(out.Entries?.map((e) => e.ErrorCode)).toEqual([
      'InvalidArgument',
      'InvalidArgument',
      'InvalidArgument',
      'MalformedDetail',
      'MalformedDetail',
      'ResourceNotFoundException',
      'NotAuthorizedForSourceException',
      undefined,
    ]);
    expect(out.Entries?.[0]?.ErrorMessage).toBe(
      'Parameter Source is not valid. Reason: Source is a required argument.',
    );
    expect(out.Entries?.[5]?.ErrorMessage).toContain('no-such-bus');
    expect(out.Entries?.[7]?.EventId).toBeDefined();
    expect(out.Entries?.slice(0, 7).every((e) => e.EventId === undefined)).toBe(true);
    // Failed entries are not events: only the good one was recorded.
    const recorded = bus.events().filter((e) => out.Entries?.some((x) => x.EventId === e.event.id));
    expect(recorded).toHaveLength(1);
  });

  it('rejects more than 10 entries, no entries, and requests over 256 KB as a whole with ValidationException', async () => {
    const tooMany = events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry()) }));
    await expect(tooMany).rejects.toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(events.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const big = entry({ Detail: JSON.stringify({ pad: 'x'.repeat(262_144) }) });
    await expect(events.send(new PutEventsCommand({ Entries: [big] }))).rejects.toThrow(
      'Total size of the entries in the request is over the limit.',
    );
    // A batch just under the limit is fine.
    const nearLimit = entry({ Detail: JSON.stringify({ pad: 'x'.repeat(200_000) }) });
    await expect(events.send(new PutEventsCommand({ Entries: [nearLimit] }))).resolves.toMatchObject({
      FailedEntryCount: 0,
    });
  });
});

describe('routing and delivery', () => {
  it('delivers the EventBridge envelope to the matched rule’s Lambda with InvocationType Event', async () => {
    const out = await events.send(
      new PutEventsCommand({ Entries: [entry({ Resources: ['arn:aws:s3:::bucket'] })] }),
    );
    const eventId = out.Entries?.[0]?.EventId;
    const record = await bus.waitForEvent((e) => e.event.id === eventId);

    expect(record.matchedRules).toEqual(['goal-intake']);
    expect(record.deliveries).toEqual([
      expect.objectContaining({
        rule: 'goal-intake',
        functionArn: fn('intake'),
        status: 'delivered',
        attempts: 1,
      }),
    ]);
    const [delivery] = deliveriesTo('intake', eventId);
    expect(delivery?.invocationType).toBe('Event');
    expect(delivery?.payload).toEqual({
      version: '0',
      id: eventId,
      'detail-type': 'Agent Goal Submitted',
      source: 'sovereign-agent',
      account: '000000000000',
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      region: REGION,
      resources: ['arn:aws:s3:::bucket'],
      detail: { tenantId: 't1', agent: 'billing', goal: 'reduce cost' },
    });
    expect(deliveriesTo('alerts', eventId)).toHaveLength(0);
  });

  it('uses the entry’s Time, without milliseconds, and accepts the bus as an ARN', async () => {
    const out = await events.send(
      new PutEventsCommand({
        Entries: [entry({ EventBusName: BUS_ARN, Time: new Date('2026-03-04T05:06:07.890Z') })],
      }),
    );
    const record = await bus.waitForEvent((e) => e.event.id === out.Entries?.[0]?.EventId);
    expect(record.eventBusName).toBe(BUS);
    expect(record.event.time).toBe('2026-03-04T05:06:07Z');
  });

  it('matches content filters and fans out to every target of a rule; other events reach no target', async () => {
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          entry({ DetailType: 'Agent Budget Threshold Reached', Detail: JSON.stringify({ percent: 80 }) }),
          entry({ DetailType: 'Agent Budget Threshold Reached', Detail: JSON.stringify({ percent: 50 }) }),
          entry({ DetailType: 'Agent Budget Threshold Reached', Source: 'other', Detail: '{"percent":100}' }),
        ],
      }),
    );
    const [hit, low, otherSource] = out.Entries?.map((e) => e.EventId) ?? [];
    const hitRecord = await bus.waitForEvent((e) => e.event.id === hit);
    expect(hitRecord.matchedRules).toEqual(['costly-alerts']);
    expect(hitRecord.deliveries.map((d) => d.functionArn).sort()).toEqual([fn('alerts'), fn('audit')]);
    expect(deliveriesTo('alerts', hit)).toHaveLength(1);
    expect(deliveriesTo('audit', hit)).toHaveLength(1);

    for (const id of [low, otherSource]) {
      const record = await bus.waitForEvent((e) => e.event.id === id);
      expect(record.matchedRules).toEqual([]);
      expect(record.deliveries).toEqual([]);
    }
  });

  it('keeps buses apart: a default-bus rule sees default-bus events only', async () => {
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'billing', DetailType: 'Invoice', Detail: '{}' },
          entry({ Source: 'billing', DetailType: 'Invoice' }),
        ],
      }),
    );
    const [onDefault, onAgentBus] = out.Entries?.map((e) => e.EventId) ?? [];
    expect((await bus.waitForEvent((e) => e.event.id === onDefault)).matchedRules).toEqual([
      'default-bus-audit',
    ]);
    const other = await bus.waitForEvent((e) => e.event.id === onAgentBus);
    expect(other.eventBusName).toBe(BUS);
    expect(other.matchedRules).toEqual([]);
  });

  it('retries a failed delivery, and records a target that keeps failing as failed', async () => {
    flakyFailures = 1;
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          entry({ DetailType: 'Agent Budget Threshold Reached', Detail: '{"percent":95}' }),
          entry({ DetailType: 'Goes Nowhere' }),
        ],
      }),
    );
    const [retried, broken] = out.Entries?.map((e) => e.EventId) ?? [];
    const retriedRecord = await bus.waitForEvent((e) => e.event.id === retried);
    expect(retriedRecord.deliveries.find((d) => d.functionArn === fn('alerts'))).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
    expect(deliveriesTo('alerts', retried)).toHaveLength(2);

    const brokenRecord = await bus.waitForEvent((e) => e.event.id === broken);
    expect(brokenRecord.deliveries).toEqual([
      expect.objectContaining({ functionArn: fn('broken'), status: 'failed', attempts: 3 }),
    ]);
    expect(brokenRecord.deliveries[0]?.lastError).toContain('always down');
    expect(deliveriesTo('broken', broken)).toHaveLength(3);
  });
});

describe('records for other processes', () => {
  it('appends settled events to events.jsonl and serves them on GET /_local/events?since=', async () => {
    const since = new Date();
    await new Promise((r) => setTimeout(r, 2));
    const out = await events.send(
      new PutEventsCommand({
        Entries: [
          entry({
            DetailType: 'Agent Goal Rejected',
            Detail: JSON.stringify({ eventId: 'e-1', reason: 'bad goal' }),
          }),
        ],
      }),
    );
    const eventId = out.Entries?.[0]?.EventId;
    await bus.waitForEvent((e) => e.event.id === eventId);

    const lines = (await readFile(join(dataDir, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const line = lines.find((l) => l.event.id === eventId);
    expect(line).toMatchObject({ eventBusName: BUS, matchedRules: [], settled: true });
    expect(line.event.detail).toEqual({ eventId: 'e-1', reason: 'bad goal' });

    const recent = await fetchBusEvents(bus.url, since);
    expect(recent.map((e) => e.event.id)).toEqual([eventId]);
    expect(recent[0]?.event['detail-type']).toBe('Agent Goal Rejected');
    const everything = await fetchBusEvents(bus.url);
    expect(everything.length).toBeGreaterThan(recent.length);
    expect(everything.map((e) => e.seq)).toEqual([...everything.map((e) => e.seq)].sort((a, b) => a - b));
    await expect(fetchBusEvents(bus.url, 'not a date')).rejects.toThrow(RangeError);
  });

  it('appends to the records file of an earlier instance instead of replacing it', async () => {
    const before = (await readFile(join(dataDir, 'events.jsonl'), 'utf8')).trim().split('\n').length;
    const second = await startEventBridgeService({
      rules: [],
      lambdaEndpoint: fake.url,
      region: REGION,
      dataDir,
    });
    const client = new EventBridgeClient({ endpoint: second.url });
    try {
      const out = await client.send(
        new PutEventsCommand({ Entries: [{ Source: 's', DetailType: 'd', Detail: '{}' }] }),
      );
      await second.waitForEvent((e) => e.event.id === out.Entries?.[0]?.EventId);
    } finally {
      client.destroy();
      await second.close();
    }
    const after = (await readFile(join(dataDir, 'events.jsonl'), 'utf8')).trim().split('\n').length;
    expect(after).toBe(before + 1);
  });
});

describe('rules', () => {
  it('answers UnknownOperationException for operations nothing local calls (ListRules)', async () => {
    await expect(events.send(new ListRulesCommand({ EventBusName: BUS }))).rejects.toMatchObject({
      name: 'UnknownOperationException',
    });
  });

  it('refuses to start with an invalid rule pattern, naming the rule', async () => {
    await expect(
      startEventBridgeService({
        rules: [{ name: 'bad-rule', eventBusName: BUS, pattern: { source: [{ prefix: 1 }] }, targets: [] }],
        lambdaEndpoint: fake.url,
        region: REGION,
      }),
    ).rejects.toThrow(InvalidEventPatternError);
    await expect(
      startEventBridgeService({
        rules: [{ name: 'bad-rule', eventBusName: BUS, pattern: { source: [{ prefix: 1 }] }, targets: [] }],
        lambdaEndpoint: fake.url,
        region: REGION,
      }),
    ).rejects.toThrow(/rule bad-rule/);
  });
});
