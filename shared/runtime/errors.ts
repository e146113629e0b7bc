/** Error classes of sovereign-agent. Their names are a contract: the ASL Retry/Catch lists match on them. */

export class SovereignAgentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SovereignAgentError';
  }
}

/** A required environment variable is missing or malformed: fails the cold start with its name. */
export class ConfigError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A goal or resume event that cannot be accepted; `issues` lists what is wrong, field by field. */
export class InvalidGoalError extends SovereignAgentError {
  constructor(
    message: string,
    readonly issues: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InvalidGoalError';
  }
}

/**
 * A step received a payload outside its input schema: a bug in the state machine or a caller, not a bad goal.
 * Not retried (the same payload fails the same way); the ASL's Catch (States.ALL) routes it to RecordFailure.
 */
export class StepInputError extends SovereignAgentError {
  constructor(
    message: string,
    readonly issues: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StepInputError';
  }
}

/** An agent profile or action-group registry entry is invalid or unknown. */
export class ProfileError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProfileError';
  }
}

export class SessionNotFoundError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionNotFoundError';
  }
}

/** The session is not in the state the step expects (e.g. planning a completed session). Not retryable. */
export class SessionStateError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionStateError';
  }
}

/** Bedrock throttled the call after the SDK's own retries; Step Functions retries the Plan step with full jitter. */
export class ModelThrottledError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelThrottledError';
  }
}

/** Bedrock was unavailable or timed out (5xx, ModelTimeout, ModelNotReady); retried like throttling. */
export class ModelUnavailableError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelUnavailableError';
  }
}

/** Bedrock rejected the request (validation, access, unknown model): retrying will not help. */
export class ModelRequestError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelRequestError';
  }
}

/** DynamoDB was throttled or unavailable after the SDK's retries; retried by Step Functions. */
export class StoreUnavailableError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A stored item does not fit its schema (a shape change or a bad write): not retried, the same read fails again. */
export class StoreItemError extends SovereignAgentError {
  constructor(
    message: string,
    readonly issues: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreItemError';
  }
}

/** No price is known for a model: cost could not be settled, so the call is not made. */
/** The model catalog is invalid, or a configured model id is not in it. */
export class CatalogError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CatalogError';
  }
}

export class PricingError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PricingError';
  }
}

/** Publishing to EventBridge failed for some entries. */
export class EventPublishError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventPublishError';
  }
}

/** An action-group Lambda failed (function error or transport); retried with full jitter, then fed to the model. */
export class ToolInvocationError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToolInvocationError';
  }
}

/** An action-group Lambda did not answer within the tool timeout. */
export class ToolTimeoutError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToolTimeoutError';
  }
}

/**
 * The action-group Lambda's invocation ended without an answer after the handler may have run: its runtime
 * crashed or the sandbox timed out (Runtime.* / Sandbox.Timedout function errors,
 * https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html). A side effect may have happened.
 */
export class ToolCrashedError extends ToolInvocationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToolCrashedError';
  }
}

/**
 * Another RunTool attempt holds a live lease on this tool call: it is running now and must not run twice. The
 * ASL's RunTool Retry waits on this name with intervals that outlast a lease, then the call is replayed or taken over.
 */
export class ToolCallInProgressError extends SovereignAgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToolCallInProgressError';
  }
}
