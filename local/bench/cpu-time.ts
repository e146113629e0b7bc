/** CPU time of this process (every thread: the stand-ins and the Lambda sandboxes) and of its java children (DynamoDB Local). */
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuTime {
  /** This process, user + system, all threads. */
  nodeMs: number;
  /** Java processes this process started (DynamoDB Local), user + system; null where /proc cannot tell (not Linux, or java runs elsewhere). */
  javaMs: number | null;
}

/** Linux's USER_HZ, what /proc/<pid>/stat counts in: 100 on every common architecture. */
const TICKS_PER_SECOND = 100;

const children = (pid: number): number[] => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter((s) => s.trim() !== '')
        .map(Number),
    );
  } catch {
    return [];
  }
};

/** utime + stime of a process in ms, if it is java; the command name follows the pid in parentheses. */
const javaCpuMs = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'java') return undefined;
    const fields = stat.slice(close + 2).split(' ');
    // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
};

/** A reading now; subtract two with `cpuSince`. */
export const cpuTime = (): CpuTime => {
  const usage = process.cpuUsage();
  let javaMs: number | null = null;
  const queue = children(process.pid);
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const ms = javaCpuMs(pid);
    if (ms !== undefined) javaMs = (javaMs ?? 0) + ms;
    queue.push(...children(pid));
  }
  return { nodeMs: (usage.user + usage.system) / 1000, javaMs };
};

export const cpuSince = (before: CpuTime): CpuTime => {
  const now = cpuTime();
  return {
    nodeMs: Math.round(now.nodeMs - before.nodeMs),
    javaMs: now.javaMs === null || before.javaMs === null ? null : Math.round(now.javaMs - before.javaMs),
  };
};
