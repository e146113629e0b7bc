/** Checks a `--tool-faults` file: its shape, and that every tool it names is a tool of some action group. */
import { actionGroupNames, getActionGroup } from '../../shared/agent/tools';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { type ToolFaults, toolFaultsSchema } from '../lambda/tool-faults';

/** Every tool name the action groups' OpenAPI schemas define, in their order. */
export const knownToolNames = (): string[] =>
  actionGroupNames().flatMap((group) => getActionGroup(group).tools.map((tool) => tool.name));

/** The faults, or one line saying what is wrong: a misspelled tool would otherwise match no call and do nothing. */
export const checkToolFaults = (input: unknown): { faults: ToolFaults } | string => {
  const parsed = toolFaultsSchema.safeParse(input);
  if (!parsed.success) return zodIssues(parsed.error).join('; ');
  const known = knownToolNames();
  const unknown = Object.keys(parsed.data).filter((tool) => !known.includes(tool));
  if (unknown.length > 0) {
    return `no tool named ${unknown.map((t) => `"${t}"`).join(', ')}; known tools: ${known.join(', ')}`;
  }
  return { faults: parsed.data };
};
