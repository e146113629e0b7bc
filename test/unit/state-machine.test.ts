/** The ASL's error contract: every Task retries, catches and times out; the names it matches exist in shared/errors. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as errors from '../../shared/errors';

const root = join(__dirname, '..', '..');
const asl = JSON.parse(readFileSync(join(root, 'statemachines', 'agent-goal.asl.json'), 'utf8')) as {
  States: Record<string, Record<string, unknown>>;
};
const serverless = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
  functions: Record<string, { timeout?: number }>;
  provider: { timeout: number };
};

type State = {
  Type: string;
  Resource?: { 'Fn::GetAtt': [string, string] };
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  TimeoutSeconds?: number;
  ItemProcessor?: { States: Record<string, State> };
};

const allStates = (states: Record<string, State>): [string, State][] =>
  Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);

const states = allStates(asl.States as Record<string, State>);
const tasks = states.filter(([, s]) => s.Type === 'Task');
const errorNames = new Set(
  Object.values(errors).flatMap((value) => {
    if (typeof value !== 'function') return [];
    try {
      return [new (value as new (message: string) => Error)('probe').name];
    } catch {
      return [];
    }
  }),
);

describe('agent-goal.asl.json', () => {
  it.each(tasks)(
    '%s has a Retry list, a timeout and a Lambda function from serverless.yml',
    (_name, state) => {
      expect(state.Retry?.length).toBeGreaterThan(0);
      expect(state.TimeoutSeconds).toBeGreaterThan(0);
      const fn = state.Resource?.['Fn::GetAtt'][0] ?? '';
      expect(serverless.functions[fn]).toBeDefined();
      // The Lambda must give up before Step Functions does, or a timed-out task keeps running unseen.
      const lambdaTimeout = serverless.functions[fn]?.timeout ?? serverless.provider.timeout;
      expect(lambdaTimeout).toBeLessThanOrEqual(state.TimeoutSeconds ?? 0);
    },
  );

  it('catches every failure of the top-level steps into RecordFailure or the final Fail state', () => {
    const topLevel = Object.entries(asl.States as Record<string, State>).filter(
      ([, s]) => s.Type === 'Task' || s.Type === 'Map',
    );
    for (const [name, state] of topLevel) {
      const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));
      expect({ name, next: catchAll?.Next }).toEqual({
        name,
        next: name === 'RecordFailure' ? 'GoalFailed' : 'RecordFailure',
      });
    }
  });

  it('retries only errors that exist: AWS Lambda service errors or classes in shared/errors.ts', () => {
    const retried = tasks.flatMap(([, s]) => (s.Retry ?? []).flatMap((r) => r.ErrorEquals));
    for (const name of retried) {
      expect(name.startsWith('Lambda.') || errorNames.has(name)).toBe(true);
    }
    expect(retried).toEqual(expect.arrayContaining(['ModelThrottledError', 'StoreUnavailableError']));
  });
});
