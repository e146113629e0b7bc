/** Agent profiles: data files validated when loaded, looked up by name. */
import * as z from 'zod';
import { dataClassificationSchema } from '../../contracts/goal-events';
import { ProfileError } from '../../runtime/errors';
import { zodIssues } from '../../runtime/zod-issues';
import { stepKindSchema } from '../step-kind';
import { toolPolicyProblems } from '../tool-policy';
import billingAuditor from './billing-auditor.json';
import billingAuditorApproval from './billing-auditor-approval.json';

export const tierSchema = z.enum(['planner', 'executor', 'reader', 'private']);
export type Tier = z.infer<typeof tierSchema>;

export const agentProfileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
    description: z.string().min(1),
    instructions: z.string().min(20),
    actionGroups: z.array(z.string().min(1)).min(1),
    /**
     * Excessive agency (OWASP LLM06): the operations (OpenAPI operationIds) the model may call, and those of them
     * that wait for a person's approval (a Step Functions task token) for at most approvalTimeoutSeconds.
     */
    tools: z
      .object({
        allow: z.array(z.string().min(1)).min(1),
        requiresApproval: z.array(z.string().min(1)).default([]),
        /** Step Functions' TimeoutSeconds is at most 99999999; a week is the longest an approval should wait. */
        approvalTimeoutSeconds: z.number().int().min(1).max(604_800).optional(),
      })
      .strict(),
    modelTiers: z
      .object({ planning: tierSchema, execution: tierSchema, restricted: z.literal('private') })
      .strict(),
    routing: z
      .object({
        rciThreshold: z.number().min(0).max(100),
        latencyThresholdMs: z.number().int().positive(),
        /** The tier each step kind goes to (shared/agent/step-kind.ts says how a step's kind is detected). */
        steps: z.record(stepKindSchema, tierSchema.exclude(['private'])),
        /** A turn whose previous turn's tool results add up to more characters than this is a summarize step. */
        summarizeAboveChars: z.number().int().positive(),
        /** Near the cap: at this fraction of the token or USD budget used, one tier cheaper and compacted history. */
        degrade: z
          .object({
            atBudgetFraction: z.number().gt(0).max(1),
            /** Characters an older tool result keeps when the history is compacted. */
            keepResultChars: z.number().int().min(0),
          })
          .strict(),
      })
      .strict(),
    limits: z
      .object({
        maxTurns: z.number().int().min(1).max(50),
        tokenBudget: z.number().int().positive(),
        usdBudget: z.number().positive(),
        maxToolCallsPerTurn: z.number().int().min(1).max(40),
        maxSchemaRetries: z.number().int().min(0).max(10),
        loopThreshold: z.number().int().min(2).max(50),
      })
      .strict(),
    defaults: z
      .object({
        dataClassification: dataClassificationSchema,
        latencyToleranceMs: z.number().int().positive(),
      })
      .strict(),
    inference: z
      .object({ maxTokens: z.number().int().min(1).max(64_000), temperature: z.number().min(0).max(1) })
      .strict(),
  })
  .strict();
export type AgentProfile = z.infer<typeof agentProfileSchema>;

export const parseProfile = (data: unknown, source: string): AgentProfile => {
  const parsed = agentProfileSchema.safeParse(data);
  if (!parsed.success) {
    throw new ProfileError(`Agent profile ${source} is invalid: ${zodIssues(parsed.error).join('; ')}`);
  }
  const problems = toolPolicyProblems(parsed.data);
  if (problems.length > 0)
    throw new ProfileError(`Agent profile ${source} is invalid: ${problems.join('; ')}`);
  return parsed.data;
};

const profiles = new Map<string, AgentProfile>(
  [
    parseProfile(billingAuditor, 'billing-auditor.json'),
    parseProfile(billingAuditorApproval, 'billing-auditor-approval.json'),
  ].map((profile) => [profile.name, profile]),
);

export const agentNames = (): string[] => [...profiles.keys()];

export const getProfile = (name: string): AgentProfile => {
  const profile = profiles.get(name);
  if (!profile) {
    throw new ProfileError(`Unknown agent "${name}"; known agents: ${agentNames().join(', ')}`);
  }
  return profile;
};

export const hasProfile = (name: string): boolean => profiles.has(name);
