/** The plan role's bedrock:InvokeModel resources, generated from the catalog for a stage's tier ids (iam.js). */
import { TIERS } from '../helpers/fixtures';

type Resource = { 'Fn::Sub': string };
const { modelResources, planModelResources } = require('../../shared/agent/models/iam.js') as {
  modelResources: (tierValues: string[]) => Resource[];
  planModelResources: (osls: { resolveVariable: (name: string) => Promise<string> }) => Promise<Resource[]>;
};

const arns = (tierValues: string[]): string[] => modelResources(tierValues).map((r) => r['Fn::Sub']);

describe('plan model resources', () => {
  it('allows a global profile and its foundation model in any region', () => {
    // Act
    const resources = arns(['global.anthropic.claude-opus-4-6-v1']);

    // Assess
    expect(resources).toEqual([
      `arn:\${AWS::Partition}:bedrock:\${AWS::Region}:\${AWS::AccountId}:inference-profile/global.anthropic.claude-opus-4-6-v1`,
      `arn:\${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-opus-4-6-v1`,
    ]);
  });

  it('covers every model of a fallback list, each ARN once, and nothing for the SageMaker tier', () => {
    // Act
    const resources = arns([`${TIERS.planner},${TIERS.executor}`, TIERS.executor, TIERS.private]);

    // Assess: two US profiles with four destination regions each
    expect(resources).toHaveLength(10);
    expect(new Set(resources).size).toBe(10);
    expect(resources.some((arn) => arn.includes('sagemaker'))).toBe(false);
    expect(resources.some((arn) => arn.endsWith('/*'))).toBe(false);
  });

  it('refuses an id the catalog does not know, and ones Bedrock refuses on demand', () => {
    // Act + Assess
    expect(() => arns(['sovereign-private'])).toThrow(/sovereign-private.*catalog\.json/);
    expect(() => arns(['anthropic.claude-3-5-sonnet-20241022-v2:0'])).toThrow(/cannot be invoked on demand/);
    expect(() => arns(['anthropic.claude-haiku-4-5-20251001-v1:0'])).toThrow(/cannot be invoked on demand/);
  });

  it("reads the stage's tier params through osls's resolver", async () => {
    // Prepare
    const params: Record<string, string> = {
      'param:modelTierPlanner': TIERS.planner,
      'param:modelTierExecutor': TIERS.executor,
      'param:modelTierReader': TIERS.reader,
      'param:modelTierPrivate': TIERS.private,
    };
    const asked: string[] = [];

    // Act
    const resources = await planModelResources({
      resolveVariable: async (name) => {
        asked.push(name);
        return params[name] ?? '';
      },
    });

    // Assess
    expect(asked.sort()).toEqual(Object.keys(params).sort());
    expect(resources).toHaveLength(14);
  });
});
