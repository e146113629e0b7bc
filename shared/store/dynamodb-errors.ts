/** How the store reads DynamoDB errors: failed conditions (with the ALL_OLD item they carry) and transient faults. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { StoreUnavailableError } from '../runtime/errors';

interface CancellationReason {
  Code?: string;
  Item?: Record<string, AttributeValue>;
}

// Matched by name, not class: the class identity differs when two SDK copies are bundled.
const isNamed = (error: unknown, name: string): error is Error & Record<string, unknown> =>
  error instanceof Error && error.name === name;

const cancellationReasons = (error: unknown): CancellationReason[] =>
  isNamed(error, 'TransactionCanceledException')
    ? ((error.CancellationReasons as CancellationReason[] | undefined) ?? [])
    : [];

/** The cancellation reason code of a transaction's action at `index` (e.g. ConditionalCheckFailed, None). */
export const cancellationReasonCode = (error: unknown, index: number): string | undefined =>
  cancellationReasons(error)[index]?.Code;

/** A Put/Update condition failed, or a transaction was cancelled because one of its conditions failed. */
export const isConditionFailure = (error: unknown): boolean =>
  isNamed(error, 'ConditionalCheckFailedException') ||
  (isNamed(error, 'TransactionCanceledException') &&
    (cancellationReasons(error).some((r) => r.Code === 'ConditionalCheckFailed') ||
      error.message.includes('ConditionalCheckFailed')));

/**
 * The item as it was when the condition failed (`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`), unmarshalled:
 * from a ConditionalCheckFailedException, or from the transaction's cancellation reason at `index` when that
 * item's own condition failed. Undefined when there was no item (or another item's condition failed).
 */
export const conditionFailureItem = (error: unknown, index = 0): Record<string, unknown> | undefined => {
  if (isNamed(error, 'ConditionalCheckFailedException')) {
    const item = error.Item as Record<string, AttributeValue> | undefined;
    return item ? unmarshall(item) : undefined;
  }
  const reason = cancellationReasons(error)[index];
  return reason?.Code === 'ConditionalCheckFailed' && reason.Item ? unmarshall(reason.Item) : undefined;
};

/** A transaction cancelled only by conflicts or throttling (no condition failed) is worth retrying. */
const TRANSIENT_CANCELLATIONS = new Set([
  'None',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);
const isTransientCancellation = (error: unknown): boolean => {
  const codes = cancellationReasons(error).map((r) => r.Code ?? 'None');
  return (
    codes.length > 0 && codes.every((c) => TRANSIENT_CANCELLATIONS.has(c)) && codes.some((c) => c !== 'None')
  );
};

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);

/** SDK retries are exhausted when we see these; Step Functions retries the step on StoreUnavailableError. */
export const wrapStoreError = (error: unknown, what: string): never => {
  if (error instanceof Error && (RETRYABLE.has(error.name) || isTransientCancellation(error))) {
    throw new StoreUnavailableError(`DynamoDB unavailable while ${what}: ${error.message}`, { cause: error });
  }
  throw error;
};
