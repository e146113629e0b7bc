/** The sovereign-agent CLI: run goals on the local stack and inspect sessions (`npx sovereign-agent --help`). */

import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalError } from '../aws/errors';
import { ModelScriptError } from '../bedrock/errors';
import { type ModelScript, parseModelScript } from '../bedrock/script';
import type { ToolFaults } from '../lambda/tool-faults';
import { LogsInsightsQueryError } from '../logs-insights/errors';
import { readPublishedMessages } from '../sns/service';
import { loadServerlessConfig } from '../stack/serverless-config';
import { findRunningStack } from '../stack/stack-file';
import { startLocalStack } from '../stack/start';
import { formatAlert } from './alerts';
import { ApprovalCommandError, approvalStoreOf, decideCall, formatPending } from './approvals';
import { BusEventsError, filterEvents, formatEvent, readBusEvents } from './bus-events';
import { DeadLettersError, formatDeadLetter, listDeadLetters } from './dead-letters';
import { printEnv } from './env';
import { buildTrace, findSession, formatSummary, formatTrace, listSessions } from './inspect';
import { formatLogsResult, LogsCommandError, prepareLogsQuery, runPreparedQuery } from './logs';
import { resumeSession } from './resume';
import { localClients, RunGoalError, type RunSummary, runGoal } from './run-goal';
import { serve } from './serve';
import { describeStatus } from './session-status';
import {
  checkDay,
  costRowOf,
  formatCosts,
  formatPolicy,
  listLedgers,
  requestPause,
  requirePolicy,
  setTenant,
  TenantCommandError,
  tenantStoreOf,
} from './tenants';
import { checkToolFaults } from './tool-faults-file';
import { formatTraces, sessionTraces } from './xray';

export const EXIT = { ok: 0, usage: 1, rejected: 2, failed: 3, stopped: 4, noSession: 5, gaveUp: 6 } as const;

const HELP = `sovereign-agent: run agent goals on the local AWS stack

Usage:
  sovereign-agent run <event.json> [--model-script F] [--tool-faults F] [--fresh] [--json] [--trace] [--timeout S]
  sovereign-agent resume <sessionId> [--tenant T] [--usd-budget X] [--token-budget N] [--json] [--trace] [--timeout S]
  sovereign-agent status <sessionId> [--tenant T] [--json]
  sovereign-agent approve|deny <sessionId> <callId> [--tenant T] [--reason R] [--timeout S] [--json]
  sovereign-agent trace <sessionId> [--tenant T] [--json]
  sovereign-agent xray <sessionId> [--json]
  sovereign-agent sessions [--tenant T] [--json]
  sovereign-agent events [--session S] [--type T] [--json]
  sovereign-agent dead-letters [--json]
  sovereign-agent tenant show|set|pause|resume <tenantId> [flags] [--json]
  sovereign-agent costs [--tenant T] [--day YYYY-MM-DD] [--json]
  sovereign-agent alerts [--json]
  sovereign-agent logs [--session S] [--query FILE | --saved NAME] [--json]
  sovereign-agent serve
  sovereign-agent env

run       puts the event on the local bus (starting the local stack unless \`serve\` is running), waits for
          the session to end, shows progress on stderr and prints a summary (one JSON object with --json).
          --model-script F  scripted model answers for this session (see README); without one, the
                            emulator's deterministic fixture model answers (offline runs; not a model)
          --tool-faults F   faults to inject into tools: {"<tool>":{"failTimes","error","delayMs","crashAfterSideEffect"}}
          --fresh           wipe local data (.local/) first
          --trace           print the turn-by-turn trace after the summary
resume    puts "Agent Goal Resume Requested" for a failed, paused or resumably stopped session and waits
          as \`run\` does: it goes on from its last committed turn in a new execution; finished tool calls are
          not run again. A session that cannot be resumed (or is already being resumed) exits 2 with the reason.
          --usd-budget X / --token-budget N  raise the session's limits: a session stopped by usd_budget or
                            token_budget resumes only with that budget raised
status    one session's summary; an awaiting_approval session lists the calls waiting for a person.
trace     turn by turn: model, tokens, cost, tool calls.
approve / deny  decide a call waiting for approval (its profile's tools.requiresApproval): puts "Agent Action
          Approved/Denied" on the bus and waits until it is recorded; an unknown, decided or expired call exits 1
          with the reason. The waiting execution lives in the process that runs it: use \`serve\`.
sessions  sessions, oldest first.          serve     keep the stack up and print its endpoint variables.
xray      the session's X-Ray traces as trees (name, ms, annotations, error/fault) from the local X-Ray daemon's
          .local/xray/segments.jsonl: a subsegment per model call and tool call; exit 5 when none has the session.
events    what the agent put on its bus (goal Completed/Stopped/Failed/Rejected, circuit Opened/Half-Opened/Closed),
          oldest first; --type "Agent Goal Failed" picks one detail-type, --type all every event on the bus.
dead-letters  goal events intake never accepted (after Lambda's retries), from the intake dead-letter queue.
tenant    show: a tenant's policy and today's spend.  set: --daily-cap-usd N --session-usd-budget N
          --session-token-budget N --data-class public|internal|restricted --agents a,b (a partial update; a new
          tenant needs --daily-cap-usd; a new cap moves today's ledger by the change). pause [--reason R] / resume:
          put "Agent Tenant Pause/Resume Requested" on the bus and wait (--timeout) until the costAlert function has
          changed the policy. With no \`serve\` running, each command starts the stack for itself (as \`run\` does).
costs     spend per tenant and UTC day, with the daily cap and the percentage used.
alerts    the cost alerts published to the alert topic (the local SNS keeps them in .local/sns.jsonl).
logs      a CloudWatch Logs Insights query over the local Lambda logs (.local/logs): by default every trace record
          and exception line, oldest first; --saved slow-tools|cost-per-session|failures-by-type runs a saved query
          (shared/observability/queries), --query FILE your own; --session S keeps that session's lines only.
          The runner has fields/display, filter, parse (glob and regex), stats count/sum/avg/min/max/count_distinct,
          sort and limit (docs/observability.md, Logs Insights, locally).
env       print the served stack's variables again (\`eval "$(sovereign-agent env)"\`); exit 1 if none is served.

Exit codes: 0 completed, 1 usage error, 2 event rejected, 3 failed (resumable), 4 stopped by a budget or limit
            or tools_unavailable (every tool call failed), 5 no such session, 6 gave up waiting (--timeout).
Local data lives in .local/ (override with SOVEREIGN_AGENT_DATA_DIR).`;

class UsageError extends LocalError {}

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

const dataDir = () => resolve(process.env.SOVEREIGN_AGENT_DATA_DIR ?? join(__dirname, '..', '..', '.local'));

const readJson = (file: string, what: string): unknown => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${what} ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} ${file} is not valid JSON: ${(error as Error).message}`);
  }
};

interface AcquiredStack {
  env: Record<string, string>;
  stop: () => Promise<void>;
}

const acquireStack = async (options: { fresh?: boolean; quiet?: boolean }): Promise<AcquiredStack> => {
  const dir = dataDir();
  const running = await findRunningStack(dir);
  if (running) {
    if (options.fresh)
      throw new UsageError('--fresh cannot wipe data while `sovereign-agent serve` is running');
    if (!options.quiet) err(`using the local stack served by pid ${running.pid}`);
    // SDK clients in this process (region, credentials, endpoints) read the served stack's variables.
    Object.assign(process.env, running.env);
    return { env: running.env, stop: async () => undefined };
  }
  if (options.fresh) {
    for (const part of ['dynamodb', 'executions', 'events.jsonl', 'logs', 'sqs']) {
      await rm(join(dir, part), { recursive: true, force: true });
    }
  }
  const stack = await startLocalStack({
    dataDir: dir,
    ...(options.quiet ? {} : { log: (line: string) => err(line) }),
  });
  return { env: stack.env, stop: () => stack.stop() };
};

/** The exit code `run` ends with for a summary (see HELP). */
export const exitCodeFor = (summary: RunSummary): number => {
  switch (summary.status) {
    case 'completed':
      return EXIT.ok;
    case 'rejected':
      return EXIT.rejected;
    case 'stopped':
    case 'paused':
      return EXIT.stopped;
    case 'failed':
      return EXIT.failed;
    default:
      // pending, running, unknown: the CLI stopped watching; the session goes on.
      return EXIT.gaveUp;
  }
};

type Flags = Record<string, string | boolean | undefined>;

const modelScriptOf = (values: Flags): ModelScript | undefined => {
  const file = values['model-script'];
  if (typeof file !== 'string') return undefined;
  const script = readJson(file, 'model script');
  try {
    return parseModelScript(script);
  } catch (error) {
    // Its message already reads "Invalid model script: ..." with every problem.
    if (error instanceof ModelScriptError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
};

const toolFaultsOf = (values: Flags): ToolFaults | undefined => {
  const file = values['tool-faults'];
  if (typeof file !== 'string') return undefined;
  const problem = checkToolFaults(readJson(file, 'tool faults file'));
  if (typeof problem === 'string') throw new UsageError(`Invalid tool faults ${file}: ${problem}`);
  return problem.faults;
};

const timeoutOf = (values: Flags): number => {
  const timeoutSeconds = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
    throw new UsageError('--timeout takes seconds > 0');
  return timeoutSeconds;
};

/** Prints a watched run's summary (and trace), says why it was rejected or why the CLI gave up, and exits so. */
const report = async (
  stack: AcquiredStack,
  summary: RunSummary,
  values: Flags,
  timeoutSeconds: number,
): Promise<number> => {
  const { sessionId, tenantId } = summary;
  const traceable =
    values.trace === true && sessionId !== null && tenantId !== null && summary.status !== 'rejected';
  if (values.json) out(JSON.stringify(summary));
  // The trace ends with the summary, so with --trace it is printed once, after the turns.
  else if (!traceable) out(formatSummary(summary));
  if (traceable) {
    const conversation = await localClients(stack.env).store.loadConversation(tenantId, sessionId);
    out(formatTrace(buildTrace(conversation)));
  }
  if (summary.status === 'rejected') err(`rejected: ${summary.error ?? ''}`);
  const code = exitCodeFor(summary);
  if (code === EXIT.gaveUp) {
    err(
      `gave up waiting after ${timeoutSeconds} s; session ${sessionId ?? '?'} is still ${summary.status}: ` +
        `see \`sovereign-agent status ${sessionId ?? '<sessionId>'}\``,
    );
  }
  return code;
};

const run = async (positionals: string[], values: Flags): Promise<number> => {
  const file = positionals[0];
  if (!file)
    throw new UsageError(
      'run needs an event file, e.g. `sovereign-agent run events/goal-billing-audit.json`',
    );
  const event = readJson(file, 'event file');
  const modelScript = modelScriptOf(values);
  const toolFaults = toolFaultsOf(values);
  const timeoutSeconds = timeoutOf(values);

  const stack = await acquireStack({ fresh: values.fresh === true });
  try {
    const summary = await runGoal({
      stack,
      event,
      ...(modelScript ? { modelScript } : {}),
      ...(toolFaults ? { toolFaults } : {}),
      timeoutMs: timeoutSeconds * 1000,
      onProgress: (line) => err(line),
    });
    return await report(stack, summary, values, timeoutSeconds);
  } finally {
    await stack.stop();
  }
};

/** The raised limits of `resume --usd-budget X --token-budget N`, checked here; intake checks that they raise. */
const raiseOf = (values: Flags): { usdBudget?: number; tokenBudget?: number } | undefined => {
  const usd = values['usd-budget'];
  const tokens = values['token-budget'];
  if (usd === undefined && tokens === undefined) return undefined;
  const usdBudget = typeof usd === 'string' ? Number(usd) : undefined;
  const tokenBudget = typeof tokens === 'string' ? Number(tokens) : undefined;
  if (usdBudget !== undefined && !(Number.isFinite(usdBudget) && usdBudget > 0))
    throw new UsageError(`--usd-budget must be a positive number of USD, not "${String(usd)}"`);
  if (tokenBudget !== undefined && !(Number.isInteger(tokenBudget) && tokenBudget > 0))
    throw new UsageError(`--token-budget must be a positive whole number of tokens, not "${String(tokens)}"`);
  return {
    ...(usdBudget !== undefined ? { usdBudget } : {}),
    ...(tokenBudget !== undefined ? { tokenBudget } : {}),
  };
};

/** `resume <sessionId>`: a failed, paused or resumably stopped session goes on from its last committed turn. */
const resume = async (positionals: string[], values: Flags): Promise<number> => {
  const sessionId = positionals[0];
  if (!sessionId) throw new UsageError('resume needs a session id (see `sovereign-agent sessions`)');
  const tenant = typeof values.tenant === 'string' ? values.tenant : undefined;
  const timeoutSeconds = timeoutOf(values);
  const raise = raiseOf(values);
  const stack = await acquireStack({ quiet: values.json === true });
  try {
    const summary = await resumeSession(localClients(stack.env), {
      stack,
      sessionId,
      ...(tenant ? { tenantId: tenant } : {}),
      ...(raise ? { raise } : {}),
      timeoutMs: timeoutSeconds * 1000,
      onProgress: (line) => err(line),
    });
    if (!summary) {
      err(`No session ${sessionId}${tenant ? ` for tenant ${tenant}` : ''} in ${dataDir()}`);
      return EXIT.noSession;
    }
    return await report(stack, summary, values, timeoutSeconds);
  } finally {
    await stack.stop();
  }
};

/** The session `--tenant` (or any tenant) has under that id; when none, says so on stderr and gives undefined. */
const sessionNamed = async (
  clients: ReturnType<typeof localClients>,
  sessionId: string,
  tenantFlag: string | boolean | undefined,
) => {
  const tenant = typeof tenantFlag === 'string' ? tenantFlag : undefined;
  const session = await findSession(clients, sessionId, tenant);
  if (!session) err(`No session ${sessionId}${tenant ? ` for tenant ${tenant}` : ''} in ${dataDir()}`);
  return session;
};

const inspectSession = async (
  command: 'status' | 'trace',
  positionals: string[],
  values: Record<string, string | boolean | undefined>,
): Promise<number> => {
  const sessionId = positionals[0];
  if (!sessionId) throw new UsageError(`${command} needs a session id (see \`sovereign-agent sessions\`)`);
  const stack = await acquireStack({ quiet: true });
  try {
    const clients = localClients(stack.env);
    const session = await sessionNamed(clients, sessionId, values.tenant);
    if (!session) return EXIT.noSession;
    const trace = buildTrace(await clients.store.loadConversation(session.tenantId, session.sessionId));
    const pending =
      command === 'status'
        ? await approvalStoreOf(clients).list(session.tenantId, session.sessionId, 'pending')
        : [];
    if (command === 'status' && values.json)
      out(JSON.stringify({ ...trace.session, pendingApprovals: pending }));
    else if (command === 'status')
      out(
        [
          formatSummary(trace.session, await describeStatus(stack.env, session)),
          ...formatPending(pending),
        ].join('\n'),
      );
    else out(values.json ? JSON.stringify(trace) : formatTrace(trace));
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

const sessions = async (values: Record<string, string | boolean | undefined>): Promise<number> => {
  const stack = await acquireStack({ quiet: true });
  try {
    const tenant = typeof values.tenant === 'string' ? values.tenant : undefined;
    const items = await listSessions(localClients(stack.env), tenant);
    if (values.json) {
      out(
        JSON.stringify(
          items.map((s) => ({
            sessionId: s.sessionId,
            tenantId: s.tenantId,
            agent: s.agent,
            status: s.status,
            turns: s.turn,
            costUsd: s.costUsd,
            createdAt: s.createdAt,
          })),
        ),
      );
    } else if (items.length === 0) {
      out('no sessions');
    } else {
      for (const s of items) {
        out(
          `${s.createdAt}  ${s.tenantId.padEnd(10)} ${s.sessionId.padEnd(38)} ${s.status.padEnd(9)} turns ${s.turn}  $${s.costUsd.toFixed(6)}`,
        );
      }
    }
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

const xray = (rest: string[], values: Flags): number => {
  const [sessionId] = rest;
  if (!sessionId) throw new UsageError('xray needs a session id (see `sovereign-agent sessions`)');
  const { traces, file } = sessionTraces(dataDir(), sessionId);
  if (traces.length === 0) {
    err(`No trace in ${file} has a subsegment annotated with session ${sessionId}`);
    return EXIT.noSession;
  }
  out(values.json ? JSON.stringify(traces) : formatTraces(traces));
  return EXIT.ok;
};

const events = async (values: Flags): Promise<number> => {
  const listed = filterEvents(await readBusEvents(dataDir()), {
    ...(typeof values.session === 'string' ? { sessionId: values.session } : {}),
    ...(typeof values.type === 'string' ? { type: values.type } : {}),
  });
  if (values.json) out(JSON.stringify(listed));
  else if (listed.length === 0) out('no events');
  else for (const event of listed) out(formatEvent(event));
  return EXIT.ok;
};

const deadLetters = async (values: Flags): Promise<number> => {
  const stack = await acquireStack({ quiet: true });
  try {
    const letters = await listDeadLetters(stack.env);
    if (values.json) out(JSON.stringify(letters));
    else if (letters.length === 0) out('no dead letters');
    else for (const letter of letters) out(formatDeadLetter(letter));
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

/** `approve|deny <sessionId> <callId>`. */
const decide = async (command: 'approve' | 'deny', positionals: string[], values: Flags): Promise<number> => {
  const [sessionId, callId] = positionals;
  if (!sessionId || !callId)
    throw new UsageError(
      `${command} needs a session id and a call id (see \`sovereign-agent status <sessionId>\`)`,
    );
  const stack = await acquireStack({ quiet: true });
  try {
    const clients = localClients(stack.env);
    const session = await sessionNamed(clients, sessionId, values.tenant);
    if (!session) return EXIT.noSession;
    const item = await decideCall(stack.env, clients, {
      session,
      callId,
      decision: command === 'approve' ? 'approved' : 'denied',
      ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
      timeoutMs: timeoutOf(values) * 1000,
    });
    const { taskToken: _token, ...shown } = item;
    out(
      values.json
        ? JSON.stringify(shown)
        : `call ${callId} (${item.tool}) ${item.status} by ${item.decidedBy ?? '?'}`,
    );
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

/** `tenant show|set|pause|resume <tenantId>`. */
const tenant = async (positionals: string[], values: Flags): Promise<number> => {
  const [action, tenantId] = positionals;
  if (!action || !['show', 'set', 'pause', 'resume'].includes(action) || !tenantId) {
    throw new UsageError(
      'tenant needs show|set|pause|resume and a tenant id, e.g. `sovereign-agent tenant show acme`',
    );
  }
  const stack = await acquireStack({ quiet: true });
  try {
    const store = tenantStoreOf(localClients(stack.env));
    const policy =
      action === 'set'
        ? await setTenant(store, tenantId, values)
        : action === 'show'
          ? await requirePolicy(store, tenantId)
          : await requestPause(stack.env, store, {
              tenantId,
              pause: action === 'pause',
              ...(typeof values.reason === 'string' ? { reason: values.reason } : {}),
              timeoutMs: timeoutOf(values) * 1000,
            });
    const today = await store.getDay(tenantId, new Date().toISOString().slice(0, 10));
    out(
      values.json
        ? JSON.stringify({ policy, today: today ? costRowOf(today) : null })
        : formatPolicy(policy, today),
    );
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

const costs = async (values: Flags): Promise<number> => {
  const day = checkDay(typeof values.day === 'string' ? values.day : undefined);
  const stack = await acquireStack({ quiet: true });
  try {
    const ledgers = await listLedgers(localClients(stack.env), {
      ...(typeof values.tenant === 'string' ? { tenantId: values.tenant } : {}),
      ...(day ? { day } : {}),
    });
    const rows = ledgers.map(costRowOf);
    out(values.json ? JSON.stringify(rows) : formatCosts(rows));
    return EXIT.ok;
  } finally {
    await stack.stop();
  }
};

const logs = async (values: Flags): Promise<number> => {
  // The query first: a usage error or a bad query is reported before serverless.yml is read.
  const query = prepareLogsQuery({
    ...(typeof values.session === 'string' ? { session: values.session } : {}),
    ...(typeof values.query === 'string' ? { queryFile: values.query } : {}),
    ...(typeof values.saved === 'string' ? { saved: values.saved } : {}),
  });
  const result = runPreparedQuery(dataDir(), await loadServerlessConfig(), query);
  out(formatLogsResult(result, values.json === true));
  return EXIT.ok;
};

const alerts = async (values: Flags): Promise<number> => {
  const messages = readPublishedMessages(dataDir());
  if (values.json) out(JSON.stringify(messages));
  else if (messages.length === 0) out('no alerts');
  else for (const message of messages) out(formatAlert(message));
  return EXIT.ok;
};

export const main = async (argv: string[]): Promise<number> => {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'model-script': { type: 'string' },
        'tool-faults': { type: 'string' },
        fresh: { type: 'boolean' },
        json: { type: 'boolean' },
        trace: { type: 'boolean' },
        timeout: { type: 'string' },
        tenant: { type: 'string' },
        'usd-budget': { type: 'string' },
        'token-budget': { type: 'string' },
        session: { type: 'string' },
        query: { type: 'string' },
        saved: { type: 'string' },
        type: { type: 'string' },
        day: { type: 'string' },
        reason: { type: 'string' },
        'daily-cap-usd': { type: 'string' },
        'session-usd-budget': { type: 'string' },
        'session-token-budget': { type: 'string' },
        'data-class': { type: 'string' },
        agents: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      out(HELP);
      return command || values.help ? EXIT.ok : EXIT.usage;
    }
    switch (command) {
      case 'run':
        return await run(rest, values);
      case 'resume':
        return await resume(rest, values);
      case 'status':
      case 'trace':
        return await inspectSession(command, rest, values);
      case 'xray':
        return xray(rest, values);
      case 'sessions':
        return await sessions(values);
      case 'events':
        return await events(values);
      case 'dead-letters':
        return await deadLetters(values);
      case 'tenant':
        return await tenant(rest, values);
      case 'approve':
      case 'deny':
        return await decide(command, rest, values);
      case 'costs':
        return await costs(values);
      case 'alerts':
        return await alerts(values);
      case 'logs':
        return await logs(values);
      case 'serve':
        return await serve(dataDir(), { out, err });
      case 'env':
        return await printEnv(dataDir(), { out, err });
      default:
        throw new UsageError(`Unknown command "${command}"; see --help`);
    }
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof RunGoalError ||
      error instanceof DeadLettersError ||
      error instanceof BusEventsError ||
      error instanceof TenantCommandError ||
      error instanceof LogsCommandError ||
      error instanceof LogsInsightsQueryError ||
      error instanceof ApprovalCommandError ||
      (error as Error).name === 'ParseArgsError' ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      err(`error: ${(error as Error).message}`);
      return EXIT.usage;
    }
    err(`error: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failed;
  }
};
