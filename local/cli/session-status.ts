/** The `status` line of a session: its real status, how long an unfinished one has run, and whether its execution still runs. */
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { SessionItem } from '../../shared/store/session-store';
import { localClientCredentials } from '../aws/credentials';

/** "3m 12s", "1h 4m", "45s": a duration as a person reads it. */
export const formatDuration = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
};

interface ExecutionEnd {
  status: string;
  stopDate: Date | undefined;
}

/** The session's execution, if it has ended (DescribeExecution on the local Step Functions API). */
const endedExecution = async (
  env: Record<string, string>,
  executionArn: string,
): Promise<ExecutionEnd | undefined> => {
  const sfn = new SFNClient({
    endpoint: env.AWS_ENDPOINT_URL_SFN,
    region: env.AWS_REGION,
    ...localClientCredentials(),
  });
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  return execution.status === 'RUNNING'
    ? undefined
    : { status: execution.status ?? 'UNKNOWN', stopDate: execution.stopDate };
};

/**
 * The status to show: a finished session's status as stored; an unfinished one's with the time since it was
 * created and, when its execution ended without recording the outcome (stopped, or failed outside its Catch), so.
 */
export const describeStatus = async (
  env: Record<string, string>,
  session: SessionItem,
  now = Date.now(),
): Promise<string> => {
  if (session.status !== 'pending' && session.status !== 'running') return session.status;
  const since = `${session.status} for ${formatDuration(now - Date.parse(session.createdAt))}`;
  if (!session.executionArn) return `${since} (no execution started yet)`;
  const ended = await endedExecution(env, session.executionArn);
  if (!ended) return since;
  return (
    `${since}, but its execution ended ${ended.status} at ${ended.stopDate?.toISOString() ?? '?'}; ` +
    "the reconciler marks it failed (resumable) when Step Functions' status change arrives; then " +
    `\`sovereign-agent resume ${session.sessionId}\``
  );
};
