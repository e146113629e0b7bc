/** What the local Step Functions keeps per execution (its record and history events, also the file format) and its quotas. */
import { z } from 'zod';

const executionStatusSchema = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
export type ExecutionStatus = z.infer<typeof executionStatusSchema>;

const executionRecordSchema = z.object({
  executionArn: z.string(),
  stateMachineArn: z.string(),
  name: z.string(),
  status: executionStatusSchema,
  /** The input string as given to StartExecution (idempotency compares it byte for byte). */
  input: z.string(),
  output: z.string().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  startDate: z.string(),
  stopDate: z.string().optional(),
  /** States entered plus retries: what Step Functions bills as state transitions. */
  stateTransitions: z.number().int(),
  historyEventCount: z.number().int(),
  /** The process that ran the execution; a RUNNING record of another process is dead on restart. */
  ownerPid: z.number().int(),
  /** The end's status-change event reached the bus (status-events.ts); a restart sends the ones that did not. */
  statusEventSent: z.boolean().optional(),
  /** The execution's X-Ray trace (local/xray): its segment id, continued from the StartExecution caller's trace. */
  trace: z
    .object({
      header: z.string(),
      sampled: z.boolean(),
      traceId: z.string(),
      segmentId: z.string(),
      parentId: z.string().optional(),
    })
    .optional(),
});
export type ExecutionRecord = z.infer<typeof executionRecordSchema>;

const historyEventSchema = z.object({
  id: z.number().int(),
  previousEventId: z.number().int(),
  timestamp: z.string(),
  type: z.string(),
  /** The API field holding the details, e.g. `stateEnteredEventDetails`. */
  detailsField: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type HistoryEvent = z.infer<typeof historyEventSchema>;

/** One file under `<dataDir>/executions/`. */
export const persistedExecutionSchema = z.object({
  record: executionRecordSchema,
  history: z.array(historyEventSchema),
});
export type PersistedExecution = z.infer<typeof persistedExecutionSchema>;

/** Step Functions quotas: 256 KiB payloads, 25,000 history events per execution. */
export const MAX_PAYLOAD_BYTES = 262_144;
export const MAX_HISTORY_EVENTS = 25_000;

/** Step Functions' own role for the execution context and the ExecutionStarted event. */
export const localRoleArn = (account: string): string => `arn:aws:iam::${account}:role/stepfunctions-local`;

export const json = (value: unknown): string => JSON.stringify(value ?? null);
export const nowIso = (): string => new Date().toISOString();
