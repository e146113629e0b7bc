/** The model catalog's data: every entry sourced and dated, every deployed tier an active tool-using model. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { catalog, parseCatalog, requireModel } from '../../shared/agent/models';
import { CatalogError } from '../../shared/runtime/errors';

const TIER_PARAMS = ['modelTierPlanner', 'modelTierExecutor', 'modelTierReader', 'modelTierPrivate'] as const;

/** Every model id serverless.yml's params configure, fallback lists included (params.<stage>.<tier> = "a,b"). */
const configuredIds = (): { stage: string; param: string; modelId: string }[] => {
  const config = parse(readFileSync(join(__dirname, '../../serverless.yml'), 'utf8'), {
    logLevel: 'silent',
  }) as { params: Record<string, Record<string, unknown>> };
  return Object.entries(config.params).flatMap(([stage, params]) =>
    TIER_PARAMS.flatMap((param) =>
      typeof params[param] === 'string'
        ? String(params[param])
            .split(',')
            .map((modelId) => ({ stage, param, modelId: modelId.trim() }))
        : [],
    ),
  );
};

describe('model catalog', () => {
  it('says where every entry comes from and when it was recorded', () => {
    // Act + Assess
    for (const [modelId, entry] of Object.entries(catalog.models)) {
      expect({ modelId, source: entry.source }).toEqual({
        modelId,
        source: expect.stringMatching(/https:\/\//),
      });
      expect({ modelId, recordedAt: entry.recordedAt }).toEqual({
        modelId,
        recordedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      });
    }
  });

  it('is no longer a draft', () => {
    // Assess
    expect(catalog.note).toBeUndefined();
  });

  it('resolves every tier serverless.yml configures to an ACTIVE, tool-using, directly invocable entry', () => {
    // Prepare
    const ids = configuredIds();
    expect(ids.length).toBeGreaterThanOrEqual(4);

    // Act + Assess
    for (const { stage, param, modelId } of ids) {
      const entry = requireModel(modelId);
      expect({ stage, param, modelId, status: entry.lifecycle.status, toolUse: entry.toolUse }).toEqual({
        stage,
        param,
        modelId,
        status: 'ACTIVE',
        toolUse: true,
      });
      expect({ modelId, invocation: entry.invocation }).not.toEqual({
        modelId,
        invocation: 'inference-profile-required',
      });
    }
  });

  it('prices consistently: cache reads below input, outputs at or above input', () => {
    // Act + Assess
    for (const [modelId, { prices }] of Object.entries(catalog.models)) {
      const consistent =
        (prices.cacheRead < prices.input || (prices.cacheRead === 0 && prices.basis === 'instance-hour')) &&
        prices.output >= prices.input;
      expect({ modelId, consistent }).toEqual({ modelId, consistent: true });
    }
  });

  it('gives every inference profile its foundation model and destination regions', () => {
    // Act + Assess
    for (const [modelId, entry] of Object.entries(catalog.models)) {
      if (entry.provider !== 'bedrock') continue;
      expect({ modelId, fm: typeof entry.foundationModelId }).toEqual({ modelId, fm: 'string' });
      if (entry.invocation === 'inference-profile')
        expect({ modelId, regions: (entry.destinationRegions ?? []).length > 0 }).toEqual({
          modelId,
          regions: true,
        });
    }
  });

  it('keeps Nova cache points out of toolConfig.tools', () => {
    // Act + Assess
    for (const [modelId, entry] of Object.entries(catalog.models)) {
      if (/amazon\.nova/.test(modelId)) expect(entry.promptCaching?.fields ?? []).not.toContain('tools');
    }
  });

  it('keeps the retired and refused pre-catalog ids so the emulator can refuse them', () => {
    // Act + Assess
    expect(requireModel('anthropic.claude-3-5-sonnet-20241022-v2:0').lifecycle.status).toBe('EOL');
    expect(requireModel('anthropic.claude-3-5-haiku-20241022-v1:0').lifecycle.status).toBe('EOL');
    expect(requireModel('anthropic.claude-haiku-4-5-20251001-v1:0').invocation).toBe(
      'inference-profile-required',
    );
  });

  it('refuses an id it does not know, naming the catalog file', () => {
    // Act
    const act = () => requireModel('sovereign-private');

    // Assess
    expect(act).toThrow(CatalogError);
    expect(act).toThrow(/sovereign-private.*catalog\.json/);
  });

  it('rejects an entry without a source', () => {
    // Prepare
    const [id, entry] = Object.entries(catalog.models)[0] ?? [];
    const { source: _dropped, ...unsourced } = entry ?? ({} as Record<string, unknown>);

    // Act
    const act = () => parseCatalog({ ...catalog, models: { [String(id)]: unsourced } });

    // Assess
    expect(act).toThrow(/source/);
  });
});
