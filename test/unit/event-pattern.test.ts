/**
 * EventBridge event-pattern matching of the local bus, case by case from AWS's documentation:
 * - "Content filtering in Amazon EventBridge event patterns"
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
 *   (also https://github.com/awsdocs/amazon-eventbridge-user-guide/blob/main/doc_source/eb-event-patterns-content-based-filtering.md)
 * - "Comparison operators for use in event patterns"
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
 * - "Arrays in Amazon EventBridge event patterns"
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
 * - aws/event-ruler README (the library behind EventBridge patterns) for `$or` and wildcard escaping.
 */
import {
  compileEventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
} from '../../local/eventbridge/event-pattern';

/** The sample EC2 event used throughout the docs and the event-ruler README. */
const ec2Event = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};
const withDetail = (detail: Record<string, unknown>) => ({ ...ec2Event, detail });
const matches = (pattern: unknown, event: unknown = ec2Event) => matchesEventPattern(pattern, event);

describe('exact values', () => {
  it('matches when every named field has one of the listed values (AND across fields, OR within a list)', () => {
    const pattern = {
      'detail-type': ['EC2 Instance State-change Notification'],
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
      detail: { state: ['initializing', 'running'] },
    };
    expect(matches(pattern)).toBe(true);
    expect(matches(pattern, withDetail({ state: 'stopped' }))).toBe(false);
    expect(matches({ ...pattern, source: ['aws.fargate'] })).toBe(false);
  });

  it('does not match when a named field is missing or nested differently', () => {
    expect(matches({ detail: { color: ['red'] } })).toBe(false);
    expect(matches({ state: ['running'] })).toBe(false);
  });

  it('compares numbers numerically and keeps types apart', () => {
    expect(matches({ detail: { 'x-limit': [301.8] } })).toBe(true);
    expect(matches({ detail: { 'x-limit': [3.018e2] } })).toBe(true);
    expect(matches({ detail: { 'x-limit': ['301.8'] } })).toBe(false);
    expect(matches({ detail: { 'c-count': [5] } }, withDetail({ 'c-count': '5' }))).toBe(false);
  });

  it('matches booleans, null and the empty string exactly', () => {
    const event = withDetail({ enabled: true, responseElements: null, LastName: '' });
    expect(matches({ detail: { enabled: [true] } }, event)).toBe(true);
    expect(matches({ detail: { enabled: [false] } }, event)).toBe(false);
    expect(matches({ detail: { responseElements: [null] } }, event)).toBe(true);
    expect(matches({ detail: { LastName: [''] } }, event)).toBe(true);
    expect(matches({ detail: { LastName: [null] } }, event)).toBe(false);
    // null matches a null value, not a missing field.
    expect(matches({ detail: { absent: [null] } }, event)).toBe(false);
  });
});

describe('arrays in events', () => {
  it('matches when the pattern list and the event array intersect (the docs’ resources example)', () => {
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
      ],
    };
    const event = {
      ...ec2Event,
      resources: [
        'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      ],
    };
    expect(matches(pattern, event)).toBe(true);
    expect(matches(pattern, { ...event, resources: [event.resources[0]] })).toBe(false);
    expect(matches(pattern, { ...event, resources: [] })).toBe(false);
  });

  it('applies every filter to each element of an array field', () => {
    const event = withDetail({ tags: ['prod-eu', 'team-a'], sizes: [3, 30] });
    expect(matches({ detail: { tags: [{ prefix: 'team-' }] } }, event)).toBe(true);
    expect(matches({ detail: { sizes: [{ numeric: ['>', 10] }] } }, event)).toBe(true);
    expect(matches({ detail: { sizes: [{ numeric: ['>', 100] }] } }, event)).toBe(false);
  });

  it('matches a nested pattern against one element of an array of objects at a time', () => {
    const event = withDetail({
      items: [
        { sku: 'a', qty: 1 },
        { sku: 'b', qty: 4 },
      ],
    });
    expect(matches({ detail: { items: { sku: ['b'], qty: [4] } } }, event)).toBe(true);
    expect(matches({ detail: { items: { sku: ['a'], qty: [4] } } }, event)).toBe(false);
  });
});

describe('prefix, suffix and equals-ignore-case', () => {
  it('prefix: "time" starting with 2017-10-02', () => {
    const pattern = { time: [{ prefix: '2017-10-02' }] };
    expect(matches(pattern)).toBe(true);
    expect(matches(pattern, { ...ec2Event, time: '2017-10-03T00:00:00Z' })).toBe(false);
    expect(matches({ detail: { 'c-count': [{ prefix: '5' }] } })).toBe(false); // prefix works on strings only
  });

  it('prefix with equals-ignore-case: service starting with EventB in any case', () => {
    const pattern = { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } };
    expect(matches(pattern, withDetail({ service: 'EventBridge' }))).toBe(true);
    expect(matches(pattern, withDetail({ service: 'EVENTBRIDGE' }))).toBe(true);
    expect(matches(pattern, withDetail({ service: 'eventb' }))).toBe(true);
    expect(matches(pattern, withDetail({ service: 'MyEventBridge' }))).toBe(false);
    expect(
      matches({ detail: { service: [{ prefix: 'EventB' }] } }, withDetail({ service: 'eventbridge' })),
    ).toBe(false);
  });

  it('suffix: FileName ending in .png, and with equals-ignore-case also .PNG', () => {
    expect(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'cat.png' })).toBe(true);
    expect(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'cat.PNG' })).toBe(false);
    expect(matches({ FileName: [{ suffix: '.png' }] }, { FileName: 'cat.png.txt' })).toBe(false);
    const ignoreCase = { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } };
    expect(matches(ignoreCase, withDetail({ FileName: 'cat.PNG' }))).toBe(true);
    expect(matches(ignoreCase, withDetail({ FileName: 'cat.jpg' }))).toBe(false);
  });

  it('equals-ignore-case: Name is alice in any case', () => {
    const pattern = { Name: [{ 'equals-ignore-case': 'alice' }] };
    expect(matches(pattern, { Name: 'Alice' })).toBe(true);
    expect(matches(pattern, { Name: 'ALICE' })).toBe(true);
    expect(matches(pattern, { Name: 'Alicia' })).toBe(false);
  });
});

describe('anything-but', () => {
  it('a single string or number', () => {
    expect(matches({ detail: { state: [{ 'anything-but': 'initializing' }] } })).toBe(true);
    expect(
      matches(
        { detail: { state: [{ 'anything-but': 'initializing' }] } },
        withDetail({ state: 'initializing' }),
      ),
    ).toBe(false);
    expect(matches({ detail: { 'x-limit': [{ 'anything-but': 123 }] } })).toBe(true);
    expect(
      matches({ detail: { 'x-limit': [{ 'anything-but': 123 }] } }, withDetail({ 'x-limit': 123 })),
    ).toBe(false);
  });

  it('a list of strings or a list of numbers', () => {
    const states = { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } };
    expect(matches(states)).toBe(true);
    expect(matches(states, withDetail({ state: 'overloaded' }))).toBe(false);
    const limits = { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } };
    expect(matches(limits)).toBe(true);
    expect(matches(limits, withDetail({ 'x-limit': 200 }))).toBe(false);
  });

  it('a prefix, a suffix, equals-ignore-case and a wildcard', () => {
    const notInit = { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } };
    expect(matches(notInit)).toBe(true);
    expect(matches(notInit, withDetail({ state: 'initializing' }))).toBe(false);

    const notPng = { FileName: [{ 'anything-but': { suffix: '.png' } }] };
    expect(matches(notPng, { FileName: 'cat.jpg' })).toBe(true);
    expect(matches(notPng, { FileName: 'cat.png' })).toBe(false);

    const notInitAnyCase = {
      state: [{ 'anything-but': { 'equals-ignore-case': ['initializing', 'Stopped'] } }],
    };
    expect(matches(notInitAnyCase, { state: 'running' })).toBe(true);
    expect(matches(notInitAnyCase, { state: 'INITIALIZING' })).toBe(false);
    expect(matches(notInitAnyCase, { state: 'stopped' })).toBe(false);

    const notLib = { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] };
    expect(matches(notLib, { FilePath: '/usr/bin/node' })).toBe(true);
    expect(matches(notLib, { FilePath: '/usr/lib/node' })).toBe(false);
  });

  it('needs the field to be present', () => {
    expect(matches({ detail: { color: [{ 'anything-but': 'red' }] } })).toBe(false);
  });
});

describe('numeric', () => {
  it('ranges with one or two operators, and equality (the docs’ c-count / d-count / x-limit pattern)', () => {
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };
    expect(matches(pattern)).toBe(true);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'c-count': 0 }))).toBe(false);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'c-count': 6 }))).toBe(false);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'd-count': 10 }))).toBe(false);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'x-limit': 301.9 }))).toBe(false);
  });

  it('only matches JSON numbers', () => {
    expect(matches({ detail: { 'c-count': [{ numeric: ['>=', 5] }] } }, withDetail({ 'c-count': '5' }))).toBe(
      false,
    );
  });
});

describe('exists', () => {
  it('true matches a present leaf, false an absent one', () => {
    expect(matches({ detail: { 'c-count': [{ exists: true }] } })).toBe(true);
    expect(matches({ detail: { 'c-count': [{ exists: false }] } })).toBe(false);
    const noCount = withDetail({ state: ['initializing', 'running'] });
    expect(matches({ detail: { 'c-count': [{ exists: false }] } }, noCount)).toBe(true);
    expect(matches({ detail: { 'c-count': [{ exists: true }] } }, noCount)).toBe(false);
  });

  it('works on leaf nodes only: an object there counts as absent (the docs’ c-count example)', () => {
    const event = withDetail({ state: ['initializing', 'running'], 'c-count': { c1: 100 } });
    expect(matches({ detail: { 'c-count': [{ exists: false }] } }, event)).toBe(true);
    expect(matches({ detail: { 'c-count': [{ exists: true }] } }, event)).toBe(false);
  });

  it('false also matches when the parent object is missing', () => {
    expect(matches({ detail: { nested: { flag: [{ exists: false }] } } })).toBe(true);
  });
});

describe('wildcard', () => {
  it('matches any run of characters, including none', () => {
    const pattern = { source: [{ wildcard: 'Simple*Service' }] };
    expect(matches(pattern, { source: 'SimpleQueueService' })).toBe(true);
    expect(matches(pattern, { source: 'SimpleService' })).toBe(true);
    expect(matches(pattern, { source: 'SimpleQueueServices' })).toBe(false);
    const busArn = { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] };
    expect(matches(busArn, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/orders' })).toBe(
      true,
    );
    expect(matches(busArn, { EventBusArn: 'arn:aws:events:eu-west-1:123456789012:event-bus/orders' })).toBe(
      false,
    );
  });

  it('treats \\* as a literal asterisk and regex characters literally', () => {
    expect(matches({ f: [{ wildcard: 'a\\*b' }] }, { f: 'a*b' })).toBe(true);
    expect(matches({ f: [{ wildcard: 'a\\*b' }] }, { f: 'axb' })).toBe(false);
    expect(matches({ f: [{ wildcard: 'v1.*' }] }, { f: 'v1.2' })).toBe(true);
    expect(matches({ f: [{ wildcard: 'v1.*' }] }, { f: 'v1x2' })).toBe(false);
  });
});

describe('cidr', () => {
  it('matches IPv4 and IPv6 addresses inside the block', () => {
    expect(matches({ detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } })).toBe(true);
    expect(
      matches(
        { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } },
        withDetail({ 'source-ip': '10.0.1.1' }),
      ),
    ).toBe(false);
    expect(matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db8::1' })).toBe(true);
    expect(matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db9::1' })).toBe(false);
  });
});

describe('$or', () => {
  const metric = { source: 'aws.cloudwatch', metricName: 'CPUUtilization', namespace: 'AWS/RDS' };

  it('"source" && ("metricName" || "namespace")', () => {
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };
    expect(matches(pattern, metric)).toBe(true);
    expect(matches(pattern, { ...metric, metricName: 'DiskQueue', namespace: 'AWS/ES' })).toBe(true);
    expect(matches(pattern, { ...metric, metricName: 'DiskQueue' })).toBe(false);
    expect(matches(pattern, { ...metric, source: 'aws.ec2' })).toBe(false);
  });

  it('an "and" inside an "or" alternative, and nested $or', () => {
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization', 'ReadLatency'] },
        {
          metricType: ['MetricType'],
          namespace: ['AWS/EC2', 'AWS/ES'],
          $or: [{ metricId: [1234] }, { spaceId: [1000] }],
        },
        { scope: ['Service'] },
      ],
    };
    const base = { source: 'aws.cloudwatch', metricName: 'Other' };
    expect(matches(pattern, { ...base, metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1000 })).toBe(
      true,
    );
    expect(matches(pattern, { ...base, metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1 })).toBe(
      false,
    );
    expect(matches(pattern, { ...base, namespace: 'AWS/EC2', metricId: 1234 })).toBe(false);
    expect(matches(pattern, { ...base, scope: 'Service' })).toBe(true);
  });
});

describe('the docs’ complex example', () => {
  const pattern = {
    time: [{ prefix: '2017-10-02' }],
    detail: {
      state: [{ 'anything-but': 'initializing' }],
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ 'anything-but': [100, 200, 300] }],
      'source-ip': [{ cidr: '10.0.0.0/8' }],
    },
  };
  it('matches the sample event and fails as soon as one filter fails', () => {
    expect(matches(pattern)).toBe(true);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'x-limit': 300 }))).toBe(false);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, state: 'initializing' }))).toBe(false);
    expect(matches(pattern, withDetail({ ...ec2Event.detail, 'source-ip': '192.168.0.1' }))).toBe(false);
  });
});

describe('validation (what PutRule rejects with InvalidEventPatternException)', () => {
  it.each<[string, unknown]>([
    ['a pattern that is not an object', ['source']],
    ['an empty pattern', {}],
    ['a bare value instead of a list', { source: 'aws.ec2' }],
    ['an empty match list', { source: [] }],
    ['a nested list', { source: [['aws.ec2']] }],
    ['an unknown operator', { source: [{ contains: 'ec2' }] }],
    ['two operators in one match object', { source: [{ prefix: 'a', suffix: 'b' }] }],
    ['a prefix that is not a string', { source: [{ prefix: 5 }] }],
    ['a numeric operator that does not exist', { n: [{ numeric: ['!=', 5] }] }],
    ['two lower bounds', { n: [{ numeric: ['>', 1, '>=', 2] }] }],
    ['"=" combined with a range', { n: [{ numeric: ['=', 1, '<', 2] }] }],
    ['an empty range', { n: [{ numeric: ['>', 5, '<', 5] }] }],
    ['a numeric bound out of range', { n: [{ numeric: ['<', 6e9] }] }],
    ['a numeric bound that is a string', { n: [{ numeric: ['<', '10'] }] }],
    ['exists that is not a boolean', { n: [{ exists: 'yes' }] }],
    ['anything-but mixing strings and numbers', { n: [{ 'anything-but': ['a', 1] }] }],
    ['anything-but with an empty list', { n: [{ 'anything-but': [] }] }],
    ['anything-but with an unknown operator', { n: [{ 'anything-but': { numeric: ['>', 1] } }] }],
    ['$or with one alternative', { $or: [{ source: ['a'] }] }],
    ['$or that is not a list', { $or: { source: ['a'] } }],
    ['consecutive wildcards', { f: [{ wildcard: 'a**b' }] }],
    ['a backslash escaping another character', { f: [{ wildcard: 'a\\b' }] }],
    ['an invalid CIDR block', { ip: [{ cidr: '10.0.0.0/33' }] }],
    ['a CIDR block without prefix length', { ip: [{ cidr: '10.0.0.1' }] }],
  ])('rejects %s', (_what, pattern) => {
    expect(() => compileEventPattern(pattern)).toThrow(InvalidEventPatternError);
    expect(() => compileEventPattern(pattern)).toThrow(/^Event pattern is not valid\. Reason: /);
  });

  it('names the failing path in the reason', () => {
    expect(() => compileEventPattern({ detail: { count: [{ numeric: ['<', 'x'] }] } })).toThrow(
      /detail\.count/,
    );
  });

  it('never matches an event that is not an object', () => {
    const compiled = compileEventPattern({ detail: { x: [{ exists: false }] } });
    expect(compiled.matches(null)).toBe(false);
    expect(compiled.matches('event')).toBe(false);
    expect(compiled.matches({})).toBe(true);
  });
});
