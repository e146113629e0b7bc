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

/** The kind of an error known only by its name (an ASL error: the failed task's error type). */
export const errorKindOfName = (name: string): ErrorKind =>
  Object.hasOwn(KINDS, name) ? (KINDS[name] as ErrorKind) : 'internal';

export const errorKindOf = (error: unknown): ErrorKind =>
  error instanceof Error ? errorKindOfName(error.name) : 'internal';

/**
 * The fields of an error line: a low-cardinality `errorKind` and `exception` (Powertools formats an Error value
 * as name, location, message, stack and cause).
 */
export const exceptionFields = (error: unknown): { errorKind: ErrorKind; exception: unknown } => ({
  errorKind: errorKindOf(error),
  exception: error instanceof Error ? error : new Error(String(error)),
});

/**
 * The fields of the error line of a goal that failed in a step: the step's error as Step Functions passed it on
 * (its type and message; the stack is on the failed step's own `Handler failed` line, so null here).
 */
export const stepFailureFields = (
  type: string,
  message: string,
): { errorKind: ErrorKind; exception: { name: string; message: string; stack: null } } => ({
  errorKind: errorKindOfName(type),
  exception: { name: type, message, stack: null },
});
