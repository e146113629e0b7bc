import type { ConverseRequestBody } from '../../local/bedrock/converse-request';
import { countTokens, fitToMaxTokens, minimumCacheTokens, PromptCache } from '../../local/bedrock/tokens';
import { TIERS } from '../helpers/fixtures';

const SYSTEM =
  'You are the FinOps agent of sovereign-agent. Use the billing tools, cite numbers, never invent data.';
const tools = [
  {
    toolSpec: {
      name: 'audit_billing_logs',
      // Long enough that the tools alone pass Bedrock's 1,024-token minimum for a cache checkpoint.
      description: `Audits billing logs. ${'It reads every line item of the month and flags spikes. '.repeat(120)}`,
      inputSchema: {
        json: { type: 'object', properties: { tenant_id: { type: 'string' } }, required: ['tenant_id'] },
      },
    },
  },
  { cachePoint: { type: 'default' as const } },
];

const request = (goal: string, system = SYSTEM): ConverseRequestBody => ({
  system: [{ text: system }, { cachePoint: { type: 'default' } }],
  messages: [{ role: 'user', content: [{ text: goal }] }],
  toolConfig: { tools },
});

const SONNET = TIERS.planner;
const HAIKU = TIERS.executor;
const NOVA = TIERS.reader;

describe('countTokens', () => {
  it('counts cl100k_base tokens, not characters', () => {
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('')).toBe(0);
    // 399 characters of one repeated word: characters/4 would say 100.
    expect(countTokens(Array(80).fill('cost').join(' '))).toBe(80);
  });
});

describe('countTokens on long input', () => {
  const encoder = (): { encode(text: string): number[] } => {
    const { Tiktoken } = require('js-tiktoken/lite');
    return new Tiktoken(require('js-tiktoken/ranks/cl100k_base'));
  };

  it('counts a 1 MB string without spaces in well under two seconds (it used to hold the emulator for minutes)', () => {
    // Prepare
    const unbroken = 'x'.repeat(1_000_000);
    const blob = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo'.repeat(30_000).slice(0, 1_000_000);

    // Act
    const started = performance.now();
    const counts = [countTokens(unbroken), countTokens(blob)];
    const seconds = (performance.now() - started) / 1000;

    // Assess
    expect(seconds).toBeLessThan(2);
    // Near-exact: a run cut into chunks counts about what its length says, and twice the run about twice as much.
    expect(counts[0]).toBeGreaterThan(100_000);
    expect(countTokens('x'.repeat(2_000_000))).toBeCloseTo(2 * (counts[0] ?? 0), -2);
    expect(counts[1]).toBeGreaterThan(200_000);
  });

  it('keeps the exact cl100k count for long ordinary text', () => {
    const text = Array.from(
      { length: 3000 },
      (_, i) => `line ${i}: cost of tenant-${i % 7} is $${i}.50`,
    ).join('\n');
    expect(countTokens(text)).toBe(encoder().encode(text).length);
  });
});

describe('PromptCache', () => {
  it('writes the prefix up to the last cache point, then reads it, and bills only the rest as input', () => {
    let now = 0;
    const cache = new PromptCache(() => now);
    const first = cache.measure(SONNET, request('Tenant: acme\nAudit billing.'));
    expect(first.cacheReadInputTokens).toBe(0);
    expect(first.cacheWriteInputTokens).toBeGreaterThan(countTokens(SYSTEM));
    expect(first.inputTokens).toBe(countTokens('Tenant: acme\nAudit billing.'));

    now += 60_000;
    const second = cache.measure(SONNET, request('Tenant: acme\nA different goal entirely.'));
    expect(second).toEqual({
      cacheReadInputTokens: first.cacheWriteInputTokens,
      cacheWriteInputTokens: 0,
      inputTokens: countTokens('Tenant: acme\nA different goal entirely.'),
    });
  });

  it('keeps caches apart per model and per content', () => {
    const cache = new PromptCache(() => 0);
    const first = cache.measure(SONNET, request('goal'));
    expect(cache.measure(NOVA, request('goal')).cacheWriteInputTokens).toBe(first.cacheWriteInputTokens);
    // Same tools, other system prompt: the tools checkpoint is read, the system part is written again.
    const changed = cache.measure(SONNET, request('goal', 'Another system prompt.'));
    expect(changed.cacheReadInputTokens).toBeGreaterThan(0);
    expect(changed.cacheWriteInputTokens).toBe(countTokens('Another system prompt.'));
  });

  it('expires an entry five minutes after its last use', () => {
    let now = 0;
    const cache = new PromptCache(() => now);
    cache.measure(SONNET, request('goal'));
    now = 4 * 60_000;
    expect(cache.measure(SONNET, request('goal')).cacheReadInputTokens).toBeGreaterThan(0);
    now += 5 * 60_000 + 1;
    expect(cache.measure(SONNET, request('goal')).cacheReadInputTokens).toBe(0);
  });

  it("ignores a cache point placed before the model's minimum prefix, as Bedrock does", () => {
    const cache = new PromptCache(() => 0);
    const short: ConverseRequestBody = {
      system: [{ text: SYSTEM }, { cachePoint: { type: 'default' } }],
      messages: [{ role: 'user', content: [{ text: 'goal' }] }],
    };
    expect(countTokens(SYSTEM)).toBeLessThan(minimumCacheTokens(HAIKU));
    cache.measure(HAIKU, short);
    const again = cache.measure(HAIKU, short);
    expect(again).toEqual({
      inputTokens: countTokens(SYSTEM) + 1,
      cacheReadInputTokens: 0,
      cacheWriteInputTokens: 0,
    });
    // The minimums are the catalog's: Haiku 4.5 4,096, Sonnet 4.6 1,024; a model without caching forms none
    expect(minimumCacheTokens(HAIKU)).toBe(4096);
    expect(minimumCacheTokens(SONNET)).toBe(1024);
    expect(minimumCacheTokens(`arn:aws:bedrock:us-east-1:123456789012:inference-profile/${SONNET}`)).toBe(
      1024,
    );
    expect(minimumCacheTokens('anthropic.claude-3-5-sonnet-20241022-v2:0')).toBe(Number.POSITIVE_INFINITY);
  });

  it('caches nothing without a cache point', () => {
    const cache = new PromptCache(() => 0);
    const plain: ConverseRequestBody = {
      system: [{ text: SYSTEM }],
      messages: [{ role: 'user', content: [{ text: 'goal' }] }],
    };
    cache.measure(SONNET, plain);
    const again = cache.measure(SONNET, plain);
    expect(again.cacheReadInputTokens + again.cacheWriteInputTokens).toBe(0);
    expect(again.inputTokens).toBe(countTokens(SYSTEM) + countTokens('goal'));
  });
});

describe('fitToMaxTokens', () => {
  it('cuts text at maxTokens and drops a tool call that does not fit', () => {
    const content = [
      { text: 'one two three four five six' },
      { toolUse: { toolUseId: 'tooluse_a', name: 'audit_billing_logs', input: { tenant_id: 'acme' } } },
    ];
    const fitted = fitToMaxTokens(content, 3);
    expect(fitted).toEqual({ content: [{ text: 'one two three' }], outputTokens: 3, truncated: true });
    expect(fitToMaxTokens(content, 1000).truncated).toBe(false);
  });
});
