/** Key scheme of the single table: every item's pk/sk is built here and nowhere else. */

const pad = (n: number, width = 4): string => String(n).padStart(width, '0');

export const keys = {
  /** Session header: status, counters, budget, version. */
  session: (tenantId: string, sessionId: string) => ({ pk: sessionPk(tenantId, sessionId), sk: 'META' }),
  /** One conversation message; turn 0 is the goal, turn n >= 1 the model's n-th answer. */
  message: (tenantId: string, sessionId: string, turn: number) => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `M#${pad(turn)}`,
  }),
  /** One tool call of a turn; `index` keeps the model's order of toolUse blocks. */
  toolCall: (tenantId: string, sessionId: string, turn: number, index: number) => ({
    pk: sessionPk(tenantId, sessionId),
    sk: `C#${pad(turn)}#${pad(index, 2)}`,
  }),
  /** A report stored by the billing action group's create_optimization_report. */
  report: (tenantId: string, reportId: string) => ({ pk: tenantPk(tenantId), sk: `REPORT#${reportId}` }),
  /** Tenant policy: budgets, paused flag, default data class. */
  tenantPolicy: (tenantId: string) => ({ pk: tenantPk(tenantId), sk: 'POLICY' }),
  /** GSI1 entry that lists a tenant's sessions, newest last. */
  sessionIndex: (tenantId: string, createdAt: string, sessionId: string) => ({
    gsi1pk: tenantPk(tenantId),
    gsi1sk: `SESSION#${createdAt}#${sessionId}`,
  }),
} as const;

export const sessionPk = (tenantId: string, sessionId: string): string => `T#${tenantId}#S#${sessionId}`;
export const tenantPk = (tenantId: string): string => `T#${tenantId}`;
export const MESSAGE_PREFIX = 'M#';
export const TOOL_CALL_PREFIX = 'C#';
export const SESSION_INDEX = 'gsi1';
