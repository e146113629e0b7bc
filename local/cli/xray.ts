/** `sovereign-agent xray <sessionId> [--json]`: a session's X-Ray traces from the local daemon's file, as trees. */
import { segmentsFile } from '../xray/daemon';
import { formatTrace, readSegments, type Trace, tracesOfSession } from '../xray/traces';

export interface XrayCommandResult {
  traces: Trace[];
  file: string;
}

/** The session's traces (those whose subsegments carry its `sessionId` annotation). */
export const sessionTraces = (dataDir: string, sessionId: string): XrayCommandResult => {
  const file = segmentsFile(dataDir);
  return { file, traces: tracesOfSession(readSegments(file), sessionId) };
};

/** The text the command prints: each trace as an indented tree. */
export const formatTraces = (traces: Trace[]): string => traces.flatMap(formatTrace).join('\n');
