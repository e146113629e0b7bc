/**
 * Runs one goal on a local stack through the real entry point: PutEvents on the bus, then watches the session
 * in DynamoDB (and the bus for a rejection) until it ends. Used by the CLI's `run` and by integration tests.
 */

import {
  EventBridgeClient,
  EventBridgeServiceException,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  busEnvelopeSchema,
  goalDetailSchema,
  RESUME_REQUESTED,
  sessionIdForEvent,
} from '../../shared/contracts/goal-events';
import { GOAL_REJECTED, type SessionSummary, summary } from '../../shared/contracts/lifecycle-events';
import { createDocumentClient } from '../../shared/runtime/clients/dynamodb';
import { goalHashOf } from '../../shared/steps/intake';
import {
  type Conversation,
  type SessionItem,
  SessionStore,
  TERMINAL_STATUSES,
} from '../../shared/store/session-store';
import type { SessionStatus } from '../../shared/store/table';
import { LocalError } from '../aws/errors';
import { putModelScript } from '../bedrock/control-client';
import type { ModelScript } from '../bedrock/script';
import { localDynamoDbClient } from '../dynamodb/local';
import { type BusEventRecord, fetchBusEvents } from '../eventbridge/service';
import { putToolFaults, type ToolFaults } from '../lambda/tool-faults';
import { approvalRequestLines } from './approvals';

export interface StackEndpoints {
  env: Record<string, string>;
}

/**
 * The session's own status; `rejected` when no session was started, `unknown` when the CLI gave up waiting before
 * the session appeared. A `pending` or `running` summary from `run` means it gave up waiting: the session goes on.
 */
export type RunStatus = SessionStatus | 'rejected' | 'unknown';

/**
 * The session summary the agent publishes (shared/contracts/lifecycle-events.ts `summary`) without the agent name,
 * with the CLI's status, the output, and the error as one line (the rejection's reason, or the failure's type and
 * message).
 */
export type RunSummary = Omit<SessionSummary, 'agent' | 'status' | 'sessionId' | 'tenantId'> & {
  sessionId: string | null;
  tenantId: string | null;
  status: RunStatus;
  output: string | null;
  error: string | null;
};

export class RunGoalError extends LocalError {}

export interface RunGoalOptions {
  stack: StackEndpoints;
  /** The event as EventBridge delivers it to targets (envelope with detail), e.g. a file from events/. */
  event: unknown;
  modelScript?: ModelScript;
  toolFaults?: ToolFaults;
  timeoutMs?: number;
  pollMs?: number;
  onProgress?: (line: string) => void;
}

const endpoint = (env: Record<string, string>, name: string): string => {
  const value = env[name];
  if (!value) throw new RunGoalError(`The local stack does not expose ${name}`);
  return value;
};

export interface LocalClients {
  doc: DynamoDBDocumentClient;
  store: SessionStore;
  tableName: string;
}

export const localClients = (env: Record<string, string>): LocalClients => {
  const doc = createDocumentClient(localDynamoDbClient(endpoint(env, 'AWS_ENDPOINT_URL_DYNAMODB')));
  const tableName = endpoint(env, 'TABLE_NAME');
  return { doc, tableName, store: new SessionStore(doc, tableName, 90) };
};

const emptySummary = (sessionId: string | null, tenantId: string | null): RunSummary => ({
  sessionId,
  tenantId,
  status: 'rejected',
  stopReason: null,
  turns: 0,
  toolCalls: 0,
  failedToolCalls: 0,
  tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
  costUsd: 0,
  costMicros: 0,
  models: {},
  modelUsage: {},
  providers: { bedrock: 0, sagemaker: 0 },
  failure: null,
  resumable: false,
  output: null,
  error: null,
});

/** The CLI's summary: the session summary the agent publishes, plus output and error (no agent name). */
export const summarize = (session: SessionItem): RunSummary => {
  const s = summary(session);
  return {
    sessionId: s.sessionId,
    tenantId: s.tenantId,
    status: s.status,
    stopReason: s.stopReason,
    turns: s.turns,
    toolCalls: s.toolCalls,
    failedToolCalls: s.failedToolCalls,
    tokens: s.tokens,
    costUsd: s.costUsd,
    costMicros: s.costMicros,
    models: s.models,
    modelUsage: s.modelUsage,
    providers: s.providers,
    failure: s.failure,
    resumable: s.resumable,
    output: session.output ?? null,
    error: session.error ? `${session.error.type}: ${session.error.message}` : null,
  };
};

/** New progress lines, in conversation order: each turn, then its finished tool calls; `seen` remembers printed ones. */
const progressLines = (conversation: Conversation, seen: Set<string>): string[] => {
  const lines: string[] = [];
  for (const message of conversation.messages) {
    if (message.role !== 'assistant') continue;
    const key = `M${message.turn}`;
    if (!seen.has(key)) {
      seen.add(key);
      const usage = message.usage;
      const tokens = usage ? usage.input + usage.output + usage.cacheRead + usage.cacheWrite : 0;
      const tools = message.content.flatMap((b) => (b.toolUse?.name ? [b.toolUse.name] : []));
      lines.push(
        `turn ${message.turn}: ${message.modelId} (${message.tier}) ${tokens} tokens, $${(message.costUsd ?? 0).toFixed(6)}` +
          (tools.length > 0 ? ` -> ${tools.join(', ')}` : ' -> answer'),
      );
    }
    for (const call of conversation.toolCalls.filter((c) => c.turn === message.turn)) {
      const callKey = `C${call.turn}.${call.index}`;
      if (call.status === 'started' || seen.has(callKey)) continue;
      seen.add(callKey);
      lines.push(
        `  ${call.name}: ${call.status}${call.errorKind ? ` (${call.errorKind})` : ''} in ${call.latencyMs ?? 0} ms, ${call.invocations ?? 0} invocation(s)`,
      );
    }
  }
  return lines;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** What runGoal reads from the event file: the envelope, its detail, and the ids known before the bus sees it. */
interface GoalEvent {
  raw: Record<string, unknown>;
  detail: Record<string, unknown>;
  tenantId: string | null;
  /** The goalId or sessionId of the detail; otherwise intake derives the session id from the bus's event id. */
  knownSessionId: string | null;
  isResume: boolean;
}

const readGoalEvent = (event: unknown): GoalEvent => {
  const envelope = busEnvelopeSchema.partial().safeParse(event);
  if (!envelope.success || typeof event !== 'object' || event === null) {
    throw new RunGoalError(
      'The event file must hold a JSON object: an EventBridge event envelope with "detail"',
    );
  }
  const raw = event as Record<string, unknown>;
  const detail = (typeof raw.detail === 'object' && raw.detail !== null ? raw.detail : {}) as Record<
    string,
    unknown
  >;
  return {
    raw,
    detail,
    tenantId: str(detail.tenantId),
    knownSessionId: str(detail.goalId) ?? str(detail.sessionId),
    isResume: raw['detail-type'] === RESUME_REQUESTED,
  };
};

/** PutEvents of the goal on the stack's bus: the event id, or the bus's reason for refusing it. */
const putGoalEvent = async (
  env: Record<string, string>,
  raw: Record<string, unknown>,
): Promise<{ eventId: string } | { refused: string }> => {
  const bus = new EventBridgeClient({ endpoint: endpoint(env, 'AWS_ENDPOINT_URL_EVENTBRIDGE') });
  const command = new PutEventsCommand({
    Entries: [
      {
        EventBusName: endpoint(env, 'EVENT_BUS_NAME'),
        Source: str(raw.source) ?? undefined,
        DetailType: str(raw['detail-type']) ?? undefined,
        Detail: JSON.stringify(raw.detail ?? null),
        Resources: Array.isArray(raw.resources) ? (raw.resources as string[]) : undefined,
        ...(str(raw.time) ? { Time: new Date(str(raw.time) as string) } : {}),
      },
    ],
  });
  let put: PutEventsCommandOutput;
  try {
    put = await bus.send(command);
  } catch (error) {
    // The bus refuses the request as a whole (e.g. entries over 256 KB: ValidationException): the caller's fault.
    if (error instanceof EventBridgeServiceException && error.$fault === 'client') {
      return { refused: `The bus refused the event: ${error.name}: ${error.message}` };
    }
    throw error;
  }
  const entry = put.Entries?.[0];
  if (entry?.EventId) return { eventId: entry.EventId };
  return {
    refused:
      `The bus refused the event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim(),
  };
};

/** Why the bus's records say the event will start no session (no rule matched, or intake rejected it), if so. */
const busVerdict = (
  events: BusEventRecord[],
  eventId: string,
  detailType: string | null,
): string | undefined => {
  const mine = events.find((e) => e.event.id === eventId);
  if (mine && mine.matchedRules.length === 0) {
    return `No rule on the bus matches detail-type "${detailType}"; nothing will handle it`;
  }
  const rejected = events.find(
    (e) =>
      e.event['detail-type'] === GOAL_REJECTED &&
      (e.event.detail as { eventId?: unknown }).eventId === eventId,
  );
  if (!rejected) return undefined;
  const d = rejected.event.detail as { reason?: string; issues?: string[] };
  const issues = (d.issues ?? []).map((i) => `  - ${i}`).join('\n');
  return `${d.reason ?? 'rejected'}${issues ? `\n${issues}` : ''}`;
};

interface Watch {
  env: Record<string, string>;
  store: SessionStore;
  goal: GoalEvent;
  eventId: string;
  sessionId: string;
  /** The session before the event was put (a resume has ended once it was written since). */
  before: SessionItem | undefined;
  /** Bus records from this time on are read. */
  since: string;
  progress: (line: string) => void;
}

/** Polls the bus and the session until the session ends, the event is rejected, or the time is up. */
const watchSession = async (w: Watch, timeoutMs: number, pollMs: number): Promise<RunSummary> => {
  const { goal, sessionId } = w;
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  let last: SessionItem | undefined;
  let announced = false;
  while (Date.now() < deadline) {
    const events = await fetchBusEvents(endpoint(w.env, 'AWS_ENDPOINT_URL_EVENTBRIDGE'), w.since);
    const verdict = busVerdict(events, w.eventId, str(goal.raw['detail-type']));
    if (verdict !== undefined) return { ...emptySummary(null, goal.tenantId), error: verdict };
    if (goal.tenantId) {
      const conversation = await w.store.loadConversation(goal.tenantId, sessionId).catch(() => undefined);
      if (conversation) {
        last = conversation.session;
        // A resume starts from an ended session: it has ended again once a new run began (beginRun counts runs).
        // Not any write since: intake's resume claim, or a step of the stopped execution still finishing, writes the
        // session while it is still failed. A goal whose id names an ended session of another goal ends nothing:
        // intake's rejection is the answer.
        const moved = goal.isResume
          ? last.runs > (w.before?.runs ?? 0)
          : !(w.before && TERMINAL_STATUSES.includes(w.before.status));
        if (!announced && moved) {
          announced = true;
          w.progress(`session ${sessionId} ${last.status} (intake accepted the event)`);
        }
        for (const line of progressLines(conversation, seen)) w.progress(line);
        for (const line of approvalRequestLines(events, sessionId, seen)) w.progress(line);
        if (TERMINAL_STATUSES.includes(last.status) && moved) return summarize(last);
      }
    }
    await sleep(pollMs);
  }
  // Giving up ends the watch, not the session: its status says it goes on.
  return last ? summarize(last) : { ...emptySummary(sessionId, goal.tenantId), status: 'unknown' };
};

/**
 * Whether a stored session holds this goal (its goal hash matches, or it predates goal hashes). Another goal under
 * a used goalId is not a duplicate: intake rejects it, and the watch reports that rejection.
 */
const sameGoal = (session: SessionItem, detail: Record<string, unknown>): boolean => {
  const parsed = goalDetailSchema.safeParse(detail);
  return !parsed.success || session.goalHash === undefined || session.goalHash === goalHashOf(parsed.data);
};

export const runGoal = async (options: RunGoalOptions): Promise<RunSummary> => {
  const { env } = options.stack;
  const progress = options.onProgress ?? (() => undefined);
  const goal = readGoalEvent(options.event);
  const { tenantId, knownSessionId, detail } = goal;
  const { store } = localClients(env);
  // What the session looked like before this event: a resume has ended once its run count moved on; a goal whose
  // session already ended is a duplicate delivery, which intake ignores.
  const before = tenantId && knownSessionId ? await store.getSession(tenantId, knownSessionId) : undefined;
  const installFaults = async (sessionId: string) => {
    if (options.modelScript) {
      await putModelScript(endpoint(env, 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME'), sessionId, options.modelScript);
    }
    if (options.toolFaults)
      await putToolFaults(endpoint(env, 'AWS_ENDPOINT_URL_LAMBDA'), sessionId, options.toolFaults);
  };
  // Scripts and faults go in before the event when the session id is known, so no model call can precede them.
  if (knownSessionId) await installFaults(knownSessionId);

  const since = new Date(Date.now() - 1000).toISOString();
  const put = await putGoalEvent(env, goal.raw);
  if ('refused' in put) return { ...emptySummary(null, tenantId), error: put.refused };
  const { eventId } = put;
  // The session id is the goalId, or derived from the id EventBridge gave the event (what intake will see).
  const sessionId = sessionIdForEvent(
    eventId,
    str(detail.goalId) ?? undefined,
    str(detail.sessionId) ?? undefined,
  );
  // Otherwise the id is the one EventBridge just gave the event; the delivery chain (intake, Step Functions, the
  // first Plan) takes far longer than this one local call.
  if (!knownSessionId) await installFaults(sessionId);
  // Put on the bus is not accepted: intake may still reject the event.
  progress(`event ${eventId} put on the bus; waiting for intake (session ${sessionId})`);
  if (!goal.isResume && before && TERMINAL_STATUSES.includes(before.status) && sameGoal(before, detail)) {
    progress(`session ${sessionId} already ${before.status}: a duplicate delivery starts nothing`);
    return summarize(before);
  }
  const watch: Watch = { env, store, goal, eventId, sessionId, before, since, progress };
  return watchSession(watch, options.timeoutMs ?? 300_000, options.pollMs ?? 200);
};
