/** An error line's fields: its low-cardinality kind (for queries and dimensions, never the message) and the error. */

export type ErrorKind =
  | 'throttled'
  | 'unavailable'
  | 'validation'
  | 'timeout'
  | 'tool'
  | 'model'
  | 'store'
  | 'state'
  | 'config'
  | 'internal';

/** By the error's name: our classes (shared/runtime/errors.ts) and the AWS SDK's exception names. */
const KINDS: Readonly<Record<string, ErrorKind>> = {
  ModelThrottledError: 'throttled',
  ThrottlingException: 'throttled',
  TooManyRequestsException: 'throttled',
  ModelUnavailableError: 'unavailable',
  ServiceUnavailableException: 'unavailable',
  StepInputError: 'validation',
  InvalidGoalError: 'validation',
  ProfileError: 'validation',
  ValidationException: 'validation',
  ZodError: 'validation',
  ToolTimeoutError: 'timeout',
  TimeoutError: 'timeout',
  AbortError: 'timeout',
  ToolInvocationError: 'tool',
  ToolCrashedError: 'tool',
  ToolCallInProgressError: 'tool',
  ModelRequestError: 'model',
  StoreUnavailableError: 'store',
  StoreItemError: 'store',
  SessionStateError: 'state',
  SessionNotFoundError: 'state',
  ConfigError: 'config',
  CatalogError: 'config',
  PricingError: 'config',
};

export const errorKindOf = (error: unknown): ErrorKind =>
  (error instanceof Error && KINDS[error.name]) || 'internal';

/**
 * The fields of an error line: a low-cardinality `errorKind` and `exception` (Powertools formats an Error value
 * as name, location, message, stack and cause).
 */
export const exceptionFields = (error: unknown): { errorKind: ErrorKind; exception: unknown } => ({
  errorKind: errorKindOf(error),
  exception: error instanceof Error ? error : new Error(String(error)),
});
