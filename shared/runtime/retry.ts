/** Exponential backoff with full jitter (via exponential-backoff), for calls the SDK does not retry itself. */
import { backOff } from 'exponential-backoff';

export interface RetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  attempts: number;
}

export const withFullJitter = <T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  isRetryable: (error: unknown) => boolean,
): Promise<T> => {
  let attempt = 0;
  return backOff(
    () => {
      attempt += 1;
      return fn(attempt);
    },
    {
      jitter: 'full',
      startingDelay: policy.baseDelayMs,
      maxDelay: policy.maxDelayMs,
      numOfAttempts: policy.attempts,
      timeMultiple: 2,
      retry: (error: unknown) => isRetryable(error),
    },
  );
};
