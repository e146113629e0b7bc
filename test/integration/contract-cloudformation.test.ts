/**
 * Contract of the local CloudFormation stand-in, exercised through the real @aws-sdk/client-cloudformation (reached
 * via AWS_ENDPOINT_URL_CLOUDFORMATION, as osls's `sls invoke local` reaches it to resolve `{ Ref: ... }` in function
 * environments), and one `sls invoke local` run against the local stack.
 *
 * References (AWS documentation, found with the docs search):
 * - ListStackResources: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html
 *   (StackName is "the name or the unique stack ID"; StackResourceSummaries with LogicalResourceId,
 *   PhysicalResourceId, ResourceType, ResourceStatus, LastUpdatedTimestamp).
 * - DescribeStacks: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html
 *   ("If the stack doesn't exist, a ValidationError is returned.").
 * - The unknown-stack answer `ValidationError: Stack with id <name> does not exist` (status 400, Type Sender), as
 *   logged from AWS in https://github.com/boto/boto3/issues/2807.
 * Physical ids are what `Ref` resolves to everywhere else in the local stack (local/serverless-config.ts): the
 * state machine's ARN, the functions' deployed names, the table and bus names.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListExportsCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import { deployedStack } from '../../local/cloudformation/deployed-stack';
import { intrinsicContext } from '../../local/stack/serverless-config';
import type { LocalStack } from '../../local/stack/start';
import { loadEvent, root, startTestStack } from './helpers';

let stack: LocalStack;
let cloudFormation: CloudFormationClient;

beforeAll(async () => {
  stack = await startTestStack();
  // No endpoint option: the client finds the stand-in through AWS_ENDPOINT_URL_CLOUDFORMATION, as sls does.
  cloudFormation = new CloudFormationClient({});
});

afterAll(async () => {
  cloudFormation?.destroy();
  await stack?.stop();
});

const STACK = 'sovereign-agent-local';

describe('ListStackResources', () => {
  it('reports the deployed stack: the state machine ARN, function names, table and bus names by logical id', async () => {
    // Act
    const out = await cloudFormation.send(new ListStackResourcesCommand({ StackName: STACK }));

    // Assess
    const byId = new Map(out.StackResourceSummaries?.map((r) => [r.LogicalResourceId, r]));
    expect(byId.get('AgentGoalStateMachine')).toMatchObject({
      PhysicalResourceId: stack.env.STATE_MACHINE_ARN,
      ResourceType: 'AWS::StepFunctions::StateMachine',
      ResourceStatus: 'CREATE_COMPLETE',
    });
    expect(stack.env.STATE_MACHINE_ARN).toBe(
      'arn:aws:states:us-east-1:000000000000:stateMachine:sovereign-agent-local-agent-goal',
    );
    expect(byId.get('AgentGoalStateMachine')?.LastUpdatedTimestamp).toBeInstanceOf(Date);
    expect(byId.get('IntakeLambdaFunction')).toMatchObject({
      PhysicalResourceId: 'sovereign-agent-local-intake',
      ResourceType: 'AWS::Lambda::Function',
    });
    expect(byId.get('BillingActionGroupLambdaFunction')?.PhysicalResourceId).toBe(
      'sovereign-agent-local-billingActionGroup',
    );
    expect(byId.get('AgentTable')).toMatchObject({
      PhysicalResourceId: stack.env.TABLE_NAME,
      ResourceType: 'AWS::DynamoDB::Table',
    });
    expect(byId.get('AgentBus')).toMatchObject({
      PhysicalResourceId: stack.env.EVENT_BUS_NAME,
      ResourceType: 'AWS::Events::EventBus',
    });
    expect(byId.get('IntakeDeadLetterQueue')).toMatchObject({
      PhysicalResourceId: `${stack.env.AWS_ENDPOINT_URL_SQS}/000000000000/sovereign-agent-local-intake-dead-letters`,
      ResourceType: 'AWS::SQS::Queue',
    });
    // One `<Fn>LambdaFunction` per function of serverless.yml, and function keys are not logical ids.
    const functionIds = [...byId.keys()].filter((id) => id?.endsWith('LambdaFunction'));
    expect(functionIds).toHaveLength(Object.keys(stack.config.functions).length);
    expect(byId.has('intake')).toBe(false);
    expect(out.NextToken).toBeUndefined();
  });

  it('accepts the stack id from DescribeStacks in place of the name', async () => {
    // Prepare
    const described = await cloudFormation.send(new DescribeStacksCommand({ StackName: STACK }));
    const stackId = described.Stacks?.[0]?.StackId;
    expect(stackId).toMatch(
      /^arn:aws:cloudformation:us-east-1:000000000000:stack\/sovereign-agent-local\/[0-9a-f-]{36}$/,
    );

    // Act
    const out = await cloudFormation.send(new ListStackResourcesCommand({ StackName: stackId }));

    // Assess
    expect(out.StackResourceSummaries?.map((r) => r.LogicalResourceId)).toContain('AgentGoalStateMachine');
  });

  it('answers ValidationError (400) naming an unknown stack, as for another stage that is not deployed', async () => {
    // Act
    const call = cloudFormation.send(new ListStackResourcesCommand({ StackName: 'sovereign-agent-prod' }));

    // Assess
    await expect(call).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'Stack with id sovereign-agent-prod does not exist',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
  });
});

describe('DescribeStacks and ListExports', () => {
  it('describes the stack with the Outputs of serverless.yml resolved, and lists no exports', async () => {
    // Act
    const described = await cloudFormation.send(new DescribeStacksCommand({ StackName: STACK }));
    const exports = await cloudFormation.send(new ListExportsCommand({}));

    // Assess
    const [only] = described.Stacks ?? [];
    expect(only).toMatchObject({ StackName: STACK, StackStatus: 'CREATE_COMPLETE' });
    expect(only?.CreationTime).toBeInstanceOf(Date);
    const outputs = Object.fromEntries(only?.Outputs?.map((o) => [o.OutputKey, o.OutputValue]) ?? []);
    expect(outputs).toEqual({
      AgentTableName: stack.env.TABLE_NAME,
      AgentBusName: stack.env.EVENT_BUS_NAME,
      AgentGoalStateMachineArn: stack.env.STATE_MACHINE_ARN,
      // A queue's Ref is its URL; locally it names the SQS stand-in, so an SDK client can use it as is.
      IntakeDeadLetterQueueUrl: `${stack.env.AWS_ENDPOINT_URL_SQS}/000000000000/sovereign-agent-local-intake-dead-letters`,
      IntakeDeadLetterQueueArn:
        'arn:aws:sqs:us-east-1:000000000000:sovereign-agent-local-intake-dead-letters',
      // A topic's Ref is its ARN; the local SNS serves it.
      AlertTopicArn: 'arn:aws:sns:us-east-1:000000000000:sovereign-agent-local-cost-alerts',
    });
    // serverless.yml declares no Export names, so nothing is importable.
    expect(exports.Exports).toEqual([]);
    await expect(cloudFormation.send(new DescribeStacksCommand({ StackName: 'nope' }))).rejects.toMatchObject(
      { name: 'ValidationError', message: 'Stack with id nope does not exist' },
    );
  });

  it('leaves out, and names, an output that refers to a resource the local stack does not model', () => {
    // Prepare: serverless.yml grown by an output on a topic the local stack has no stand-in for.
    const config = {
      ...stack.config,
      outputs: { ...stack.config.outputs, AlertsTopicArn: { Value: { Ref: 'AlertsTopic' } } },
    };

    // Act
    const deployed = deployedStack(config, intrinsicContext(config));

    // Assess
    expect(deployed.outputs.map((o) => o.key)).toEqual([
      'AgentTableName',
      'AgentBusName',
      'AgentGoalStateMachineArn',
      'IntakeDeadLetterQueueUrl',
      'IntakeDeadLetterQueueArn',
      'AlertTopicArn',
    ]);
    expect(deployed.skippedOutputs).toEqual([expect.stringContaining('"AlertsTopic"')]);
    expect(deployed.skippedOutputs[0]).toContain('resources.Outputs.AlertsTopicArn.Value');
  });

  it('refuses actions it does not model with InvalidAction instead of pretending', async () => {
    // Act
    const response = await fetch(stack.env.AWS_ENDPOINT_URL_CLOUDFORMATION ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=DeleteStack&StackName=sovereign-agent-local&Version=2010-05-15',
    });

    // Assess
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('<Code>InvalidAction</Code>');
    expect(body).toContain('DeleteStack');
  });
});

/** The result `sls invoke local` prints last: a pretty-printed JSON object after the function's log lines. */
const lastPrettyJson = (stdout: string): unknown => {
  const start = stdout.lastIndexOf('\n{\n');
  return JSON.parse(start === -1 ? stdout : stdout.slice(start + 1));
};

describe('sls invoke local', () => {
  it('runs intake with STATE_MACHINE_ARN resolved through the stand-in and rejects events/goal-invalid.json', async () => {
    // Prepare: the shell of a developer who exported what `serve` printed (and no real AWS profile).
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('AWS_')) env[name] = value;
    }
    Object.assign(env, stack.env, { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' });
    const event = loadEvent('goal-invalid.json');

    // Act
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn(
        join(root, 'node_modules', '.bin', 'sls'),
        ['invoke', 'local', '--stage', 'local', '-f', 'intake', '-p', 'events/goal-invalid.json'],
        { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (exitCode) =>
        resolve({
          code: exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
    });

    // Assess
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(lastPrettyJson(stdout)).toMatchObject({
      outcome: 'rejected',
      reason: 'Invalid "Agent Goal Submitted" detail',
      issues: expect.arrayContaining(['tenantId: tenantId is required', 'goal: goal must not be empty']),
    });
    // The handler's own clients reached this stack: its rejection is on this stack's bus.
    const rejected = await stack.eventBridge.waitForEvent(
      (e) => e.event['detail-type'] === 'Agent Goal Rejected' && e.event.detail.eventId === event.id,
      5_000,
    );
    expect(rejected.event.source).toBe('sovereign-agent');
  }, 90_000);
});
