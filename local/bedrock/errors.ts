/** Errors of the local Bedrock Runtime emulator, and the Converse error types it can answer with. */
import { LocalError } from '../aws/errors';

/**
 * Converse error types and their HTTP statuses, as listed under "Errors" in the Converse API reference
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors)
 * and as the SDK's error schemas declare them.
 */
export const CONVERSE_ERROR_STATUS = {
  AccessDeniedException: 403,
  InternalServerException: 500,
  ModelErrorException: 424,
  ModelNotReadyException: 429,
  ModelTimeoutException: 408,
  ResourceNotFoundException: 404,
  ServiceUnavailableException: 503,
  ThrottlingException: 429,
  ValidationException: 400,
} as const;

export type ConverseErrorType = keyof typeof CONVERSE_ERROR_STATUS;
export const CONVERSE_ERROR_TYPES = Object.keys(CONVERSE_ERROR_STATUS) as [
  ConverseErrorType,
  ...ConverseErrorType[],
];

/** Base error of the emulator domain. */
export class BedrockEmulatorError extends LocalError {}

/** A Converse call the emulator answers with an error response (`x-amzn-errortype` + status). */
export class ConverseFaultError extends BedrockEmulatorError {
  readonly errorType: ConverseErrorType;
  readonly status: number;
  constructor(errorType: ConverseErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConverseFaultError';
    this.errorType = errorType;
    this.status = CONVERSE_ERROR_STATUS[errorType];
  }
}

/** The request breaks a rule Bedrock enforces: answered as 400 ValidationException. */
export class ConverseValidationError extends ConverseFaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ValidationException', message, options);
    this.name = 'ConverseValidationError';
  }
}

/** A model script (PUT /_local/scripts/<sessionId> or setScript) is not valid. */
export class ModelScriptError extends BedrockEmulatorError {}

/** A control call to a running emulator (putModelScript) did not succeed. */
export class EmulatorControlError extends BedrockEmulatorError {
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.name = 'EmulatorControlError';
    this.status = options?.status;
  }
}
