/** Temporary re-export for test/unit/state-machine.test.ts (owned by another branch); delete once it imports runtime/errors. */
export * from './runtime/errors';
