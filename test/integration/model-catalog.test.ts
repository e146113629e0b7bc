/**
 * The local Bedrock emulator enforces the model catalog through the REAL BedrockRuntimeClient: the ids serverless.yml
 * defaulted to before the catalog are refused with Bedrock's errors, as a deployed stage would refuse them; each
 * catalog rule (unknown, end-of-life and on-demand-unsupported ids, misplaced or too many cache points, maxTokens
 * over the model's limit, a prompt over its context window) has a case; today's catalog ids pass, ARNs included.
 */
import { ConverseCommand, type ConverseCommandInput, type Tool } from '@aws-sdk/client-bedrock-runtime';
import {
  EOL_MESSAGE,
  INPUT_TOO_LONG_MESSAGE,
  INVALID_MODEL_MESSAGE,
  maxTokensMessage,
  misplacedCachePointMessage,
  onDemandUnsupportedMessage,
  tooManyCheckpointsMessage,
} from '../../local/bedrock/catalog-rules';
import { LARGEST_MODEL_ID } from '../../local/bench/policies';
import { requireModel } from '../../shared/agent/models';
import { LOCAL_CREDENTIALS, rejectionOf, useBedrockEmulator } from '../helpers/bedrock-emulator';
import { PRE_CATALOG_IDS, TIERS } from '../helpers/fixtures';

const _credentials = LOCAL_CREDENTIALS;
const CACHE_POINT = { cachePoint: { type: 'default' as const } };
const tool: Tool = {
  toolSpec: {
    name: 'audit_billing_logs',
    description: 'Audits the billing logs of a tenant.',
    inputSchema: { json: { type: 'object', properties: { tenant_id: { type: 'string' } } } },
  },
};

const bedrock = useBedrockEmulator(1);

const input = (modelId: string, overrides: Partial<ConverseCommandInput> = {}): ConverseCommandInput => ({
  modelId,
  system: [{ text: 'You are the FinOps agent.' }],
  messages: [{ role: 'user', content: [{ text: 'Tenant: acme\nAudit billing.' }] }],
  toolConfig: { tools: [tool] },
  inferenceConfig: { maxTokens: 1024 },
  requestMetadata: { tenantId: 'acme', sessionId: `catalog-${modelId.length}` },
  ...overrides,
});

const refusal = async (request: ConverseCommandInput) => {
  const error = await rejectionOf(bedrock.client.send(new ConverseCommand(request)));
  return { name: error.name, status: error.$metadata?.httpStatusCode, message: error.message };
};

describe('the pre-catalog model ids are refused as a deployed stage would refuse them', () => {
  it('refuses Claude 3.5 Sonnet v2 (the old planner): end of life, ResourceNotFoundException', async () => {
    expect(await refusal(input(PRE_CATALOG_IDS.planner))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
      message: EOL_MESSAGE,
    });
  });

  it('refuses Claude 3.5 Haiku (the old executor): end of life, ResourceNotFoundException', async () => {
    expect(await refusal(input(PRE_CATALOG_IDS.executor))).toEqual({
      name: 'ResourceNotFoundException',
      status: 404,
      message: EOL_MESSAGE,
    });
  });

  it('refuses sovereign-private (the old private tier), bare or as an imported-model ARN: no such model', async () => {
    const arn = `arn:aws:bedrock:us-east-1:123456789012:imported-model/${PRE_CATALOG_IDS.private}`;
    for (const modelId of [PRE_CATALOG_IDS.private, arn]) {
      expect(await refusal(input(modelId))).toEqual({
        name: 'ValidationException',
        status: 400,
        message: INVALID_MODEL_MESSAGE,
      });
    }
  });
});

describe('each catalog rule', () => {
  it('refuses an id the catalog does not know', async () => {
    expect(await refusal(input('anthropic.claude-unknown-v9:0'))).toMatchObject({
      name: 'ValidationException',
      message: INVALID_MODEL_MESSAGE,
    });
  });

  it('refuses a bare id whose on-demand calls need an inference profile', async () => {
    const bare = 'anthropic.claude-haiku-4-5-20251001-v1:0';
    expect(requireModel(bare).invocation).toBe('inference-profile-required');
    expect(await refusal(input(bare))).toEqual({
      name: 'ValidationException',
      status: 400,
      message: onDemandUnsupportedMessage(bare),
    });
    expect(onDemandUnsupportedMessage(bare)).toContain("with on-demand throughput isn't supported");
  });

  it('refuses a cache point in toolConfig.tools of a Nova model', async () => {
    const request = input(TIERS.reader, { toolConfig: { tools: [tool, CACHE_POINT] } });
    expect(await refusal(request)).toEqual({
      name: 'ValidationException',
      status: 400,
      message: misplacedCachePointMessage('#/toolConfig/tools/1'),
    });
  });

  it('accepts a cache point in toolConfig.tools of a Claude model, whose entry lists tools', async () => {
    const accepted = input(TIERS.executor, { toolConfig: { tools: [tool, CACHE_POINT] } });
    await expect(bedrock.client.send(new ConverseCommand(accepted))).resolves.toBeDefined();
  });

  it('refuses more cache points than the model allows', async () => {
    const max = requireModel(TIERS.planner).promptCaching?.maxCheckpoints ?? 0;
    const request = input(TIERS.planner, {
      system: [{ text: 'You are the FinOps agent.' }, CACHE_POINT],
      toolConfig: { tools: [tool, CACHE_POINT] },
      messages: [
        {
          role: 'user',
          content: [{ text: 'Tenant: acme' }, CACHE_POINT, { text: 'Audit.' }, CACHE_POINT, CACHE_POINT],
        },
      ],
    });
    expect(await refusal(request)).toEqual({
      name: 'ValidationException',
      status: 400,
      message: tooManyCheckpointsMessage(max, 5),
    });
  });

  it("refuses maxTokens above the model's output limit", async () => {
    const limit = requireModel(TIERS.executor).maxOutputTokens;
    const request = input(TIERS.executor, { inferenceConfig: { maxTokens: limit + 1 } });
    expect(await refusal(request)).toEqual({
      name: 'ValidationException',
      status: 400,
      message: maxTokensMessage(limit),
    });
    await expect(
      bedrock.client.send(
        new ConverseCommand(input(TIERS.executor, { inferenceConfig: { maxTokens: limit } })),
      ),
    ).resolves.toBeDefined();
  });

  it("refuses a prompt over the model's context window", async () => {
    const window = requireModel(TIERS.executor).contextWindow;
    // "audit " is one cl100k token: a window and a bit of them.
    const text = 'audit '.repeat(window + 1000);
    const request = input(TIERS.executor, { messages: [{ role: 'user', content: [{ text }] }] });
    expect(await refusal(request)).toEqual({
      name: 'ValidationException',
      status: 400,
      message: INPUT_TOO_LONG_MESSAGE,
    });
  });
});

describe("today's catalog ids", () => {
  it('answer on every tier and the largest model, by id and by inference-profile ARN', async () => {
    const ids = [TIERS.planner, TIERS.executor, TIERS.reader, LARGEST_MODEL_ID];
    for (const modelId of ids) {
      const out = await bedrock.client.send(new ConverseCommand(input(modelId)));
      expect({ modelId, ok: out.output?.message?.role }).toEqual({ modelId, ok: 'assistant' });
    }
    const arn = `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${TIERS.planner}`;
    const out = await bedrock.client.send(new ConverseCommand(input(arn)));
    expect(out.output?.message?.role).toBe('assistant');
  });
});
