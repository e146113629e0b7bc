/**
 * Contract of the local Bedrock Runtime emulator against the REAL BedrockRuntimeClient (HTTP/2, SigV4, the
 * SDK's own (de)serializers and retry strategy). No DynamoDB needed.
 *
 * What is pinned, and where the behaviour is documented:
 * - Converse request/response shapes (output.message, toolUse, stopReason, usage, metrics):
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolUseBlock.html
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html
 * - Error types and HTTP statuses (ThrottlingException 429, ValidationException 400, ModelTimeoutException
 *   408, ServiceUnavailableException 503, InternalServerException 500, AccessDeniedException 403,
 *   ResourceNotFoundException 404, ModelNotReadyException 429, ModelErrorException 424):
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors
 * - SDK retries (standard mode, 3 attempts by default, throttling errors are retried):
 *   https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
 * - Prompt caching with cachePoint blocks and cacheRead/cacheWriteInputTokens:
 *   https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html
 * - Service-specific endpoint variable AWS_ENDPOINT_URL_BEDROCK_RUNTIME:
 *   https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 */
import {
  BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  type Message,
  type Tool,
} from '@aws-sdk/client-bedrock-runtime';
import { putModelScript } from '../../local/bedrock/emulator';
import {
  CONVERSE_ERROR_STATUS,
  type ConverseErrorType,
  EmulatorControlError,
} from '../../local/bedrock/errors';
import { LOCAL_CREDENTIALS, rejectionOf, useBedrockEmulator } from '../helpers/bedrock-emulator';

// A catalog id (shared/agent/models/catalog.json): the emulator refuses ids the catalog does not know.
const MODEL_ID = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const credentials = LOCAL_CREDENTIALS;

const tools: Tool[] = [
  {
    toolSpec: {
      name: 'audit_billing_logs',
      description: 'Audits the billing logs of a tenant and reports cost anomalies.',
      inputSchema: {
        json: {
          type: 'object',
          properties: {
            tenant_id: { type: 'string' },
            lookback_days: { type: 'integer', minimum: 1, default: 30 },
          },
          required: ['tenant_id', 'lookback_days'],
        },
      },
    },
  },
  {
    toolSpec: {
      name: 'create_optimization_report',
      description: 'Creates an optimization report from findings.',
      inputSchema: {
        json: {
          type: 'object',
          properties: {
            tenant_id: { type: 'string' },
            title: { type: 'string' },
            findings: { type: 'array', items: { type: 'string' } },
          },
          required: ['tenant_id', 'title', 'findings'],
        },
      },
    },
  },
  { cachePoint: { type: 'default' } },
];

const SYSTEM_PROMPT =
  'You are the FinOps agent of sovereign-agent. Work only for the tenant named in the goal, use the billing tools, cite numbers from tool results and never invent data.';

const bedrock = useBedrockEmulator(3);

const converseInput = (
  sessionId: string,
  messages: Message[],
  goal = 'Audit billing for the last 90 days.',
): ConverseCommandInput => ({
  modelId: MODEL_ID,
  system: [{ text: SYSTEM_PROMPT }, { cachePoint: { type: 'default' } }],
  messages: messages.length > 0 ? messages : [{ role: 'user', content: [{ text: `Tenant: acme\n${goal}` }] }],
  toolConfig: { tools },
  inferenceConfig: { maxTokens: 2048, temperature: 0 },
  requestMetadata: { tenantId: 'acme', sessionId },
});

const clientWith = (maxAttempts: number): BedrockRuntimeClient =>
  new BedrockRuntimeClient({ region: 'us-east-1', endpoint: bedrock.emulator.url, credentials, maxAttempts });

describe('Converse shapes', () => {
  it('answers a scripted turn with toolUse blocks, tool_use, token usage and latency', async () => {
    bedrock.emulator.setScript('shape-1', {
      turns: [
        {
          text: 'Auditing first.',
          toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme', lookback_days: 90 } }],
        },
      ],
    });
    const out = await bedrock.client.send(new ConverseCommand(converseInput('shape-1', [])));

    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.stopReason).toBe('tool_use');
    expect(out.output?.message?.role).toBe('assistant');
    const [text, toolUse] = out.output?.message?.content ?? [];
    expect(text).toEqual({ text: 'Auditing first.' });
    expect(toolUse?.toolUse).toEqual({
      toolUseId: expect.stringMatching(/^tooluse_[A-Za-z0-9_-]{22}$/),
      name: 'audit_billing_logs',
      input: { tenant_id: 'acme', lookback_days: 90 },
    });
    const usage = out.usage;
    expect(usage?.inputTokens).toBeGreaterThan(0);
    expect(usage?.outputTokens).toBeGreaterThan(0);
    expect(usage?.totalTokens).toBe(
      (usage?.inputTokens ?? 0) +
        (usage?.outputTokens ?? 0) +
        (usage?.cacheReadInputTokens ?? 0) +
        (usage?.cacheWriteInputTokens ?? 0),
    );
    expect(out.metrics?.latencyMs).toEqual(expect.any(Number));

    const [record] = bedrock.emulator.calls().filter((c) => c.sessionId === 'shape-1');
    expect(record).toMatchObject({
      sessionId: 'shape-1',
      tenantId: 'acme',
      modelId: MODEL_ID,
      turn: 1,
      status: 200,
    });
    expect(record?.usage?.outputTokens).toBe(usage?.outputTokens);
  });

  it('runs a whole goal with the fixture model: gather, synthesize, summarize', async () => {
    const sessionId = 'policy-1';
    const messages: Message[] = [
      {
        role: 'user',
        content: [
          { text: 'Tenant: acme\nAudit billing for the last 90 days and write an optimization report.' },
        ],
      },
    ];
    const stops: (string | undefined)[] = [];
    for (let turn = 0; turn < 5; turn++) {
      const out = await bedrock.client.send(new ConverseCommand(converseInput(sessionId, messages)));
      stops.push(out.stopReason);
      const answer = out.output?.message;
      if (!answer) throw new Error('no message in the answer');
      messages.push(answer);
      const uses = (answer.content ?? []).flatMap((b) => (b.toolUse ? [b.toolUse] : []));
      if (uses.length === 0) break;
      messages.push({
        role: 'user',
        content: uses.map((u) => ({
          toolResult: {
            toolUseId: u.toolUseId ?? '',
            content: [{ json: { summary: `${u.name}: 3 anomalies, $1,200 at risk` } }],
          },
        })),
      });
    }
    expect(stops).toEqual(['tool_use', 'tool_use', 'end_turn']);
    const report = messages[3]?.content?.[0]?.toolUse;
    expect(report?.name).toBe('create_optimization_report');
    expect(report?.input).toMatchObject({
      tenant_id: 'acme',
      findings: ['audit_billing_logs: 3 anomalies, $1,200 at risk'],
    });
    expect(messages.at(-1)?.content?.[0]?.text).toContain('create_optimization_report');
    expect(
      bedrock.emulator
        .calls()
        .filter((c) => c.sessionId === sessionId)
        .map((c) => c.turn),
    ).toEqual([1, 2, 3]);
  });

  it('takes the model id from the URL-encoded path, ARNs included', async () => {
    const arn = `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${MODEL_ID}`;
    await bedrock.client.send(new ConverseCommand({ ...converseInput('arn-model', []), modelId: arn }));
    expect(bedrock.emulator.calls().find((c) => c.sessionId === 'arn-model')?.modelId).toBe(arn);
  });

  it('cuts the answer at maxTokens and says so in stopReason', async () => {
    bedrock.emulator.setScript('max-tokens', {
      turns: [{ text: 'one two three four five six seven eight nine ten' }],
    });
    const input = { ...converseInput('max-tokens', []), inferenceConfig: { maxTokens: 4 } };
    const out = await bedrock.client.send(new ConverseCommand(input));
    expect(out.stopReason).toBe('max_tokens');
    expect(out.output?.message?.content).toEqual([{ text: 'one two three four' }]);
    expect(out.usage?.outputTokens).toBe(4);
  });
});

describe('Converse errors', () => {
  it('retries a scripted ThrottlingException twice and succeeds on the third attempt', async () => {
    bedrock.emulator.setScript('throttle-2', {
      turns: [{ text: 'Recovered.', error: 'ThrottlingException', times: 2 }],
    });
    const out = await bedrock.client.send(new ConverseCommand(converseInput('throttle-2', [])));
    expect(out.output?.message?.content).toEqual([{ text: 'Recovered.' }]);
    expect(out.$metadata.attempts).toBe(3);
    const statuses = bedrock.emulator.calls().filter((c) => c.sessionId === 'throttle-2');
    expect(statuses.map((c) => [c.status, c.errorType])).toEqual([
      [429, 'ThrottlingException'],
      [429, 'ThrottlingException'],
      [200, undefined],
    ]);
  });

  it('surfaces a ThrottlingException to the caller once the 3 attempts are used', async () => {
    bedrock.emulator.setScript('throttle-3', {
      turns: [{ text: 'Too late.', error: 'ThrottlingException', times: 3 }],
    });
    const error = await rejectionOf(
      bedrock.client.send(new ConverseCommand(converseInput('throttle-3', []))),
    );
    expect(error.name).toBe('ThrottlingException');
    expect(error.$metadata.httpStatusCode).toBe(429);
    expect(error.$metadata.attempts).toBe(3);
    expect(error.message).toContain('session "throttle-3", turn 1 (failure 3 of 3)');
    expect(
      bedrock.emulator
        .calls()
        .filter((c) => c.sessionId === 'throttle-3')
        .map((c) => c.status),
    ).toEqual([429, 429, 429]);
  });

  it.each(Object.entries(CONVERSE_ERROR_STATUS) as [ConverseErrorType, number][])(
    'answers a scripted %s with HTTP %i, which the SDK maps to the same error',
    async (errorType, status) => {
      const single = clientWith(1);
      try {
        bedrock.emulator.setScript(`fault-${errorType}`, { turns: [{ text: 'never', error: errorType }] });
        const error = await rejectionOf(
          single.send(new ConverseCommand(converseInput(`fault-${errorType}`, []))),
        );
        expect(error.name).toBe(errorType);
        expect(error.$metadata.httpStatusCode).toBe(status);
      } finally {
        single.destroy();
      }
    },
  );

  it('rejects a conversation whose toolResult answers no toolUse with a ValidationException (not retried)', async () => {
    const messages: Message[] = [
      { role: 'user', content: [{ text: 'Tenant: acme\nAudit billing.' }] },
      {
        role: 'assistant',
        content: [{ toolUse: { toolUseId: 'tooluse_a', name: 'audit_billing_logs', input: {} } }],
      },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_zzz', content: [{ text: 'ok' }] } }] },
    ];
    const error = await rejectionOf(
      bedrock.client.send(new ConverseCommand(converseInput('bad-conversation', messages))),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.$metadata.attempts).toBe(1);
    expect(error.message).toContain("toolUseId 'tooluse_zzz' at messages.2.content does not match");
  });

  it('rejects a conversation that does not alternate roles', async () => {
    const messages: Message[] = [
      { role: 'user', content: [{ text: 'Tenant: acme\nAudit billing.' }] },
      { role: 'user', content: [{ text: 'Hurry up.' }] },
    ];
    const error = await rejectionOf(
      bedrock.client.send(new ConverseCommand(converseInput('bad-roles', messages))),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('must alternate between user and assistant roles');
  });

  it('answers a used-up script with a ValidationException naming the session and the turn', async () => {
    bedrock.emulator.setScript('short-script', { turns: [{ text: 'Only answer.' }] });
    await bedrock.client.send(new ConverseCommand(converseInput('short-script', [])));
    const error = await rejectionOf(
      bedrock.client.send(new ConverseCommand(converseInput('short-script', []))),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('session "short-script" has no turn 2');
  });
});

describe('prompt caching', () => {
  it('writes the system and tools prefix on the first call and reads it on the next', async () => {
    const modelId = 'us.amazon.nova-lite-v1:0';
    // Nova takes no cache point in toolConfig.tools (its catalog entry): the tools go without one.
    const toolConfig = { tools: tools.filter((tool) => !tool.cachePoint) };
    // A checkpoint forms only past the model's minimum prefix (1,000 tokens on Nova), so the prompt is long.
    const system = [
      { text: `${SYSTEM_PROMPT} ${'Quote the tool results, with units and dates. '.repeat(120)}` },
      { cachePoint: { type: 'default' as const } },
    ];
    const first = await bedrock.client.send(
      new ConverseCommand({ ...converseInput('cache-1', []), modelId, system, toolConfig }),
    );
    const second = await bedrock.client.send(
      new ConverseCommand({
        ...converseInput('cache-2', [], 'Write an optimization report for March.'),
        modelId,
        system,
        toolConfig,
      }),
    );
    expect(first.usage?.cacheReadInputTokens).toBe(0);
    expect(first.usage?.cacheWriteInputTokens).toBeGreaterThan(50);
    expect(second.usage?.cacheReadInputTokens).toBe(first.usage?.cacheWriteInputTokens);
    expect(second.usage?.cacheWriteInputTokens).toBe(0);
    // Cached tokens are not billed again as input: only the goal is.
    expect(second.usage?.inputTokens).toBeLessThan(20);
  });
});

describe('control endpoints', () => {
  it('installs a script over HTTP/2 for another process', async () => {
    await putModelScript(bedrock.emulator.url, 'remote-1', {
      turns: [
        {
          toolUse: [{ name: 'audit_billing_logs', input: { tenant_id: 'acme', lookback_days: 7 } }],
          delayMs: 120,
        },
      ],
    });
    const out = await bedrock.client.send(new ConverseCommand(converseInput('remote-1', [])));
    expect(out.output?.message?.content?.[0]?.toolUse?.input).toEqual({
      tenant_id: 'acme',
      lookback_days: 7,
    });
    expect(out.metrics?.latencyMs).toBeGreaterThanOrEqual(120);
    const calls = bedrock.emulator.calls().filter((c) => c.sessionId === 'remote-1');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ sessionId: 'remote-1', status: 200, turn: 1 });
  });

  it('keeps a delayed turn for the retry when the client gave up waiting', async () => {
    bedrock.emulator.setScript('slow-1', { turns: [{ text: 'Slow answer.', delayMs: 400 }] });
    const impatient = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: bedrock.emulator.url,
      credentials,
      maxAttempts: 1,
      requestHandler: { requestTimeout: 100 },
    });
    try {
      const error = await rejectionOf(impatient.send(new ConverseCommand(converseInput('slow-1', []))));
      expect(error.name).toBe('TimeoutError');
    } finally {
      impatient.destroy();
    }
    const out = await bedrock.client.send(new ConverseCommand(converseInput('slow-1', [])));
    expect(out.output?.message?.content).toEqual([{ text: 'Slow answer.' }]);
    const calls = bedrock.emulator.calls().filter((c) => c.sessionId === 'slow-1');
    expect(calls.map((c) => [c.status, c.abandoned ?? false])).toEqual([
      [499, true],
      [200, false],
    ]);
  });

  it('refuses an invalid script with a message that names the problem', async () => {
    const bad = putModelScript(bedrock.emulator.url, 'remote-2', {
      turns: [{ text: 'x', error: 'Throttled' as ConverseErrorType }],
    });
    await expect(bad).rejects.toThrow(EmulatorControlError);
    await expect(bad).rejects.toThrow(/turns\[0\]\.error/);
  });
});
