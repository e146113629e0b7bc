/** A profile's tool policy: which tools the model may call (allow-list) and which wait for a person's approval. */
import type { AgentProfile } from './profiles';
import { offeredTools, type ToolDefinition, toolsForAgent } from './tools';

/** An approval waits this long unless the profile or the goal says otherwise (one hour). */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 3600;

type ToolPolicyProfile = Pick<AgentProfile, 'name' | 'actionGroups' | 'tools'>;

/** The tools offered to the model: the agent's tools (fallback-only ones aside) that its allow-list names. */
export const allowedTools = (profile: ToolPolicyProfile): ToolDefinition[] => {
  const allow = new Set(profile.tools.allow);
  return offeredTools(toolsForAgent(profile.actionGroups)).filter((tool) => allow.has(tool.name));
};

export const isAllowed = (profile: ToolPolicyProfile, name: string): boolean =>
  profile.tools.allow.includes(name);

export const requiresApproval = (profile: ToolPolicyProfile, name: string): boolean =>
  profile.tools.requiresApproval.includes(name);

/** How long an approval of this session waits: the profile's timeout, shortened by the goal's when it set one. */
export const approvalTimeoutSeconds = (
  profile: ToolPolicyProfile,
  limits: { approvalTimeoutSeconds?: number | undefined },
): number => {
  const own = profile.tools.approvalTimeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
  return limits.approvalTimeoutSeconds === undefined ? own : Math.min(own, limits.approvalTimeoutSeconds);
};

/**
 * Every name the policy lists must be a tool of the agent's action groups, and a tool that waits for approval must
 * be allowed: a typo would otherwise silently offer nothing or skip an approval.
 */
export const toolPolicyProblems = (profile: ToolPolicyProfile): string[] => {
  const known = new Set(toolsForAgent(profile.actionGroups).map((tool) => tool.name));
  const problems = profile.tools.allow
    .filter((name) => !known.has(name))
    .map((name) => `tools.allow names "${name}", which no action group of the agent defines`);
  for (const name of profile.tools.requiresApproval) {
    if (!profile.tools.allow.includes(name))
      problems.push(`tools.requiresApproval names "${name}", which tools.allow does not allow`);
  }
  return problems;
};
