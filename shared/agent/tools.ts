/**
 * Action-group registry: each group's OpenAPI v3 document is the one source of its tools. Plan turns the
 * operations into Converse tool specs; RunTool validates the model's parameters against the same schemas
 * (`./tool-input`, kept apart so Plan's bundle carries no validator).
 */
import {
  type ActionGroupOperation,
  readActionGroupOperations,
  type ToolFallback,
} from '../contracts/action-group';
import { billingOperations } from '../contracts/tool-schemas';
import { requiredEnv } from '../runtime/env';
import { ProfileError } from '../runtime/errors';
import type { BreakerSettingsInput } from './breaker';

export interface ToolDefinition {
  /** Converse tool name, equal to the OpenAPI operationId and to the action-group `function`. */
  name: string;
  actionGroup: string;
  description: string;
  inputSchema: Record<string, unknown>;
  /** The OpenAPI operation's `x-side-effect`: at most once per session and normalised arguments. */
  sideEffect: boolean;
  /** Circuit-breaker settings from the operation's `x-circuit-breaker` (defaults otherwise). */
  breaker?: BreakerSettingsInput;
  /** From the operation's `x-fallback`: what answers when the breaker is open or the tool fails past its retries. */
  fallback?: ToolFallback;
  /** From `x-fallback-only`: never offered to the model, run only as another tool's fallback. */
  fallbackOnly?: boolean;
}

export interface ActionGroup {
  name: string;
  /** Environment variable that holds the deployed Lambda function name (set in serverless.yml). */
  functionEnv: string;
  tools: ToolDefinition[];
}

const toolsOf = (actionGroup: string, operations: readonly ActionGroupOperation[]): ToolDefinition[] =>
  operations.map((op) => ({
    name: op.name,
    actionGroup,
    description: op.description,
    inputSchema: op.inputSchema,
    sideEffect: op.sideEffect,
    ...(op.breaker ? { breaker: op.breaker } : {}),
    ...(op.fallback ? { fallback: op.fallback } : {}),
    ...(op.fallbackOnly ? { fallbackOnly: true } : {}),
  }));

export const toolsFromOpenApi = (actionGroup: string, document: unknown): ToolDefinition[] =>
  toolsOf(actionGroup, readActionGroupOperations(document));

const groups = new Map<string, ActionGroup>([
  [
    'billing',
    {
      name: 'billing',
      functionEnv: 'BILLING_ACTION_GROUP_FUNCTION',
      tools: toolsOf('billing', billingOperations),
    },
  ],
]);

export const getActionGroup = (name: string): ActionGroup => {
  const group = groups.get(name);
  if (!group)
    throw new ProfileError(`Unknown action group "${name}"; known: ${actionGroupNames().join(', ')}`);
  return group;
};

export const actionGroupNames = (): string[] => [...groups.keys()];

/** Deployed Lambda function name of each action group, by group name. */
export type ActionGroupFunctions = Readonly<Record<string, string>>;

/**
 * Every action group's function name, read once at RunTool's cold start: a missing variable fails the init
 * with its name, not a tool call after the model was already paid for the turn.
 */
export const actionGroupFunctions = (env: NodeJS.ProcessEnv = process.env): ActionGroupFunctions =>
  Object.fromEntries([...groups.values()].map((group) => [group.name, requiredEnv(group.functionEnv, env)]));

/** The tools an agent may use: the union of its action groups, in declaration order; duplicate names are an error. */
export const toolsForAgent = (actionGroups: string[]): ToolDefinition[] => {
  const tools = actionGroups.flatMap((name) => getActionGroup(name).tools);
  const seen = new Set<string>();
  for (const tool of tools) {
    if (seen.has(tool.name))
      throw new ProfileError(`Tool name "${tool.name}" is defined by two action groups`);
    seen.add(tool.name);
  }
  return tools;
};

/** The tools Plan offers the model: every tool of the agent but those that only answer as a fallback. */
export const offeredTools = (tools: readonly ToolDefinition[]): ToolDefinition[] =>
  tools.filter((tool) => tool.fallbackOnly !== true);
