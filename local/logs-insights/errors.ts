/** The error a Logs Insights query that cannot be parsed or run raises, with the offending command in its message. */
import { LocalError } from '../aws/errors';

export class LogsInsightsQueryError extends LocalError {}
