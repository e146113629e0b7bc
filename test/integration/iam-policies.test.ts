/**
 * Least-privilege IAM, checked on the packaged CloudFormation template (`sls package --stage dev --param kmsKey=on`,
 * offline, its Conditions applied as a deploy would: test/helpers/template.ts), the way
 * serverless-step-functions' own tests assert on IAM statements: each function's role allows exactly the actions its
 * code can call on exactly the resources it touches, no statement says `Resource: "*"` except X-Ray, the state machine
 * may invoke exactly the functions its ASL names, and the template has no dependency cycle (CloudFormation refuses
 * one at deploy time, which `sls package` does not notice).
 *
 * What a function's code calls is derived, not listed: test/helpers/sdk-calls.ts walks the call graph from the
 * handler serverless.yml names (TypeScript checker, the project's own source only) and collects every AWS SDK
 * command it can construct; COMMAND_GRANTS below maps each command to its IAM action and resource. The walk
 * over-approximates (every reachable branch counts) and covers callbacks stored in interface-typed members by rapid
 * type analysis (see that module's header); a command the table does not know fails the test by name. Grants no
 * code calls come from the deploy configuration, also read from the template: an async invocation's on-failure
 * destination is sent by Lambda with the function's own role.
 *
 * IAM facts the mapping relies on (AWS documentation, found with the docs search):
 * - DynamoDB's actions are named after its API operations (lib-dynamodb's GetCommand sends GetItem, and so on).
 *   TransactWriteItems has no IAM action of its own: "Permissions for Put, Update, Delete, and Get actions are
 *   governed by the permissions used for the underlying PutItem, UpdateItem, DeleteItem, and GetItem operations", and
 *   a ConditionCheck needs dynamodb:ConditionCheckItem
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
 * - Converse "requires permission for the bedrock:InvokeModel action"
 *   (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).
 * - InvokeEndpoint is authorized as sagemaker:InvokeEndpoint on the endpoint's ARN,
 *   arn:${Partition}:sagemaker:${Region}:${Account}:endpoint/${EndpointName}, the name lower-cased
 *   (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
 * - Lambda Invoke is authorized as lambda:InvokeFunction; PutEvents as events:PutEvents; StartExecution as
 *   states:StartExecution (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
 * - Lambda sends an asynchronous invocation's record to its destination with the function's execution role, so an
 *   SQS destination needs sqs:SendMessage in that role, and an SSE-KMS queue kms:GenerateDataKey and kms:Decrypt on
 *   its key (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html,
 *   https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
 * - xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions: `*` is required.
 * - SNS Publish is authorized as sns:Publish on the topic; publishing to a topic encrypted with a customer managed
 *   key also needs kms:GenerateDataKey and kms:Decrypt on that key
 *   (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
 * - With kmsKey on, the stage's key (AgentKey) encrypts the table, the topic, the queue and the state machine: DynamoDB
 *   calls KMS with the caller's credentials, so every table request needs the key too
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html); StartExecution
 *   of an encrypted state machine is counted too (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html;
 *   its two callers hold the grant for the table anyway). The grant is kms:Decrypt and
 *   kms:GenerateDataKey on that key's ARN, never on "*". The bus is encrypted by EventBridge itself (a service
 *   principal of the key policy): PutEvents needs no key grant
 *   (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-key-policy.html).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { commandsReachedFrom, projectProgram, type SdkCommand } from '../helpers/sdk-calls';
import {
  type CloudFormationTemplate,
  LOG_DELIVERY_ACTIONS,
  packageRawTemplate,
  resolveConditions,
  repoRoot as root,
  XRAY_ACTIONS,
} from '../helpers/template';

const SERVICE = 'sovereign-agent';
const STAGE = 'dev';

// ---------------------------------------------------------------------------------------------------------
// What each function's code calls, as "<action> on <resource>". Resources are written as the template names them:
// `X.Arn` is {"Fn::GetAtt": [X, Arn]}, `Ref X` is {"Ref": X} (for a state machine, its ARN), other strings are
// Fn::Sub templates or literals.

const on = (resource: string, ...actions: string[]): string[] => actions.map((a) => `${a} on ${resource}`);

const TABLE = 'AgentTable.Arn';
const TABLE_INDEXES = `\${AgentTable.Arn}/index/*`;
const BUS = 'AgentBus.Arn';
// Built from its name (custom.stateMachineArn): ContinueAsNew, a Task of the machine, cannot Ref it back.
const STATE_MACHINE = `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:sovereign-agent-dev-agent-goal`;
const BILLING_FUNCTION = 'BillingActionGroupLambdaFunction.Arn';
/**
 * The models the dev stage's tiers configure (serverless.yml params, read from shared/agent/models/catalog.json by
 * shared/agent/models/iam.js), written out: each US inference profile in the stage's region and its foundation model
 * in each of the profile's destination regions (Bedrock user guide, "Supported Regions and models for inference
 * profiles"). No wildcard model: a tier can call exactly these. The private tier is SageMaker's, not Bedrock's.
 */
const profileAndModels = (profileId: string, foundationModelId: string, regions: string[]): string[] => [
  `arn:\${AWS::Partition}:bedrock:\${AWS::Region}:\${AWS::AccountId}:inference-profile/${profileId}`,
  ...regions.map(
    (region) => `arn:\${AWS::Partition}:bedrock:${region}::foundation-model/${foundationModelId}`,
  ),
];
const US_CLAUDE_REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'];
// The stage's private endpoint (param privateModelEndpoint, lower case), and nothing else SageMaker serves.
const PRIVATE_ENDPOINT = `arn:\${AWS::Partition}:sagemaker:\${AWS::Region}:\${AWS::AccountId}:endpoint/${SERVICE}-${STAGE}-private`;
const ALERT_TOPIC = 'Ref AlertTopic';
// The stage's one customer-managed key (kmsKey on): infra/security.yml.
const AGENT_KEY = 'AgentKey.Arn';
const KEY_USE = on(AGENT_KEY, 'kms:Decrypt', 'kms:GenerateDataKey');
const BEDROCK_MODELS = [
  ...profileAndModels('us.anthropic.claude-sonnet-4-6', 'anthropic.claude-sonnet-4-6', US_CLAUDE_REGIONS),
  ...profileAndModels(
    'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    'anthropic.claude-haiku-4-5-20251001-v1:0',
    US_CLAUDE_REGIONS,
  ),
  ...profileAndModels('us.amazon.nova-lite-v1:0', 'amazon.nova-lite-v1:0', [
    'us-east-1',
    'us-east-2',
    'us-west-2',
  ]),
];

/** DynamoDB commands (lib-dynamodb and client-dynamodb names) and the one action each needs on the table. */
const DYNAMODB_ACTIONS: Record<string, string> = {
  GetCommand: 'dynamodb:GetItem',
  GetItemCommand: 'dynamodb:GetItem',
  PutCommand: 'dynamodb:PutItem',
  PutItemCommand: 'dynamodb:PutItem',
  UpdateCommand: 'dynamodb:UpdateItem',
  UpdateItemCommand: 'dynamodb:UpdateItem',
  DeleteCommand: 'dynamodb:DeleteItem',
  DeleteItemCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query',
  ScanCommand: 'dynamodb:Scan',
  BatchGetCommand: 'dynamodb:BatchGetItem',
  BatchGetItemCommand: 'dynamodb:BatchGetItem',
  BatchWriteCommand: 'dynamodb:BatchWriteItem',
  BatchWriteItemCommand: 'dynamodb:BatchWriteItem',
};
const TRANSACTIONS = new Set([
  'TransactWriteCommand',
  'TransactWriteItemsCommand',
  'TransactGetCommand',
  'TransactGetItemsCommand',
]);
/** A transaction is authorized item by item, by the kind of each item in TransactItems. */
const TRANSACT_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};
/** Every other command the code may send, with the resources its role may reach. */
const OTHER_COMMANDS: Record<string, string[]> = {
  PutEventsCommand: on(BUS, 'events:PutEvents'),
  StartExecutionCommand: [...on(STATE_MACHINE, 'states:StartExecution'), ...KEY_USE],
  // A callback Task's token is answered on the state machine that issued it (aws-cdk-lib grantTaskResponse).
  SendTaskSuccessCommand: on(STATE_MACHINE, 'states:SendTaskSuccess'),
  // The only action group today; a new one adds its function here and in serverless.yml.
  InvokeCommand: on(BILLING_FUNCTION, 'lambda:InvokeFunction'),
  // Tier model ids are stage params: a foundation model, an inference profile or an imported model.
  ConverseCommand: BEDROCK_MODELS.flatMap((arn) => on(arn, 'bedrock:InvokeModel')),
  InvokeEndpointCommand: on(PRIVATE_ENDPOINT, 'sagemaker:InvokeEndpoint'),
  // The one topic (cost alerts), encrypted with the stage key.
  PublishCommand: [...on(ALERT_TOPIC, 'sns:Publish'), ...KEY_USE],
};

const grantsOfCommand = (command: SdkCommand): string[] => {
  if (TRANSACTIONS.has(command.name)) {
    const kinds = command.requestKeys.filter((key) => key in TRANSACT_ITEM_ACTIONS);
    if (kinds.length === 0) {
      throw new Error(
        `${command.name} at ${command.at}: write its TransactItems inline so the item kinds show`,
      );
    }
    return [...kinds.flatMap((kind) => on(TABLE, TRANSACT_ITEM_ACTIONS[kind] ?? '')), ...KEY_USE];
  }
  const dynamodb = DYNAMODB_ACTIONS[command.name];
  // A request naming an index reads the index, a resource of its own.
  if (dynamodb)
    return [...on(command.requestKeys.includes('IndexName') ? TABLE_INDEXES : TABLE, dynamodb), ...KEY_USE];
  const other = OTHER_COMMANDS[command.name];
  if (!other) throw new Error(`${command.name} at ${command.at} has no IAM mapping in this test: add one`);
  return other;
};

/** Function keys and handlers as serverless.yml declares them (`path/to/file.export`). */
const serverlessFunctions = (
  parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
    functions: Record<string, { handler: string }>;
  }
).functions;
const FUNCTION_KEYS = Object.keys(serverlessFunctions);

const handlerOf = (key: string): { file: string; exportName: string } => {
  const handler = serverlessFunctions[key]?.handler ?? '';
  const dot = handler.lastIndexOf('.');
  return { file: join(root, `${handler.slice(0, dot)}.ts`), exportName: handler.slice(dot + 1) };
};

/** The SDK commands each function's handler can reach, walked once for all handlers. */
const commandsByFunction = (): Record<string, SdkCommand[]> => {
  const program = projectProgram(
    root,
    FUNCTION_KEYS.map((key) => handlerOf(key).file),
  );
  return Object.fromEntries(
    FUNCTION_KEYS.map((key) => {
      const { file, exportName } = handlerOf(key);
      return [key, commandsReachedFrom(program, root, file, exportName)];
    }),
  );
};

/** Every function also writes its own log group (the plugin's statement) and X-Ray traces (tracing.lambda: true). */
const runtimeGrants = (functionKey: string): string[] => [
  ...on(
    `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${SERVICE}-${STAGE}-${functionKey}:*:*`,
    'logs:CreateLogStream',
    'logs:CreateLogGroup',
    'logs:PutLogEvents',
  ),
  ...on('*', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords'),
];

// ---------------------------------------------------------------------------------------------------------
// The parts of the template read here. Statements are strict: a Deny, NotAction, NotResource or Condition fails the
// parse, because none is expected and each would change what the comparison below means.

const intrinsic = z.union([
  z.object({ Ref: z.string() }).strict(),
  z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) }).strict(),
  z
    .object({ 'Fn::Sub': z.union([z.string(), z.tuple([z.string(), z.record(z.string(), z.unknown())])]) })
    .strict(),
]);
type Intrinsic = z.infer<typeof intrinsic>;
// Other shapes (Fn::Join, Fn::ImportValue...) parse too and keep their JSON, so a failing diff shows them.
const resourceValue = z.union([z.string(), intrinsic, z.record(z.string(), z.unknown())]);
const statementSchema = z
  .object({
    Sid: z.string().optional(),
    Effect: z.literal('Allow'),
    Action: z.union([z.string(), z.array(z.string()).min(1)]),
    Resource: z.union([resourceValue, z.array(resourceValue).min(1)]),
  })
  .strict();
const policyDocument = z.looseObject({ Statement: z.array(statementSchema) });
const roleSchema = z.looseObject({
  Type: z.literal('AWS::IAM::Role'),
  Properties: z.looseObject({
    AssumeRolePolicyDocument: z.looseObject({ Statement: z.array(z.record(z.string(), z.unknown())) }),
    Policies: z.array(z.looseObject({ PolicyDocument: policyDocument })).default([]),
    ManagedPolicyArns: z.array(z.unknown()).default([]),
  }),
});
const templateSchema = z.looseObject({
  Resources: z.record(
    z.string(),
    z.looseObject({
      Type: z.string(),
      Properties: z.record(z.string(), z.unknown()).optional(),
      DependsOn: z.union([z.string(), z.array(z.string())]).optional(),
    }),
  ),
});
type Template = z.infer<typeof templateSchema>;
type Statement = z.infer<typeof statementSchema>;

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** An intrinsic as written in the expected table: `X.Arn`, `Ref X`, or the Fn::Sub text with bound names filled in. */
const intrinsicName = (value: Intrinsic): string => {
  if ('Ref' in value) return `Ref ${value.Ref}`;
  if ('Fn::GetAtt' in value) return value['Fn::GetAtt'].join('.');
  const sub = value['Fn::Sub'];
  if (typeof sub === 'string') return sub;
  // serverless-step-functions' versions grant: {"Fn::Sub": ["${functionArn}:*", {functionArn: <GetAtt>}]}.
  const [text, variables] = sub;
  return text.replace(/\$\{(\w+)\}/g, (match, name: string) => {
    const bound = intrinsic.safeParse(variables[name]);
    return bound.success ? intrinsicName(bound.data) : match;
  });
};

/** A resource as written in the expected table; anything unexpected keeps its JSON so a diff shows it. */
const resourceName = (value: z.infer<typeof resourceValue>): string => {
  if (typeof value === 'string') return value;
  const known = intrinsic.safeParse(value);
  if (!known.success) return JSON.stringify(value);
  return intrinsicName(known.data);
};

const grantsOf = (statements: Statement[]): string[] =>
  statements.flatMap((s) =>
    asList(s.Action).flatMap((action) => asList(s.Resource).map((r) => `${action} on ${resourceName(r)}`)),
  );

/** Every Allow statement that reaches a role: its inline policies and any AWS::IAM::Policy naming it. */
const statementsOfRole = (template: Template, roleId: string): Statement[] => {
  const role = roleSchema.parse(template.Resources[roleId]);
  expect(role.Properties.ManagedPolicyArns).toEqual([]);
  const attached = Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
    .filter((r) => JSON.stringify(r.Properties?.Roles ?? []).includes(`"${roleId}"`))
    .map((r) => policyDocument.parse(r.Properties?.PolicyDocument).Statement);
  return [...role.Properties.Policies.flatMap((p) => p.PolicyDocument.Statement), ...attached.flat()];
};

const roleIdOf = (template: Template, logicalId: string): string => {
  const role = z
    .object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('Arn')]) })
    .strict()
    .parse(
      template.Resources[logicalId]?.Properties?.Role ?? template.Resources[logicalId]?.Properties?.RoleArn,
    );
  return role['Fn::GetAtt'][0];
};

/** serverless's logical id of a function key (`billingActionGroup` -> `BillingActionGroupLambdaFunction`). */
const functionLogicalId = (key: string): string =>
  `${key.charAt(0).toUpperCase()}${key.slice(1).replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}LambdaFunction`;

const getAtt = z.object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('Arn')]) }).strict();

/**
 * What a function's role needs for its asynchronous invocation destinations (AWS::Lambda::EventInvokeConfig): Lambda
 * sends the record with the function's role, so an SQS destination needs sqs:SendMessage, and an SSE-KMS queue the
 * data-key actions on its key. Other destination types fail the test until they are mapped here.
 */
const destinationGrants = (template: Template, functionId: string): string[] =>
  Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig')
    .filter((r) => JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ Ref: functionId }))
    .flatMap((r) => {
      const config = z
        .object({ OnSuccess: z.unknown().optional(), OnFailure: z.unknown().optional() })
        .strict()
        .parse(r.Properties?.DestinationConfig ?? {});
      return [config.OnSuccess, config.OnFailure].filter((d) => d !== undefined);
    })
    .flatMap((destination) => {
      const queueId = getAtt.parse(z.object({ Destination: z.unknown() }).parse(destination).Destination)[
        'Fn::GetAtt'
      ][0];
      const queue = template.Resources[queueId];
      expect({ queueId, type: queue?.Type }).toEqual({ queueId, type: 'AWS::SQS::Queue' });
      const key = queue?.Properties?.KmsMasterKeyId;
      return [
        ...on(`${queueId}.Arn`, 'sqs:SendMessage'),
        ...(key === undefined
          ? []
          : on(`${getAtt.parse(key)['Fn::GetAtt'][0]}.Arn`, 'kms:Decrypt', 'kms:GenerateDataKey')),
      ];
    });

/** Logical ids a resource depends on: DependsOn, Ref, Fn::GetAtt and `${X}` / `${X.Attr}` inside Fn::Sub. */
const dependenciesOf = (template: Template, id: string): Set<string> => {
  const found = new Set<string>();
  const known = (name: string) => name in template.Resources && found.add(name);
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') known(inner);
      else if (key === 'Fn::GetAtt')
        known(Array.isArray(inner) ? String(inner[0]) : (String(inner).split('.')[0] ?? ''));
      else if (key === 'Fn::Sub') {
        const [text, variables] = Array.isArray(inner) ? inner : [inner, {}];
        for (const m of String(text).matchAll(/\$\{([^!}][^}]*)\}/g)) known(m[1]?.split('.')[0] ?? '');
        walk(variables);
      } else walk(inner);
    }
  };
  const resource = template.Resources[id];
  walk(resource?.Properties);
  for (const dependency of asList(resource?.DependsOn ?? [])) found.add(dependency);
  return found;
};

const dependencyCycles = (template: Template): string[] => {
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    path.push(id);
    for (const next of dependenciesOf(template, id)) {
      if (state.get(next) === 'visiting') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(id, 'done');
  };
  for (const id of Object.keys(template.Resources)) if (!state.has(id)) visit(id);
  return cycles;
};

/**
 * Function keys the ASL names as Task resources ({"Fn::GetAtt": [key, "Arn"]}) or, for the lambda:invoke
 * integrations (the callback pattern), as Parameters.FunctionName, anywhere in the definition.
 */
const aslFunctionKeys = (): string[] => {
  const keys = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    const integration =
      typeof record.Resource === 'string' && record.Resource.startsWith('arn:aws:states:::lambda:invoke');
    const named = integration
      ? (record.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName
      : record.Resource;
    const getAtt = intrinsic.safeParse(named);
    if (getAtt.success && 'Fn::GetAtt' in getAtt.data) keys.add(getAtt.data['Fn::GetAtt'][0]);
    for (const inner of Object.values(record)) walk(inner);
  };
  walk(JSON.parse(readFileSync(join(root, 'statemachines', 'agent-goal.asl.json'), 'utf8')));
  return [...keys].sort();
};

let rawTemplate: CloudFormationTemplate;
let template: Template;
let commands: Record<string, SdkCommand[]>;

beforeAll(async () => {
  // kmsKey on: every grant of the stage key is checked. The call-graph walk is synchronous; it runs while sls
  // packages in its own process.
  rawTemplate = await packageRawTemplate(STAGE, { kmsKey: 'on' }, () => {
    commands = commandsByFunction();
  });
  template = templateSchema.parse(resolveConditions(rawTemplate));
}, 180_000);

// ---------------------------------------------------------------------------------------------------------

describe('per-function IAM roles of the packaged template', () => {
  test('the template deploys exactly the functions serverless.yml declares', () => {
    const deployed = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
      .map(([id]) => id)
      .sort();
    expect(deployed).toEqual(FUNCTION_KEYS.map(functionLogicalId).sort());
  });

  test('the call-graph walk finds the calls a reader sees in the code', () => {
    const names = (key: string) => [...new Set(commands[key]?.map((c) => c.name))].sort();
    expect(names('intake')).toEqual([
      'GetCommand',
      'PutEventsCommand',
      'StartExecutionCommand',
      'TransactWriteCommand',
      'UpdateCommand',
    ]);
    // Plan's model breakers (and a loop opening its tool's): GetItem, UpdateItem and the circuit events; the
    // private tier's InvokeEndpoint.
    expect(names('plan')).toEqual([
      'ConverseCommand',
      'GetCommand',
      'InvokeEndpointCommand',
      'PutEventsCommand',
      'QueryCommand',
      'TransactWriteCommand',
      'UpdateCommand',
    ]);
    expect(names('runTool')).toEqual(
      expect.arrayContaining(['InvokeCommand', 'TransactWriteCommand', 'QueryCommand', 'PutEventsCommand']),
    );
    // costAlert: the pause/resume update, the Tenant Paused/Resumed events and the alert.
    expect(names('costAlert')).toEqual(['PublishCommand', 'PutEventsCommand', 'UpdateCommand']);
    // recordFailure learns that the session already ended from its guarded update's ALL_OLD item: no GetItem.
    expect(names('recordFailure')).toEqual(['PutEventsCommand', 'UpdateCommand']);
    for (const key of FUNCTION_KEYS)
      expect({ key, found: names(key).length > 0 }).toEqual({ key, found: true });
  });

  test('each function has a role of its own that only Lambda can assume', () => {
    const roles = FUNCTION_KEYS.map((key) => roleIdOf(template, functionLogicalId(key)));
    expect(new Set(roles).size).toBe(roles.length);
    for (const roleId of roles) {
      const role = roleSchema.parse(template.Resources[roleId]);
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] },
      ]);
    }
  });

  test.each(FUNCTION_KEYS)('%s may do exactly what its code calls and its deployment needs', (key) => {
    const roleId = roleIdOf(template, functionLogicalId(key));
    const granted = grantsOf(statementsOfRole(template, roleId));
    const fromCode = new Set((commands[key] ?? []).flatMap(grantsOfCommand));
    const expected = new Set([
      ...fromCode,
      ...destinationGrants(template, functionLogicalId(key)),
      ...runtimeGrants(key),
    ]);
    expect(granted.length).toBe(new Set(granted).size); // no grant twice: a sign of a stray inherited statement
    expect([...granted].sort()).toEqual([...expected].sort());
  });

  test('no statement anywhere grants Resource "*" except X-Ray and the state machine\'s log delivery, and no action is a wildcard', () => {
    const roleIds = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .map(([id]) => id);
    expect(roleIds.length).toBeGreaterThanOrEqual(FUNCTION_KEYS.length + 1);
    const grants = roleIds.flatMap((id) =>
      grantsOf(statementsOfRole(template, id)).map((g) => `${id}: ${g}`),
    );
    const onStar = grants.filter((g) => g.endsWith(' on *'));
    expect(onStar.length).toBeGreaterThan(0); // the X-Ray grants are there, so the filter below is exercised
    const stateMachineRole = roleIdOf(template, 'AgentGoalStateMachine');
    const justified = (grant: string): boolean => {
      const [roleId, rest] = grant.split(': ');
      const action = rest?.split(' on ')[0] ?? '';
      return XRAY_ACTIONS.has(action) || (roleId === stateMachineRole && LOG_DELIVERY_ACTIONS.has(action));
    };
    expect(onStar.filter((g) => !justified(g))).toEqual([]);
    expect(grants.filter((g) => /^[^:]+: [^ ]*\*[^ ]* on /.test(g))).toEqual([]);
  });

  test('the framework default role is attached to nothing and carries no application permission', () => {
    const defaultRole = 'IamRoleLambdaExecution';
    // osls still emits its shared role when every function has its own; it must stay an empty shell.
    if (!(defaultRole in template.Resources)) return;
    const users = Object.keys(template.Resources).filter(
      (id) => id !== defaultRole && dependenciesOf(template, id).has(defaultRole),
    );
    expect(users).toEqual([]);
    const grants = grantsOf(statementsOfRole(template, defaultRole));
    const action = (grant: string) => grant.split(' on ')[0] ?? '';
    // Except what osls copies there for async destinations (it does not see the plugin's roles): the send
    // permission, which the function's own role holds too; on a role nobody assumes it grants nothing.
    const copied = FUNCTION_KEYS.flatMap((key) => destinationGrants(template, functionLogicalId(key))).filter(
      (grant) => action(grant).startsWith('sqs:'),
    );
    expect(
      grants.filter((g) => !action(g).startsWith('logs:') && !XRAY_ACTIONS.has(action(g))).sort(),
    ).toEqual(copied.sort());
  });
});

describe('the state machine role', () => {
  test('invokes exactly the functions the ASL names (and their versions), and nothing else but X-Ray and log delivery', () => {
    const keys = aslFunctionKeys();
    // Intake starts the machine and runTool invokes the action group: neither is a Task of the ASL.
    expect(keys).toEqual([
      'continueSession',
      'finalize',
      'plan',
      'recordFailure',
      'requestApproval',
      'runTool',
      'startSession',
    ]);
    const roleId = roleIdOf(template, 'AgentGoalStateMachine');
    const granted = grantsOf(statementsOfRole(template, roleId));
    const expected = [
      ...keys.flatMap((key) => [
        ...on(`${functionLogicalId(key)}.Arn`, 'lambda:InvokeFunction'),
        ...on(`${functionLogicalId(key)}.Arn:*`, 'lambda:InvokeFunction'),
      ]),
      ...on('*', ...XRAY_ACTIONS),
      ...on('*', ...LOG_DELIVERY_ACTIONS),
      // Its encrypted definition and history (kmsKey on; infra/security.yml).
      ...KEY_USE,
    ];
    expect([...granted].sort()).toEqual([...expected].sort());
  });
});

test('the template has no dependency cycle (CloudFormation would refuse to deploy it)', () => {
  expect(dependencyCycles(template)).toEqual([]);
  // ContinueAsNew's function naming the state machine by Ref (instead of its ARN built from the name) closes
  // state machine -> function -> state machine: the detector must see that.
  const shared = structuredClone(template);
  const continueSession = shared.Resources.ContinueSessionLambdaFunction;
  if (!continueSession?.Properties)
    throw new Error('ContinueSessionLambdaFunction missing from the template');
  continueSession.Properties.Environment = {
    Variables: { STATE_MACHINE_ARN: { Ref: 'AgentGoalStateMachine' } },
  };
  const members = dependencyCycles(shared).map((cycle) => [...new Set(cycle.split(' -> '))].sort());
  expect(members).toContainEqual(['AgentGoalStateMachine', 'ContinueSessionLambdaFunction'].sort());
});

// ---------------------------------------------------------------------------------------------------------
// A goal event intake never accepted must not vanish: Lambda's on-failure records and EventBridge's undeliverable
// events both land in one encrypted queue that the stack outputs.

const INTAKE = 'IntakeLambdaFunction';

const resourceOf = (id: string, type: string): Record<string, unknown> => {
  const resource = template.Resources[id];
  expect({ id, type: resource?.Type }).toEqual({ id, type });
  return resource?.Properties ?? {};
};

/** The one resource of `type` whose properties satisfy `matches`, with its logical id. */
const onlyResource = (type: string, matches: (properties: Record<string, unknown>) => boolean) => {
  const found = Object.entries(template.Resources).filter(
    ([, r]) => r.Type === type && matches(r.Properties ?? {}),
  );
  expect(found.length).toBe(1);
  const [id, resource] = found[0] ?? ['', { Properties: {} }];
  return { id, properties: resource.Properties ?? {} };
};

const intakeQueueId = (): string => {
  const config = onlyResource(
    'AWS::Lambda::EventInvokeConfig',
    (p) => JSON.stringify(p.FunctionName) === JSON.stringify({ Ref: INTAKE }),
  );
  const destination = z
    .object({ DestinationConfig: z.object({ OnFailure: z.object({ Destination: getAtt }) }) })
    .parse(config.properties).DestinationConfig.OnFailure.Destination;
  return destination['Fn::GetAtt'][0];
};

describe('intake dead letters', () => {
  test('a failed asynchronous intake goes to an encrypted queue after 2 retries (3 tries) or an hour', () => {
    const config = onlyResource(
      'AWS::Lambda::EventInvokeConfig',
      (p) => JSON.stringify(p.FunctionName) === JSON.stringify({ Ref: INTAKE }),
    );
    expect(config.properties).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    const queue = resourceOf(intakeQueueId(), 'AWS::SQS::Queue');
    expect(queue).toMatchObject({ MessageRetentionPeriod: 1209600 });
    const keyId = getAtt.parse(queue.KmsMasterKeyId)['Fn::GetAtt'][0];
    expect(resourceOf(keyId, 'AWS::KMS::Key')).toMatchObject({ EnableKeyRotation: true });
  });

  test('the queue is encrypted with the stage key, which EventBridge may use for the intake rule only', () => {
    const queue = resourceOf(intakeQueueId(), 'AWS::SQS::Queue');
    expect(getAtt.parse(queue.KmsMasterKeyId)['Fn::GetAtt'][0]).toBe('AgentKey');
    const key = resourceOf('AgentKey', 'AWS::KMS::Key');
    const statements = z
      .object({ Statement: z.array(z.looseObject({ Principal: z.unknown(), Sid: z.string() })) })
      .parse(key.KeyPolicy).Statement;
    const rule = onlyResource('AWS::Events::Rule', (p) => JSON.stringify(p.Targets).includes(`"${INTAKE}"`));
    const busName = resourceOf('AgentBus', 'AWS::Events::EventBus').Name;
    expect(statements.find((s) => s.Sid === 'EventBridgeDeadLetters')).toEqual({
      Sid: 'EventBridgeDeadLetters',
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: '*',
      Condition: {
        ArnEquals: {
          'aws:SourceArn': {
            'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${busName}/${rule.properties.Name}`,
          },
        },
      },
    });
  });

  test('what EventBridge cannot deliver to intake goes to the same queue, which only that rule may fill', () => {
    const queueId = intakeQueueId();
    const rule = onlyResource('AWS::Events::Rule', (p) => JSON.stringify(p.Targets).includes(`"${INTAKE}"`));
    const target = z
      .object({ Targets: z.array(z.looseObject({ DeadLetterConfig: z.object({ Arn: getAtt }) })).length(1) })
      .parse(rule.properties).Targets[0];
    expect(target?.DeadLetterConfig.Arn['Fn::GetAtt'][0]).toBe(queueId);
    const busName = resourceOf('AgentBus', 'AWS::Events::EventBus').Name;
    const ruleArn = `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${busName}/${rule.properties.Name}`;
    const policy = onlyResource('AWS::SQS::QueuePolicy', (p) =>
      JSON.stringify(p.Queues).includes(`"${queueId}"`),
    );
    expect(
      z.looseObject({ Statement: z.array(z.unknown()) }).parse(policy.properties.PolicyDocument),
    ).toMatchObject({
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sqs:SendMessage',
          Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::Sub': ruleArn } } },
        },
      ],
    });
  });

  test('the stack outputs the queue URL and ARN for the CLI', () => {
    const queueId = intakeQueueId();
    const outputs = z
      .object({ Outputs: z.record(z.string(), z.object({ Value: z.unknown() }).loose()) })
      .loose()
      .parse(template).Outputs;
    expect(outputs.IntakeDeadLetterQueueUrl?.Value).toEqual({ Ref: queueId });
    expect(outputs.IntakeDeadLetterQueueArn?.Value).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Cost alerts reach people through one encrypted topic; the email subscription exists only when a stage sets it.

describe('cost alerts', () => {
  const COST_ALERT = 'CostAlertLambdaFunction';

  test('the cost, tenant and approval-request events of the stage bus, and only they, go to costAlert', () => {
    const rule = onlyResource('AWS::Events::Rule', (p) =>
      JSON.stringify(p.Targets).includes(`"${COST_ALERT}"`),
    );
    expect(rule.properties.EventBusName).toBeDefined();
    expect(rule.properties.EventPattern).toEqual({
      'detail-type': [
        'Agent Cost Threshold Crossed',
        'Agent Budget Exceeded',
        'Agent Tenant Pause Requested',
        'Agent Tenant Resume Requested',
        'Agent Action Approval Requested',
      ],
    });
  });

  test('the topic is encrypted with the stage key (kmsKey on), whose policy lets CloudWatch alarms publish', () => {
    const topic = resourceOf('AlertTopic', 'AWS::SNS::Topic');
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': ['AgentKey', 'Arn'] });
    const key = resourceOf('AgentKey', 'AWS::KMS::Key');
    expect(key).toMatchObject({ EnableKeyRotation: true });
    // The stage's alarms notify the topic as CloudWatch's service principal (infra/observability.yml).
    const statements = z
      .object({
        Statement: z.array(z.looseObject({ Sid: z.string(), Principal: z.unknown(), Action: z.unknown() })),
      })
      .parse(key.KeyPolicy).Statement;
    expect(statements.find((s) => s.Sid === 'CloudWatchAlarms')).toMatchObject({
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
    });
  });

  test('the email subscription is created only when the stage sets alertEmail (dev sets none)', () => {
    const conditions = z
      .object({ Conditions: z.record(z.string(), z.unknown()) })
      .loose()
      .parse(rawTemplate).Conditions;
    expect(conditions.HasAlertEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] });
    // Packaged with its Condition; a deploy of dev (no alertEmail) leaves it out.
    expect(template.Resources.AlertEmailSubscription).toBeUndefined();
    const subscription = rawTemplate.Resources.AlertEmailSubscription as Record<string, unknown> | undefined;
    expect(subscription).toMatchObject({
      Type: 'AWS::SNS::Subscription',
      Condition: 'HasAlertEmail',
      Properties: { Protocol: 'email', TopicArn: { Ref: 'AlertTopic' } },
    });
  });
});
