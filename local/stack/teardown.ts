/** What a starting stack must undo: the services started so far (stopped in reverse) and the process.env it set. */
import { LocalError } from '../aws/errors';

export class LocalStackError extends LocalError {}

/** Sets variables on process.env and remembers what they were, so the stack leaves the process as it found it. */
export class HostEnvironment {
  private readonly previous = new Map<string, string | undefined>();

  set(vars: Record<string, string>): void {
    for (const [name, value] of Object.entries(vars)) {
      if (!this.previous.has(name)) this.previous.set(name, process.env[name]);
      process.env[name] = value;
    }
  }

  unset(name: string): void {
    if (process.env[name] === undefined) return;
    if (!this.previous.has(name)) this.previous.set(name, process.env[name]);
    delete process.env[name];
  }

  restore(): void {
    for (const [name, value] of this.previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    this.previous.clear();
  }
}

/** Services in start order; stop() stops them in reverse, once, and reports every failure together. */
export class Teardown {
  private readonly steps: { name: string; stop: () => Promise<void> }[] = [];
  private stopping: Promise<void> | undefined;

  add(name: string, stop: () => Promise<void>): void {
    this.steps.push({ name, stop });
  }

  /** Stops everything added so far, then runs `finally` (restoring the environment). */
  stop(finallyDo: () => void): Promise<void> {
    this.stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const { name, stop } of this.steps.splice(0).reverse()) {
        try {
          await stop();
        } catch (error) {
          errors.push(new LocalStackError(`Stopping ${name} failed`, { cause: error }));
        }
      }
      finallyDo();
      if (errors.length > 0) throw new AggregateError(errors, 'The local stack did not stop cleanly');
    })();
    return this.stopping;
  }
}
