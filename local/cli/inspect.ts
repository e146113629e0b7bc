/** Read-side views for the CLI: a session's status, its turn-by-turn trace, and session lists. */
import { paginateScan } from '@aws-sdk/lib-dynamodb';
import { textOf, toolUsesOf } from '../../shared/agent/conversation';
import { applyCoercions, type Coercion } from '../../shared/agent/tool-input';
import { modelCallOf, toolCallOf } from '../../shared/observability/trace-records';
import type { Conversation, SessionItem } from '../../shared/store/session-store';
import { parseItem, sessionItemSchema } from '../../shared/store/table';
import { type LocalClients, type RunSummary, summarize } from './run-goal';

export interface TraceToolCall {
  toolUseId: string;
  name: string;
  /** As the model sent it. */
  input: unknown;
  /** The input after the safe coercions (null when none were needed), and each coercion. */
  coercedInput: unknown;
  coercions: Coercion[];
  /** started: the attempt holding the call until then (epoch ms); unknown: a side effect whose outcome was lost. */
  status: string;
  leaseUntil: number | null;
  /** The full result is stored in this many parts (the model saw the first); null when it fit the call. */
  resultParts: number | null;
  errorKind: string | null;
  latencyMs: number | null;
  attempts: number;
  invocations: number;
  result: string | null;
  /** The circuit-breaker state the call saw (probe: it was the half-open probe); null before breakers. */
  breaker: { state: string; probe?: boolean } | null;
  /** What answered instead of the tool, and why. */
  fallback: { kind: string; tool?: string; reason: string } | null;
}

export interface TraceTurn {
  turn: number;
  modelId: string | null;
  tier: string | null;
  /** The provider that served the turn (bedrock, sagemaker). */
  provider: string | null;
  /** The step kind the turn was routed as (plan, extract, summarize, verify, format). */
  stepKind: string | null;
  routeReason: string | null;
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number };
  costUsd: number;
  /** The turn's CPTO in micro-dollars (its model tokens and infrastructure). */
  costMicros: number;
  latencyMs: number | null;
  stopReason: string | null;
  text: string;
  toolCalls: TraceToolCall[];
}

export interface Trace {
  session: RunSummary & { agent: string; goal: string; createdAt: string; updatedAt: string };
  turns: TraceTurn[];
}

export const buildTrace = (conversation: Conversation): Trace => {
  const { session } = conversation;
  const turns = conversation.messages
    .filter((m) => m.role === 'assistant')
    .map((m): TraceTurn => {
      const calls = conversation.toolCalls.filter((c) => c.turn === m.turn);
      // The same fields as the log's trace records (shared/observability/trace-records.ts).
      const { outcome: _outcome, ...model } = modelCallOf(m);
      return {
        ...model,
        routeReason: m.routeReason ?? null,
        text: textOf(m),
        toolCalls: toolUsesOf(m).map((use) => {
          const call = calls.find((c) => c.toolUseId === use.toolUseId);
          const recorded = call && toolCallOf(call);
          return {
            toolUseId: use.toolUseId ?? '',
            name: use.name ?? '',
            input: use.input ?? null,
            coercedInput: call?.coercions?.length ? applyCoercions(use.input, call.coercions) : null,
            coercions: call?.coercions ?? [],
            status: recorded?.outcome ?? 'not run',
            leaseUntil: call?.leaseUntil ?? null,
            resultParts: call?.resultParts ?? null,
            errorKind: recorded?.errorKind ?? null,
            latencyMs: recorded?.latencyMs ?? null,
            attempts: recorded?.stepAttempts ?? 0,
            invocations: recorded?.invocations ?? 0,
            result: call?.result ?? null,
            breaker: call?.breaker ?? null,
            fallback: call?.fallback ?? null,
          };
        }),
      };
    });
  return {
    session: {
      ...summarize(session),
      agent: session.agent,
      goal: session.goal,
      createdAt: session.createdAt,
      updatedAt: session.updatedAt,
    },
    turns,
  };
};

/** ", breaker open, answered by X (why)": only what differs from a plain call through a closed breaker. */
const breakerText = (c: TraceToolCall): string => {
  const seen =
    c.breaker && c.breaker.state !== 'closed'
      ? `, breaker ${c.breaker.state}${c.breaker.probe ? ' (probe)' : ''}`
      : '';
  const fallback = c.fallback
    ? `, answered by ${c.fallback.tool ?? `its ${c.fallback.kind.replaceAll('_', ' ')} fallback`} (${c.fallback.reason})`
    : '';
  return seen + fallback;
};

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 3)}...`);
const usd = (n: number) => `$${n.toFixed(6)}`;
const tokens = (t: TraceTurn['tokens']) =>
  `${t.input} in / ${t.output} out${t.cacheRead || t.cacheWrite ? ` / ${t.cacheRead} cache read / ${t.cacheWrite} cache write` : ''}`;

/** The summary as text; `status` replaces the bare status word (e.g. with how long the session has run). */
export const formatSummary = (s: RunSummary, status: string = s.status): string => {
  const lines = [
    `session   ${s.sessionId ?? '-'} (tenant ${s.tenantId ?? '-'})`,
    `status    ${status}`,
    ...(s.stopReason && s.stopReason !== 'completed'
      ? [`reason    ${s.stopReason}${s.resumable ? ' (resumable)' : ''}`]
      : []),
    ...(s.failure
      ? [
          `failure   ${s.failure.type} in ${s.failure.step ?? 'an unknown step'}${s.resumable ? ' (resumable)' : ''}`,
        ]
      : []),
    `turns     ${s.turns}, tool calls ${s.toolCalls}${s.failedToolCalls ? ` (${s.failedToolCalls} failed)` : ''}`,
    `tokens    ${s.tokens.input} input, ${s.tokens.output} output, ${s.tokens.cacheRead} cache read, ${s.tokens.cacheWrite} cache write`,
    `cost      ${usd(s.costUsd)} (${s.costMicros} micro-dollars)`,
    `models    ${
      Object.entries(s.models)
        .map(([m, n]) => `${m} x${n}`)
        .join(', ') || '-'
    }`,
    ...Object.entries(s.modelUsage).map(
      ([m, u]) =>
        `          ${m}: ${u.calls} call(s), ${u.input} in / ${u.output} out / ${u.cacheRead} cache read / ${u.cacheWrite} cache write, ${u.costMicros} micro-dollars`,
    ),
    `providers ${Object.entries(s.providers)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}`,
  ];
  if (s.error) lines.push(`error     ${s.error}`);
  if (s.output) lines.push('', s.output);
  return lines.join('\n');
};

/** The lines under a call that say what was not plain: coercions, a lease held, an unknown outcome, a split result. */
const callDetails = (c: TraceToolCall): string[] => [
  ...c.coercions.map(
    (k) => `      coerced ${k.pointer}: ${JSON.stringify(k.from)} -> ${JSON.stringify(k.to)}`,
  ),
  ...(c.status === 'started' && c.leaseUntil !== null
    ? [`      in progress: leased until ${new Date(c.leaseUntil).toISOString()}`]
    : []),
  ...(c.status === 'unknown' ? ['      outcome unknown: the side effect may have happened'] : []),
  ...(c.resultParts !== null
    ? [`      result split: stored in ${c.resultParts} parts, the model saw the first`]
    : []),
];

export const formatTrace = (trace: Trace): string => {
  const out = [`${trace.session.agent}: ${trace.session.goal}`, ''];
  for (const t of trace.turns) {
    out.push(
      `turn ${t.turn}  ${t.modelId ?? '-'} (${t.provider ?? '-'}) [${t.tier ?? '-'}${t.stepKind ? `, ${t.stepKind}` : ''}: ${t.routeReason ?? '-'}]  ${tokens(t.tokens)}  ${usd(t.costUsd)} (${t.costMicros} micro-dollars)  ${t.latencyMs ?? '-'} ms`,
    );
    for (const c of t.toolCalls) {
      out.push(
        `  - ${c.name} ${clip(JSON.stringify(c.input), 160)} -> ${c.status}${c.errorKind ? ` (${c.errorKind})` : ''}, ${c.latencyMs ?? '-'} ms, ${c.invocations} invocation(s)${c.attempts > 1 ? `, ${c.attempts} step attempts` : ''}${breakerText(c)}`,
      );
      out.push(...callDetails(c));
    }
    if (t.toolCalls.length === 0 && t.text)
      out.push(`  answer: ${t.text.slice(0, 400)}${t.text.length > 400 ? '...' : ''}`);
  }
  out.push('', formatSummary(trace.session));
  return out.join('\n');
};

/**
 * Finds a session by id across tenants (local use only: a Scan is fine on a developer's table). Every page is read:
 * a Scan page ends at 1 MB (or `pageSize` items) before the filter, so the session may lie on any page.
 */
export const findSession = async (
  { store, doc, tableName }: LocalClients,
  sessionId: string,
  tenantId?: string,
  options: { pageSize?: number } = {},
): Promise<SessionItem | undefined> => {
  if (tenantId) return store.getSession(tenantId, sessionId);
  const pages = paginateScan(
    { client: doc, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
    {
      TableName: tableName,
      FilterExpression: 'entity = :session AND sessionId = :id',
      ExpressionAttributeValues: { ':session': 'session', ':id': sessionId },
    },
  );
  for await (const page of pages) {
    const found = page.Items?.[0];
    if (found) return parseItem(sessionItemSchema, found);
  }
  return undefined;
};

/** Sessions of one tenant (GSI1), or of every tenant (Scan; local use only), oldest first. */
export const listSessions = async (
  { store, doc, tableName }: LocalClients,
  tenantId?: string,
): Promise<SessionItem[]> => {
  if (tenantId) return store.listTenantSessions(tenantId, 200);
  const items: SessionItem[] = [];
  const pages = paginateScan(
    { client: doc },
    {
      TableName: tableName,
      FilterExpression: 'entity = :session',
      ExpressionAttributeValues: { ':session': 'session' },
    },
  );
  for await (const page of pages)
    items.push(...(page.Items ?? []).map((item) => parseItem(sessionItemSchema, item)));
  return items.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
};
