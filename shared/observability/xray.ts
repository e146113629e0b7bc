/**
 * X-Ray subsegments for the agent's own calls: one per model call (`## model <modelId>`) and one per tool call
 * (`## tool <function>`), annotated with the session, tenant and turn so a trace is found by them (annotations are
 * what X-Ray indexes for filter expressions; metadata is not). Through the Powertools Tracer: off, they cost nothing.
 */
import type { ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { tracer } from '../runtime/powertools';

/** Annotation values X-Ray accepts (string, number, boolean); keys are letters, digits and underscores. */
export type Annotations = Record<string, string | number | boolean>;

/** What a traced call tells its subsegment once it has answered: an error flag (a failed outcome) and more annotations. */
export interface CallVerdict {
  error?: boolean;
  annotations?: Annotations;
  metadata?: Record<string, unknown>;
}

/**
 * Runs `run` inside a new subsegment of the current (sub)segment and restores the parent after: annotations first,
 * then the verdict of the answer, or the thrown error recorded on the subsegment (fault, with its stack).
 */
export const withSubsegment = async <T>(
  name: string,
  annotations: Annotations,
  run: () => Promise<T>,
  verdictOf?: (result: T) => CallVerdict,
): Promise<T> => {
  if (!tracer.isTracingEnabled()) return run();
  const parent = tracer.getSegment();
  if (parent === undefined) return run();
  const subsegment = parent.addNewSubsegment(name);
  tracer.setSegment(subsegment);
  for (const [key, value] of Object.entries(annotations)) subsegment.addAnnotation(key, value);
  try {
    const result = await run();
    const verdict = verdictOf?.(result) ?? {};
    if (verdict.error) subsegment.addErrorFlag();
    for (const [key, value] of Object.entries(verdict.annotations ?? {}))
      subsegment.addAnnotation(key, value);
    for (const [key, value] of Object.entries(verdict.metadata ?? {})) subsegment.addMetadata(key, value);
    return result;
  } catch (error) {
    subsegment.addError(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
};

/** The session of a Converse request: Plan puts tenantId, sessionId and turn in its requestMetadata. */
const sessionOf = (request: ConverseCommandInput): Annotations => {
  const meta = request.requestMetadata ?? {};
  return {
    sessionId: meta.sessionId ?? '',
    tenantId: meta.tenantId ?? '',
    turn: Number(meta.turn ?? 0),
  };
};

/** What a model answer reports on its subsegment: the stop reason and token counts, as metadata. */
interface ModelAnswerShape {
  stopReason?: string;
  usage?: { input: number; output: number; cacheRead: number; cacheWrite: number };
}

/** One model call (a fallback's call is its own) as `## model <modelId>`. */
export const traceModelCall = <T extends ModelAnswerShape>(
  request: ConverseCommandInput,
  modelId: string,
  run: () => Promise<T>,
): Promise<T> =>
  withSubsegment(`## model ${modelId}`, { ...sessionOf(request), modelId }, run, (answer) => ({
    metadata: { stopReason: answer.stopReason ?? null, usage: answer.usage ?? null },
  }));

/** The call a tool subsegment stands for. */
export interface ToolCallTrace {
  sessionId: string;
  tenantId: string;
  turn: number;
  /** The OpenAPI operation name (`function` in the action-group event). */
  tool: string;
}

/** One tool call (its retries inside) as `## tool <function>`; a failed or unknown outcome sets the error flag. */
export const traceToolCall = <T extends { status: string; errorKind?: string; invocations?: number }>(
  call: ToolCallTrace,
  run: () => Promise<T>,
): Promise<T> =>
  withSubsegment(
    `## tool ${call.tool}`,
    { sessionId: call.sessionId, tenantId: call.tenantId, tool: call.tool, turn: call.turn },
    run,
    (outcome) => ({
      error: outcome.status !== 'succeeded',
      annotations: {
        outcome: outcome.status,
        ...(outcome.errorKind ? { errorKind: outcome.errorKind } : {}),
      },
      metadata: { invocations: outcome.invocations ?? 0 },
    }),
  );
