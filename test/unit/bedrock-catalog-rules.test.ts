/** The catalog rules of the Bedrock emulator on a parsed request: cache-point fields and counts, ARN keys. */

import {
  checkAgainstCatalog,
  misplacedCachePointMessage,
  requireInvocableModel,
} from '../../local/bedrock/catalog-rules';
import type { ConverseRequestBody } from '../../local/bedrock/converse-request';
import { ConverseValidationError } from '../../local/bedrock/errors';
import { catalogKeyOf } from '../../local/bedrock/model-id';
import { requireModel } from '../../shared/agent/models';
import { TIERS } from '../helpers/fixtures';

const request = (system: ConverseRequestBody['system']): ConverseRequestBody => ({
  system,
  messages: [{ role: 'user', content: [{ text: 'goal' }] }],
});

describe('catalog rules', () => {
  it('refuses a cache point anywhere for a model whose entry has no prompt caching', () => {
    // Prepare: an entry as the catalog holds it, without prompt caching
    const entry = { ...requireModel(TIERS.executor), promptCaching: null };

    // Act
    const act = () =>
      checkAgainstCatalog(entry, request([{ text: 'system' }, { cachePoint: { type: 'default' } }]));

    // Assess
    expect(act).toThrow(ConverseValidationError);
    expect(act).toThrow(misplacedCachePointMessage('#/system/1'));
  });

  it('accepts the same request for a model that caches system prompts', () => {
    // Act + Assess
    expect(() =>
      checkAgainstCatalog(
        requireModel(TIERS.executor),
        request([{ text: 'system' }, { cachePoint: { type: 'default' } }]),
      ),
    ).not.toThrow();
  });

  it('resolves ARNs to the catalog entry of the id they end with', () => {
    // Act + Assess
    expect(catalogKeyOf(`arn:aws:bedrock:us-east-1:123456789012:inference-profile/${TIERS.planner}`)).toBe(
      TIERS.planner,
    );
    expect(catalogKeyOf('arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0')).toBe(
      'amazon.nova-lite-v1:0',
    );
    expect(catalogKeyOf(TIERS.reader)).toBe(TIERS.reader);
    expect(
      requireInvocableModel(`arn:aws:bedrock:us-west-2:123456789012:inference-profile/${TIERS.reader}`),
    ).toBe(requireModel(TIERS.reader));
  });

  it('refuses the private SageMaker entry at Bedrock: it is no Bedrock model', () => {
    // Act + Assess
    expect(() => requireInvocableModel(TIERS.private)).toThrow('The provided model identifier is invalid.');
  });
});
