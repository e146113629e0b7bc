/** The base error of the local stack and CLI: every local error class extends it and is named after its class. */
export class LocalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The class name is the error name (local/ runs unminified), so subclasses need no constructor of their own.
    this.name = new.target.name;
  }
}
