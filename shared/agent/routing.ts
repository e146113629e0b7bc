/** Model routing: picks the cheapest tier that can do a step, by data class, latency tolerance and complexity (RCI). */

import type { DataClassification } from '../contracts/goal-events';
import { ConfigError } from '../runtime/errors';
import { catalogEntry } from './models';
import type { AgentProfile, Tier } from './profiles';

export interface ModelTiers {
  planner: string;
  executor: string;
  reader: string;
  private: string;
  /** Each tier's next models, in order (its variable's comma-separated list after the first): never another tier's. */
  fallbacks?: Partial<Record<Tier, string[]>>;
}

export interface RouteInput {
  profile: AgentProfile;
  goal: string;
  toolCount: number;
  dataClassification: DataClassification;
  latencyToleranceMs: number;
  /** The turn about to be planned (1 = first model call of the session). */
  turn: number;
}

export interface Route {
  tier: Tier;
  modelId: string;
  rci: number;
  reason: string;
}

const STEP_VERBS =
  /\b(audit|find|identify|list|check|compare|cross-reference|verify|draft|write|create|summari[sz]e|analy[sz]e|review|calculate|estimate|recommend|report|fetch|collect)\w*/gi;
const BRANCH_WORDS = /\b(if|unless|otherwise|when|whether|either|depending)\b/gi;

/**
 * Reasoning Complexity Index, 0-100: dependent steps (action verbs in the goal), tools available and conditional
 * branches. A four-step goal over four tools scores above the default planner threshold of 70.
 */
export const reasoningComplexityIndex = (goal: string, toolCount: number): number => {
  const steps = new Set((goal.match(STEP_VERBS) ?? []).map((w) => w.toLowerCase().slice(0, 5))).size;
  const branches = (goal.match(BRANCH_WORDS) ?? []).length;
  const score = steps * 15 + Math.min(toolCount, 6) * 5 + branches * 10;
  return Math.min(100, score);
};

/**
 * Defence in depth behind the cold-start check of MODEL_TIER_PRIVATE: a restricted route (its model and the
 * fallbacks it may fall to) holds only models the catalog serves from the private SageMaker endpoint.
 */
export const assertPrivateModels = (modelIds: string[]): void => {
  const publicIds = modelIds.filter((id) => catalogEntry(id)?.provider !== 'sagemaker');
  if (publicIds.length > 0) {
    throw new ConfigError(
      `Restricted data may only reach sagemaker-provider models; the private tier holds ${publicIds.join(', ')}`,
    );
  }
};

/**
 * Restricted data never leaves the private tier; a tight latency budget goes straight to the executor tier; the
 * first turn of a complex goal (the plan) goes to the planner tier; later turns (tool selection and synthesis over
 * results already gathered) use the execution tier.
 */
export const chooseRoute = (input: RouteInput, tiers: ModelTiers): Route => {
  const { profile } = input;
  const rci = reasoningComplexityIndex(input.goal, input.toolCount);
  const pick = (tier: Tier, reason: string): Route => ({ tier, modelId: tiers[tier], rci, reason });
  if (input.dataClassification === 'restricted') {
    const route = pick(profile.modelTiers.restricted, 'restricted data stays on the private tier');
    assertPrivateModels([route.modelId, ...(tiers.fallbacks?.[route.tier] ?? [])]);
    return route;
  }
  if (input.latencyToleranceMs < profile.routing.latencyThresholdMs) {
    return pick(
      profile.modelTiers.execution,
      `latency tolerance ${input.latencyToleranceMs} ms < ${profile.routing.latencyThresholdMs} ms`,
    );
  }
  if (input.turn === 1 && rci > profile.routing.rciThreshold) {
    return pick(profile.modelTiers.planning, `planning turn, RCI ${rci} > ${profile.routing.rciThreshold}`);
  }
  return pick(
    profile.modelTiers.execution,
    input.turn === 1 ? `RCI ${rci} <= ${profile.routing.rciThreshold}` : 'execution turn',
  );
};
