/** The ASL's error contract: every Task retries, catches and times out; the names it matches are thrown by the code. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { toolRetryConfig } from '../../shared/runtime/config';
import { leaseDurationMs } from '../../shared/steps/run-tool';
import { errorClassNames } from '../helpers/error-names';

const root = join(__dirname, '..', '..');
const asl = JSON.parse(readFileSync(join(root, 'statemachines', 'agent-goal.asl.json'), 'utf8')) as {
  States: Record<string, Record<string, unknown>>;
};
const serverless = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
  functions: Record<string, { timeout?: number }>;
  provider: { timeout: number };
};

type Retrier = {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
};
type State = {
  Type: string;
  Resource?: { 'Fn::GetAtt': [string, string] } | string;
  Parameters?: Record<string, unknown>;
  TimeoutSecondsPath?: string;
  Retry?: Retrier[];
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
// Found in the source rather than imported, so the test does not depend on where shared/ keeps its errors.
const errorNames = errorClassNames([join(root, 'shared'), join(root, 'functions')]);

/**
 * Errors the Lambda service (or the Step Functions Lambda integration) raises, which every Task retries. AWS's
 * "Handling errors" guide for Lambda tasks lists these, Lambda.ClientExecutionTimeoutException included.
 */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

const CALLBACK = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

const retrierFor = (state: State, error: string): Retrier | undefined =>
  state.Retry?.find((r) => r.ErrorEquals.includes(error));

describe('agent-goal.asl.json', () => {
  it.each(tasks.filter(([, s]) => s.Resource !== CALLBACK))(
    '%s has a Retry list, a timeout and a Lambda function from serverless.yml',
    (_name, state) => {
      expect(state.Retry?.length).toBeGreaterThan(0);
      expect(state.TimeoutSeconds).toBeGreaterThan(0);
      const fn = typeof state.Resource === 'string' ? '' : (state.Resource?.['Fn::GetAtt'][0] ?? '');
      expect(serverless.functions[fn]).toBeDefined();
      // The Lambda must give up before Step Functions does, or a timed-out task keeps running unseen.
      const lambdaTimeout = serverless.functions[fn]?.timeout ?? serverless.provider.timeout;
      expect(lambdaTimeout).toBeLessThanOrEqual(state.TimeoutSeconds ?? 0);
    },
  );

  it('routes a call marked approvalTimeoutSeconds through RequestApproval, which waits for its task token until then', () => {
    // A turn without approvals keeps its shape (and cost): RunTools runs RunTool directly.
    expect((asl.States.RunTools as State).ItemProcessor).toMatchObject({ StartAt: 'RunTool' });
    expect(Object.keys((asl.States.RunTools as State).ItemProcessor?.States ?? {})).toEqual(['RunTool']);
    expect(asl.States.HasToolCalls).toMatchObject({
      Choices: [
        {
          And: [
            { Variable: '$.plan.action', StringEquals: 'tools' },
            { Variable: '$.plan.approvals', IsPresent: true },
          ],
          Next: 'RunToolsWithApprovals',
        },
        { Variable: '$.plan.action', StringEquals: 'tools', Next: 'RunTools' },
        expect.anything(),
      ],
    });
    const processor = (asl.States.RunToolsWithApprovals as State).ItemProcessor?.States ?? {};
    expect(processor.NeedsApproval).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.call.approvalTimeoutSeconds', IsPresent: true, Next: 'RequestApproval' }],
      Default: 'RunApprovedTool',
    });
    // The same RunTool task as the plain Map's, under another name (state names are unique in a machine).
    const { Next: _next, ...approvedTool } = processor.RunApprovedTool as State & { Next?: string };
    expect({ ...approvedTool, End: true }).toEqual(
      (asl.States.RunTools as State).ItemProcessor?.States.RunTool,
    );
    const request = processor.RequestApproval as State;
    expect(request.Resource).toBe(CALLBACK);
    expect(request.TimeoutSecondsPath).toBe('$.call.approvalTimeoutSeconds');
    expect(request.TimeoutSeconds).toBeUndefined();
    expect(request.Parameters).toMatchObject({
      FunctionName: { 'Fn::GetAtt': ['requestApproval', 'Arn'] },
      Payload: { 'taskToken.$': '$$.Task.Token', 'call.$': '$.call' },
    });
    expect(serverless.functions.requestApproval).toBeDefined();
    for (const error of LAMBDA_SERVICE_ERRORS) expect(retrierFor(request, error)).toBeDefined();
    // Expiry is not a failure of the goal: the call goes on to RunTool, which records it expired.
    const expiry = request.Catch?.find((c) => c.ErrorEquals.includes('States.Timeout'));
    expect(processor[expiry?.Next ?? '']).toMatchObject({
      Type: 'Pass',
      Result: { decision: 'expired' },
      ResultPath: '$.approval',
      Next: 'RunApprovedTool',
    });
    expect(request).toMatchObject({ ResultPath: '$.approval', Next: 'RunApprovedTool' });
  });

  it('catches every failure of the top-level steps into RecordFailure, through a Pass naming the step, or the final Fail state', () => {
    const topLevel = Object.entries(asl.States as Record<string, State>).filter(
      ([, s]) => s.Type === 'Task' || s.Type === 'Map',
    );
    for (const [name, state] of topLevel) {
      const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));
      if (name === 'RecordFailure') {
        expect(catchAll?.Next).toBe('GoalFailed');
        continue;
      }
      // The Pass records which state failed in $.failedStep; RecordFailure stores it as the session's error.step.
      const pass = asl.States[catchAll?.Next ?? ''];
      expect({ name, pass }).toEqual({
        name,
        pass: expect.objectContaining({
          Type: 'Pass',
          Result: name,
          ResultPath: '$.failedStep',
          Next: 'RecordFailure',
        }),
      });
    }
    expect(asl.States.RecordFailure?.Parameters).toMatchObject({ 'step.$': '$.failedStep' });
  });

  it('retries only errors that exist: AWS Lambda service errors or error classes of the code', () => {
    expect(errorNames.has('EventPublishError')).toBe(true); // the source scan finds the classes at all
    const retried = tasks.flatMap(([, s]) => (s.Retry ?? []).flatMap((r) => r.ErrorEquals));
    for (const name of retried) {
      expect({ name, known: LAMBDA_SERVICE_ERRORS.includes(name) || errorNames.has(name) }).toEqual({
        name,
        known: true,
      });
    }
    expect(retried).toEqual(expect.arrayContaining(['ModelThrottledError', 'StoreUnavailableError']));
  });

  it.each(tasks)(
    '%s retries every Lambda service error, ClientExecutionTimeoutException included',
    (_name, state) => {
      for (const error of LAMBDA_SERVICE_ERRORS) expect(retrierFor(state, error)).toBeDefined();
    },
  );

  it.each(tasks)('%s retries with capped exponential backoff and full jitter', (_name, state) => {
    // The lease wait is the exception: a jittered or capped wait could end before the lease does.
    for (const retrier of (state.Retry ?? []).filter(
      (r) => !r.ErrorEquals.includes('ToolCallInProgressError'),
    )) {
      expect(retrier).toMatchObject({ BackoffRate: 2, MaxDelaySeconds: 10, JitterStrategy: 'FULL' });
    }
  });

  it('RunTool waits out a tool-call lease before each retry of a call another attempt is running', () => {
    const state = states.find(([n]) => n === 'RunTool')?.[1];
    const retrier = state && retrierFor(state, 'ToolCallInProgressError');
    expect(retrier?.JitterStrategy).toBeUndefined();
    expect((retrier?.IntervalSeconds ?? 0) * 1000).toBeGreaterThanOrEqual(
      leaseDurationMs(toolRetryConfig({})),
    );
    expect(retrier?.MaxAttempts).toBeGreaterThanOrEqual(1);
  });

  // A failed PutEvents after the session committed must not end the goal without its lifecycle event: the step
  // runs again (its store writes are idempotent) and publishes. MaxAttempts counts retries, not tries. Plan and
  // RunTool publish circuit-breaker transitions: a failed publish must not fail the goal (the breaker's state in
  // the table is what counts; a retried RunTool replays its recorded call).
  it.each([
    ['Finalize', 3],
    ['RecordFailure', 5],
    ['Plan', 3],
    ['RunTool', 3],
  ])('%s retries EventPublishError %i times with full jitter', (name, retries) => {
    const state = states.find(([n]) => n === name)?.[1];
    expect(state && retrierFor(state, 'EventPublishError')).toEqual({
      ErrorEquals: ['EventPublishError'],
      IntervalSeconds: 1,
      MaxAttempts: retries,
      BackoffRate: 2,
      MaxDelaySeconds: 10,
      JitterStrategy: 'FULL',
    });
  });
});
