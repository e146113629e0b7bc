/** The ContinueAsNew step: starts the session's next execution (mode continue) so this one can end before its history limit. */
import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { executionNameFor } from '../contracts/goal-events';
import { SessionStateError } from '../runtime/errors';
import type { SessionStore } from '../store/session-store';
import type { ExecutionInput } from './intake';

export const continueSessionInputSchema = z.object({
  tenantId: z.string().min(1),
  sessionId: z.string().min(1),
  executionArn: z.string().min(1),
});
export type ContinueSessionInput = z.infer<typeof continueSessionInputSchema>;

export interface ContinueSessionDeps {
  store: SessionStore;
  sfn: SFNClient;
  stateMachineArn: string;
}

/**
 * Starts the next execution, named from the session and its `runs`, so a retried step starts at most one: the same
 * name and input while it runs returns it, and once it has begun its run (`runs` moved on, the session under its
 * ARN) this step starts nothing. The new execution takes the session over from this one (beginRun mode continue).
 */
export const continueSession = async (deps: ContinueSessionDeps, input: ContinueSessionInput) => {
  const session = await deps.store.requireSession(input.tenantId, input.sessionId);
  if (session.executionArn !== input.executionArn) {
    return { continued: true, executionArn: session.executionArn ?? null, runs: session.runs };
  }
  if (session.status !== 'running') {
    throw new SessionStateError(
      `Session ${input.sessionId} is ${session.status}; only a running session continues`,
    );
  }
  const next: ExecutionInput = {
    tenantId: input.tenantId,
    sessionId: input.sessionId,
    mode: 'continue',
    previousExecutionArn: input.executionArn,
  };
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name: executionNameFor(input.tenantId, input.sessionId, session.runs),
        input: JSON.stringify(next),
      }),
    );
    return { continued: true, executionArn: out.executionArn ?? null, runs: session.runs };
  } catch (error) {
    // The name is taken by an execution that already ended: it began (and finished) the run this step asks for.
    if (error instanceof ExecutionAlreadyExists)
      return { continued: true, executionArn: null, runs: session.runs };
    throw error;
  }
};
