/** The private tier's configuration and data: the endpoint variable, the catalog's instance-hour price, the emulator's reading of chat requests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { parse } from 'yaml';
import {
  chatRequestSchema,
  converseRequestOf,
  readCustomAttributes,
} from '../../local/sagemaker/chat-request';
import { requireModel } from '../../shared/agent/models';
import { toChatRequest } from '../../shared/providers/openai-chat';
import { customAttributesOf } from '../../shared/providers/sagemaker-chat';
import { privateModelEndpoint } from '../../shared/runtime/config';
import { ConfigError } from '../../shared/runtime/errors';

const params = (
  parse(readFileSync(join(__dirname, '../../serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
    params: { default: Record<string, string> };
  }
).params.default;

describe('privateModelEndpoint', () => {
  it('reads PRIVATE_MODEL_ENDPOINT', () => {
    expect(privateModelEndpoint({ PRIVATE_MODEL_ENDPOINT: 'sovereign-agent-dev-private' })).toBe(
      'sovereign-agent-dev-private',
    );
  });

  it.each([[{}], [{ PRIVATE_MODEL_ENDPOINT: 'Sovereign-Private' }], [{ PRIVATE_MODEL_ENDPOINT: 'a_b' }]])(
    'refuses %p at cold start, naming the variable',
    (env) => {
      expect(() => privateModelEndpoint(env)).toThrow(ConfigError);
      expect(() => privateModelEndpoint(env)).toThrow(/PRIVATE_MODEL_ENDPOINT/);
    },
  );
});

describe('the private model in the catalog and serverless.yml', () => {
  it('is the default private tier, a sagemaker-endpoint entry priced per instance-hour', () => {
    // Act
    const entry = requireModel(params.modelTierPrivate ?? '');

    // Assess
    expect(entry).toMatchObject({
      provider: 'sagemaker',
      invocation: 'sagemaker-endpoint',
      promptCaching: null,
    });
    expect(entry.prices.basis).toBe('instance-hour');
    expect(params.privateModelEndpoint).toBe(`\${self:service}-\${sls:stage}-private`);
  });

  it('states per-token figures that are its instance hour spread over the assumed throughput, never zero', () => {
    // Prepare
    const { prices } = requireModel(params.modelTierPrivate ?? '');
    const perMillion = ((prices.usdPerInstanceHour ?? 0) / (prices.assumedTokensPerHour ?? 1)) * 1_000_000;

    // Assess
    expect(perMillion).toBeGreaterThan(0);
    expect(prices.input).toBeCloseTo(perMillion, 6);
    expect(prices.output).toBeCloseTo(perMillion, 6);
  });
});

describe('the emulator reading a chat request back', () => {
  it('recovers the Converse conversation Plan sent: text, tool calls, tool results with their status', () => {
    // Prepare
    const request: ConverseCommandInput = {
      modelId: 'sagemaker:llama-3-1-8b-instruct',
      system: [{ text: 'You audit bills.' }, { cachePoint: { type: 'default' } }],
      messages: [
        { role: 'user', content: [{ text: 'Goal: audit.' }] },
        {
          role: 'assistant',
          content: [
            { toolUse: { toolUseId: 'a', name: 'audit_billing_logs', input: { tenant_id: 'acme' } } },
            { toolUse: { toolUseId: 'b', name: 'get_contract', input: {} } },
          ],
        },
        {
          role: 'user',
          content: [
            { toolResult: { toolUseId: 'a', content: [{ text: '3 rows' }], status: 'success' } },
            { toolResult: { toolUseId: 'b', content: [{ text: 'timed out' }], status: 'error' } },
          ],
        },
      ],
      inferenceConfig: { maxTokens: 800 },
      requestMetadata: { tenantId: 'acme', sessionId: 's-1', turn: '2' },
    };
    const chat = chatRequestSchema.parse(JSON.parse(JSON.stringify(toChatRequest(request))));
    const metadata = readCustomAttributes(customAttributesOf(request));

    // Act
    const converse = converseRequestOf(chat, metadata);

    // Assess
    expect(converse.system).toEqual([{ text: 'You audit bills.' }]);
    expect(converse.messages).toEqual(request.messages);
    expect(converse.inferenceConfig).toEqual({ maxTokens: 800 });
    expect(metadata).toEqual({ tenantId: 'acme', sessionId: 's-1', turn: '2' });
  });
});
