/** Errors of the billing action group; the ones with a responseState go back to the model, the rest throw. */
import type { ActionGroupResponseState } from '../../../shared/contracts/action-group';

/** Base error of the billing action group. */
export class BillingError extends Error {
  /** How the error reaches the caller: a FAILURE/REPROMPT response, or (undefined) a thrown function error. */
  readonly responseState: ActionGroupResponseState | undefined = undefined;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BillingError';
  }
}

/** The session's tenant has no billing data. */
export class UnknownTenantError extends BillingError {
  override readonly responseState = 'FAILURE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownTenantError';
  }
}

/** The model asked for a tenant other than the session's. */
export class TenantMismatchError extends BillingError {
  override readonly responseState = 'FAILURE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TenantMismatchError';
  }
}

/** The caller did not set sessionAttributes.tenantId, so no tenant may be acted for. */
export class MissingSessionTenantError extends BillingError {
  override readonly responseState = 'FAILURE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MissingSessionTenantError';
  }
}

/** A side-effecting tool was called without sessionAttributes.idempotencyKey. */
export class MissingIdempotencyKeyError extends BillingError {
  override readonly responseState = 'FAILURE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MissingIdempotencyKeyError';
  }
}

/** The event names a function this action group does not have. */
export class UnknownFunctionError extends BillingError {
  override readonly responseState = 'FAILURE';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnknownFunctionError';
  }
}

/** The tool input does not match the operation's schema; the model can correct it, hence REPROMPT. */
export class InvalidToolInputError extends BillingError {
  override readonly responseState = 'REPROMPT';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidToolInputError';
  }
}

/** The report table could not be read or written; thrown so the caller retries the call. */
export class ReportStoreError extends BillingError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReportStoreError';
  }
}
