/**
 * The plan role's bedrock:InvokeModel resources, generated from the model catalog for the stage's tier ids: an osls
 * variable resolver (serverless.yml: ${file(./shared/agent/models/iam.js):planModelResources}).
 *
 * - An inference profile: its ARN in the stage's region, and its foundation model's ARN in each destination region,
 *   which Bedrock routes calls to ("*" for a global profile, which may route to any commercial region: Bedrock user
 *   guide, "Supported Regions and models for inference profiles" and "Global cross-Region inference").
 * - An on-demand model: its foundation-model ARN in the stage's region.
 * - A SageMaker entry: nothing here (its endpoint's grant is sagemaker:InvokeEndpoint).
 * An id the catalog does not know, or one Bedrock refuses (end of life, on demand without a profile), fails the
 * packaging, before anything is deployed.
 */
const catalog = require('./catalog.json');

const CATALOG_FILE = 'shared/agent/models/catalog.json';
// Fn::Sub's pseudo parameter for the stage's region, not a template placeholder.
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub text
const STAGE_REGION = '${AWS::Region}';
const TIER_PARAMS = ['modelTierPlanner', 'modelTierExecutor', 'modelTierReader', 'modelTierPrivate'];

const foundationModelArn = (region, foundationModelId) =>
  `arn:\${AWS::Partition}:bedrock:${region}::foundation-model/${foundationModelId}`;

/** The ARNs (Fn::Sub text) one configured model id needs. */
const arnsFor = (modelId) => {
  const entry = catalog.models[modelId];
  if (!entry) throw new Error(`Model "${modelId}" is not in ${CATALOG_FILE}: add its entry there first`);
  if (entry.provider !== 'bedrock') return [];
  if (entry.lifecycle.status === 'EOL' || entry.invocation === 'inference-profile-required') {
    throw new Error(
      `Model "${modelId}" cannot be invoked on demand (${entry.lifecycle.status}, ${entry.invocation}): see ${CATALOG_FILE}`,
    );
  }
  if (entry.invocation === 'on-demand') return [foundationModelArn(STAGE_REGION, entry.foundationModelId)];
  return [
    `arn:\${AWS::Partition}:bedrock:\${AWS::Region}:\${AWS::AccountId}:inference-profile/${modelId}`,
    ...entry.destinationRegions.map((region) => foundationModelArn(region, entry.foundationModelId)),
  ];
};

/** The model ids of tier values: each one id or an ordered comma-separated list (the tier's fallbacks). */
const idsOf = (tierValues) =>
  tierValues.flatMap((value) =>
    String(value)
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== ''),
  );

/** Fn::Sub resources, each once, for the given tier values. */
const modelResources = (tierValues) => {
  const arns = [...new Set(idsOf(tierValues).flatMap(arnsFor))];
  if (arns.length === 0) throw new Error(`No Bedrock model among the tiers ${tierValues.join(', ')}`);
  return arns.map((arn) => ({ 'Fn::Sub': arn }));
};

/** osls calls this with its resolver: the stage's resolved tier params, then their ARNs. */
const planModelResources = async ({ resolveVariable }) =>
  modelResources(await Promise.all(TIER_PARAMS.map((param) => resolveVariable(`param:${param}`))));

module.exports = { modelResources, planModelResources };
