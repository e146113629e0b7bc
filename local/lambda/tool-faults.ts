/** Tool fault injection: a feature of the local stack (never of production code) to make action-group tools fail. */
import { z } from 'zod';
import { LambdaServiceError } from './errors';

export const toolFaultSchema = z
  .object({
    /** The first N matching invocations fail without running the handler. */
    failTimes: z.number().int().min(0).optional(),
    /** errorType of those failures (default ToolFaultInjected). */
    error: z.string().min(1).max(128).optional(),
    /** Wait this long before running the handler; counts against the function's timeout. */
    delayMs: z.number().int().min(0).max(900_000).optional(),
    /** N times: run the handler fully (side effects happen), then lose its response as if the sandbox crashed. */
    crashAfterSideEffect: z.number().int().min(0).optional(),
  })
  .strict();
/** Faults per tool name: apply to invocations whose payload has `function === tool` and the session's id. */
export const toolFaultsSchema = z.record(z.string().min(1), toolFaultSchema);
export type ToolFault = z.infer<typeof toolFaultSchema>;
export type ToolFaults = z.infer<typeof toolFaultsSchema>;

/** A tool's fault with what is left of it; invocations use it up. */
export interface FaultState {
  remainingFailures: number;
  error: string;
  delayMs: number;
  remainingCrashes: number;
}

/** From a Bedrock action-group payload (`function`, `sessionId`), when the payload has that shape. */
export interface ActionGroupFields {
  tool?: string;
  sessionId?: string;
}

export const actionGroupFields = (payload: string): ActionGroupFields => {
  // Cheap pre-check: most payloads (Step Functions tasks) are not action-group events.
  if (!payload.includes('"function"')) return {};
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed !== 'object' || parsed === null) return {};
    const record = parsed as Record<string, unknown>;
    return {
      ...(typeof record.function === 'string' ? { tool: record.function } : {}),
      ...(typeof record.sessionId === 'string' ? { sessionId: record.sessionId } : {}),
    };
  } catch {
    return {};
  }
};

/** The faults set per session, by tool. */
export class ToolFaultInjector {
  readonly #bySession = new Map<string, Map<string, FaultState>>();

  set(sessionId: string, faults: ToolFaults): void {
    const states = new Map<string, FaultState>();
    for (const [tool, fault] of Object.entries(toolFaultsSchema.parse(faults))) {
      states.set(tool, {
        remainingFailures: fault.failTimes ?? 0,
        error: fault.error ?? 'ToolFaultInjected',
        delayMs: fault.delayMs ?? 0,
        remainingCrashes: fault.crashAfterSideEffect ?? 0,
      });
    }
    this.#bySession.set(sessionId, states);
  }

  /** The fault for this invocation's session and tool, if one was set. */
  faultFor(fields: ActionGroupFields): FaultState | undefined {
    return fields.tool === undefined || fields.sessionId === undefined
      ? undefined
      : this.#bySession.get(fields.sessionId)?.get(fields.tool);
  }
}

/** Sets a session's tool faults on a running local Lambda service (`PUT /_local/tool-faults/<sessionId>`), for a CLI in another process. */
export const putToolFaults = async (
  lambdaEndpoint: string,
  sessionId: string,
  faults: ToolFaults,
): Promise<void> => {
  const url = `${lambdaEndpoint.replace(/\/$/, '')}/_local/tool-faults/${encodeURIComponent(sessionId)}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(toolFaultsSchema.parse(faults)),
  });
  if (!response.ok) {
    throw new LambdaServiceError(`Setting tool faults failed (${response.status}): ${await response.text()}`);
  }
};
