/** Model routing: picks the cheapest tier that can do a step, by data class, latency, step kind, RCI and budget used. */

import type { DataClassification } from '../contracts/goal-events';
import { ConfigError } from '../runtime/errors';
import { catalogEntry } from './models';
import type { AgentProfile, Tier } from './profiles';
import type { StepDecision, StepKind } from './step-kind';

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
  /** The kind of step this model call does, and why (`detectStepKind`). */
  step: StepDecision;
  /** Fraction of the session's budget used so far (`budgetUsedFraction`); 0 when absent. */
  budgetUsed?: number;
}

export interface Route {
  tier: Tier;
  modelId: string;
  rci: number;
  reason: string;
  /** The kind of step the call does (always set by chooseRoute). */
  stepKind?: StepKind;
  /** Near the cap: one tier cheaper than the rules say, and the request's older tool results compacted. */
  degraded?: boolean;
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

/** Tiers from dearest to cheapest: degrading near the cap moves a step one place right. Private is never moved. */
export const CHEAPER_TIER: Readonly<Partial<Record<Tier, Tier>>> = {
  planner: 'executor',
  executor: 'reader',
};

const percent = (fraction: number): number => Math.floor(fraction * 100);

/** The tier and rule before degrading: restricted, then latency, then the step kind (the plan step by its RCI). */
const baseRoute = (input: RouteInput, rci: number): { tier: Tier; reason: string } => {
  const { profile, step } = input;
  const { routing } = profile;
  if (input.dataClassification === 'restricted') {
    return { tier: profile.modelTiers.restricted, reason: 'restricted data stays on the private tier' };
  }
  if (input.latencyToleranceMs < routing.latencyThresholdMs) {
    return {
      tier: profile.modelTiers.execution,
      reason: `latency tolerance ${input.latencyToleranceMs} ms < ${routing.latencyThresholdMs} ms: ${profile.modelTiers.execution}`,
    };
  }
  const stepRule = `step ${step.kind} (${step.reason})`;
  if (step.kind === 'plan') {
    return rci > routing.rciThreshold
      ? {
          tier: routing.steps.plan,
          reason: `${stepRule}, RCI ${rci} > ${routing.rciThreshold}: ${routing.steps.plan}`,
        }
      : {
          tier: profile.modelTiers.execution,
          reason: `${stepRule}, RCI ${rci} <= ${routing.rciThreshold}: ${profile.modelTiers.execution}`,
        };
  }
  const tier = routing.steps[step.kind];
  return { tier, reason: `${stepRule}: ${tier}` };
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
 * The route of one model call, rules in order of precedence (the first that applies decides the tier):
 * 1. restricted data -> the private tier, always (degrading never moves it off);
 * 2. latency tolerance under the profile's `latencyThresholdMs` -> the execution tier;
 * 3. the plan step -> the profile's plan tier when the goal's RCI is above `rciThreshold`, else the execution tier;
 * 4. any other step kind -> its tier in the profile's `routing.steps`.
 * Then, at or above `degrade.atBudgetFraction` of the session's budget used, the step goes one tier cheaper
 * (planner -> executor -> reader) and Plan compacts the request's history; the reason says so.
 */
export const chooseRoute = (input: RouteInput, tiers: ModelTiers): Route => {
  const rci = reasoningComplexityIndex(input.goal, input.toolCount);
  const base = baseRoute(input, rci);
  if (input.dataClassification === 'restricted') {
    assertPrivateModels([tiers[base.tier], ...(tiers.fallbacks?.[base.tier] ?? [])]);
  }
  const { degrade } = input.profile.routing;
  const degraded = (input.budgetUsed ?? 0) >= degrade.atBudgetFraction;
  if (!degraded) return { ...base, modelId: tiers[base.tier], rci, stepKind: input.step.kind, degraded };
  // CHEAPER_TIER has no entry for the private tier: restricted data keeps it.
  const cheaper = CHEAPER_TIER[base.tier];
  const move = cheaper
    ? `${cheaper} instead of ${base.tier}`
    : base.tier === 'private'
      ? 'private tier kept'
      : `${base.tier} is the cheapest tier`;
  const tier = cheaper ?? base.tier;
  const reason = `${base.reason}; budget ${percent(input.budgetUsed ?? 0)} % used: ${move}; history compacted`;
  return { tier, modelId: tiers[tier], rci, reason, stepKind: input.step.kind, degraded };
};
