/**
 * The four model policies the benchmark prices the same suite under, as plan-function environment over
 * serverless.yml's: every tier on the largest model, every tier on the mid (planner) model, the tiers as routed,
 * and routed with prompt caching on. One stack per policy: the environment is fixed when the sandboxes start.
 */
import { catalog } from '../../shared/agent/models';
import { rateFor } from '../../shared/agent/pricing';
import { intrinsicContext, loadServerlessConfig } from '../stack/serverless-config';
import { functionSpecs } from '../stack/specs';
import { POLICY_NAMES, type PolicyName } from './cost';
import { BenchError } from './errors';

/** The catalog's one active Opus-class entry (its id, limits and prices with source and date are data there). */
const largestModelId = (): string => {
  const opus = Object.entries(catalog.models).filter(
    ([, entry]) => entry.lifecycle.status === 'ACTIVE' && /\bOpus\b/.test(entry.name),
  );
  const [first] = opus;
  if (!first || opus.length > 1)
    throw new BenchError(
      `shared/agent/models/catalog.json must hold exactly one ACTIVE Opus entry, found ${opus.length}`,
    );
  return first[0];
};

/** The largest (Opus-class) model for `largestOnly`. Not a tier of serverless.yml: the bench sets it for every tier. */
export const LARGEST_MODEL_ID = largestModelId();

const TIER_VARIABLES = {
  planner: 'MODEL_TIER_PLANNER',
  executor: 'MODEL_TIER_EXECUTOR',
  reader: 'MODEL_TIER_READER',
  private: 'MODEL_TIER_PRIVATE',
} as const;

/** Plan's switch for cache points (`on` by default): off, the requests carry none and nothing is cached. */
export const PROMPT_CACHING_VARIABLE = 'PROMPT_CACHING';

export interface Policy {
  name: PolicyName;
  /** Model id per tier as the plan function gets them. */
  tiers: Record<string, string>;
  promptCaching: 'on' | 'off';
  /** Variables over serverless.yml's for the plan function. */
  planEnvironment: Record<string, string>;
}

/** Every public tier on one model; the private tier keeps its SageMaker model (Plan refuses a public one there). */
const everyTierOn = (modelId: string, privateModel: string): Record<string, string> => ({
  ...Object.fromEntries(Object.keys(TIER_VARIABLES).map((tier) => [tier, modelId])),
  private: privateModel,
});

const tierEnvironment = (tiers: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(TIER_VARIABLES).map(([tier, variable]) => [variable, tiers[tier] ?? '']));

/** The policies named (all four by default), tiers read from serverless.yml's params as deployed. */
export const policiesFromConfig = async (
  rootDir: string,
  names: readonly PolicyName[] = POLICY_NAMES,
): Promise<Policy[]> => {
  const config = await loadServerlessConfig({ rootDir, stage: 'local' });
  const plan = functionSpecs(config, intrinsicContext(config)).find((fn) => fn.key === 'plan');
  if (plan === undefined) throw new BenchError('serverless.yml has no `plan` function');
  const routed = Object.fromEntries(
    Object.entries(TIER_VARIABLES).map(([tier, variable]) => [tier, plan.environment[variable] ?? '']),
  );
  const mid = routed.planner;
  if (!mid) throw new BenchError('The plan function has no MODEL_TIER_PLANNER in serverless.yml');
  // Fails here, before any stack starts, if the catalog has no price for the largest model.
  rateFor(LARGEST_MODEL_ID, 'planner');
  const all: Record<PolicyName, Omit<Policy, 'planEnvironment'>> = {
    largestOnly: {
      name: 'largestOnly',
      tiers: everyTierOn(LARGEST_MODEL_ID, routed.private ?? ''),
      promptCaching: 'off',
    },
    midOnly: { name: 'midOnly', tiers: everyTierOn(mid, routed.private ?? ''), promptCaching: 'off' },
    routed: { name: 'routed', tiers: routed, promptCaching: 'off' },
    routedCached: { name: 'routedCached', tiers: routed, promptCaching: 'on' },
  };
  return names.map((name) => {
    const policy = all[name];
    return {
      ...policy,
      planEnvironment: { ...tierEnvironment(policy.tiers), [PROMPT_CACHING_VARIABLE]: policy.promptCaching },
    };
  });
};
