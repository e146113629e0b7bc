/**
 * Encryption, network and tenant roles, checked on packaged templates (test/helpers/template.ts: `sls package`
 * offline, conditions applied as a deploy would), one package per variant:
 * - prod (kmsKey on by default there): one customer-managed key on the table, topic, log groups, bus, state machine
 *   and DLQ; its policy; PITR; no role with a wildcard action or `Resource: "*"` beyond X-Ray;
 * - prod with vpcMode on and two tenant roles: every function in the private subnets, the endpoints, no NAT, endpoint
 *   policies naming only this stage's resources; the LeadingKeys roles, tried on the table's real key builders;
 * - dev (kmsKey off): AWS-managed encryption, no key, no kms grant, no VPC resources.
 */
import { keys } from '../../shared/store/table';
import {
  type CloudFormationTemplate,
  declaredFunctionCount,
  LOG_DELIVERY_ACTIONS,
  packageTemplate,
  type TemplateResource,
  XRAY_ACTIONS,
} from '../helpers/template';

const SERVICE = 'sovereign-agent';
const VPC_PARAMS = {
  vpcMode: 'on',
  vpcId: 'vpc-0abc',
  vpcSubnetIds: 'subnet-0a,subnet-0b',
  vpcSecurityGroupIds: 'sg-0endpoints',
  vpcRouteTableIds: 'rtb-0a,rtb-0b',
  tenantRoleTenants: 'acme,globex',
};
const AGENT_KEY = { 'Fn::GetAtt': ['AgentKey', 'Arn'] };
// AWSLambdaVPCAccessExecutionRole: the ENI actions Lambda needs in a VPC, which support only Resource "*"
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html,
// https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html).
const VPC_ACCESS_POLICY = {
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole'],
  ],
};

interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

const ofType = (template: CloudFormationTemplate, type: string): [string, TemplateResource][] =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

const props = (template: CloudFormationTemplate, id: string): Record<string, unknown> => {
  const resource = template.Resources[id];
  if (!resource) throw new Error(`${id} missing from the template`);
  return resource.Properties ?? {};
};

const documentOf = (value: unknown): Statement[] => (value as { Statement: Statement[] }).Statement;

/** Every statement of a role: its inline policies and each AWS::IAM::Policy naming it. */
const roleStatements = (template: CloudFormationTemplate, roleId: string): Statement[] => {
  const inline = ((props(template, roleId).Policies ?? []) as { PolicyDocument: unknown }[]).flatMap((p) =>
    documentOf(p.PolicyDocument),
  );
  const attached = ofType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties?.Roles).includes(`"${roleId}"`))
    .flatMap(([, p]) => documentOf(p.Properties?.PolicyDocument));
  return [...inline, ...attached];
};

/** `role: action on resource` for every role of the template. */
const allRoleGrants = (template: CloudFormationTemplate) =>
  ofType(template, 'AWS::IAM::Role').flatMap(([roleId]) =>
    roleStatements(template, roleId).flatMap((s) =>
      asList(s.Action).flatMap((action) =>
        asList(s.Resource).map((resource) => ({ roleId, action, resource })),
      ),
    ),
  );

/** A glob of an IAM condition (`*` any run of characters) as a regular expression. */
const globRegExp = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

const subText = (value: unknown): string => {
  const sub = (value as { 'Fn::Sub'?: unknown })['Fn::Sub'];
  if (typeof sub !== 'string') throw new Error(`not an Fn::Sub string: ${JSON.stringify(value)}`);
  return sub;
};

const keyPolicy = (template: CloudFormationTemplate): Statement[] =>
  documentOf(props(template, 'AgentKey').KeyPolicy);

/** A role's name as its ARN pattern would see it: RoleName (Fn::Join with the region) or CloudFormation's. */
const roleArnText = (template: CloudFormationTemplate, stage: string, roleId: string): string => {
  const name = props(template, roleId).RoleName as { 'Fn::Join'?: [string, unknown[]] } | undefined;
  const text = name?.['Fn::Join']
    ? name['Fn::Join'][1]
        .map((part) => (typeof part === 'string' ? part : `\${${(part as { Ref: string }).Ref}}`))
        .join(name['Fn::Join'][0])
    : `${SERVICE}-${stage}-${roleId}-ABCDEFGH1234`; // <stack>-<logical id>-<suffix>, CloudFormation's naming
  return `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${text}`;
};

let prod: CloudFormationTemplate;
let vpc: CloudFormationTemplate;
let dev: CloudFormationTemplate;

beforeAll(async () => {
  [prod, vpc, dev] = await Promise.all([
    packageTemplate('prod'),
    packageTemplate('prod', VPC_PARAMS),
    packageTemplate('dev'),
  ]);
}, 300_000);

describe('kmsKey on (prod): one customer-managed key', () => {
  test('the key rotates and has the stage alias', () => {
    expect(props(prod, 'AgentKey')).toMatchObject({ EnableKeyRotation: true });
    expect(ofType(prod, 'AWS::KMS::Key').map(([id]) => id)).toEqual(['AgentKey']);
    expect(props(prod, 'AgentKeyAlias')).toEqual({
      AliasName: `alias/${SERVICE}-prod`,
      TargetKeyId: { Ref: 'AgentKey' },
    });
  });

  test('encrypts the table (with PITR on), the topic, the DLQ, the bus and the state machine', () => {
    expect(props(prod, 'AgentTable')).toMatchObject({
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: AGENT_KEY },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(props(prod, 'AlertTopic').KmsMasterKeyId).toEqual(AGENT_KEY);
    expect(props(prod, 'IntakeDeadLetterQueue').KmsMasterKeyId).toEqual(AGENT_KEY);
    expect(props(prod, 'IntakeDeadLetterQueue').SqsManagedSseEnabled).toBeUndefined();
    expect(props(prod, 'AgentBus').KmsKeyIdentifier).toEqual(AGENT_KEY);
    expect(props(prod, 'AgentGoalStateMachine').EncryptionConfiguration).toEqual({
      Type: 'CUSTOMER_MANAGED_KMS_KEY',
      KmsKeyId: AGENT_KEY,
      KmsDataKeyReusePeriodSeconds: 300,
    });
  });

  test('encrypts every log group, each named where the key policy lets CloudWatch Logs use the key', () => {
    const logGroups = ofType(prod, 'AWS::Logs::LogGroup');
    expect(logGroups.length).toBeGreaterThanOrEqual(10);
    const logs = keyPolicy(prod).find((s) => s.Sid === 'CloudWatchLogs');
    expect(logs?.Principal).toEqual({ Service: { 'Fn::Sub': `logs.\${AWS::Region}.amazonaws.com` } });
    const patterns = asList(logs?.Condition?.ArnLike?.['kms:EncryptionContext:aws:logs:arn']).map((p) =>
      globRegExp(subText(p)),
    );
    for (const [id, group] of logGroups) {
      expect({ id, key: group.Properties?.KmsKeyId }).toEqual({ id, key: AGENT_KEY });
      const arn = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${String(group.Properties?.LogGroupName)}`;
      expect({ id, covered: patterns.some((p) => p.test(arn)) }).toEqual({ id, covered: true });
    }
  });

  test('key policy: the account administers but cannot use it; usage goes to named roles and services', () => {
    const statements = keyPolicy(prod);
    expect(statements.map((s) => s.Sid)).toEqual([
      'KeyAdministration',
      'StageRoles',
      'DynamoDBTableGrant',
      'CloudWatchLogs',
      'CloudWatchAlarms',
      'EventBridgeDescribeKey',
      'EventBridgeBus',
      'EventBridgeDeadLetters',
    ]);
    const admin = asList(statements[0]?.Action ?? []);
    expect(admin.filter((a) => /^kms:(\*|Decrypt|Encrypt|ReEncrypt|GenerateDataKey)/.test(a))).toEqual([]);
    // Every statement naming a service or the account outside administration carries a condition.
    // CloudWatchAlarms is AWS's documented statement for alarms publishing to an encrypted topic, without condition.
    for (const s of statements
      .slice(1)
      .filter((s) => s.Sid !== 'EventBridgeDescribeKey' && s.Sid !== 'CloudWatchAlarms'))
      expect({ sid: s.Sid, conditioned: s.Condition !== undefined }).toEqual({
        sid: s.Sid,
        conditioned: true,
      });
    expect(statements.find((s) => s.Sid === 'EventBridgeBus')?.Condition).toEqual({
      StringEquals: {
        'kms:EncryptionContext:aws:events:event-bus:arn': {
          'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${SERVICE}-prod`,
        },
      },
    });
  });

  test.each([
    ['prod', () => prod],
    ['prod in VPC mode with tenant roles', () => vpc],
  ])('%s: the key policy names every role granted the key, and each name it lists exists', (_, template) => {
    const t = template();
    const stageRoles = keyPolicy(t).find((s) => s.Sid === 'StageRoles');
    const patterns = asList(stageRoles?.Condition?.ArnLike?.['aws:PrincipalArn']).map((p) =>
      globRegExp(subText(p)),
    );
    const granted = [
      ...new Set(
        allRoleGrants(t)
          .filter((g) => g.action.startsWith('kms:'))
          .map((g) => g.roleId),
      ),
    ];
    // Every function's role and the state machine's; in the VPC variant the 2 tenant roles too.
    expect(granted.length).toBe(declaredFunctionCount() + 1 + (t === vpc ? 2 : 0));
    const arns = granted.map((roleId) => roleArnText(t, 'prod', roleId));
    for (const arn of arns)
      expect({ arn, named: patterns.some((p) => p.test(arn)) }).toEqual({ arn, named: true });
    if (t === vpc)
      for (const p of patterns)
        expect({ p: p.source, used: arns.some((a) => p.test(a)) }).toEqual({ p: p.source, used: true });
  });

  test('no role grants kms on anything but the key, a wildcard action, or Resource "*" beyond X-Ray', () => {
    for (const t of [prod, vpc]) {
      const grants = allRoleGrants(t);
      expect(
        grants.filter(
          (g) => g.action.startsWith('kms:') && JSON.stringify(g.resource).indexOf('AgentKey') < 0,
        ),
      ).toEqual([]);
      expect(grants.filter((g) => g.action.includes('*'))).toEqual([]);
      // X-Ray, and the state machine role's log delivery (Step Functions logging; justified in serverless.yml).
      expect(
        grants.filter(
          (g) =>
            g.resource === '*' &&
            !XRAY_ACTIONS.has(g.action) &&
            !(g.roleId === 'AgentGoalStateMachineRole' && LOG_DELIVERY_ACTIONS.has(g.action)),
        ),
      ).toEqual([]);
    }
  });
});

describe('vpcMode on', () => {
  const functions = () => ofType(vpc, 'AWS::Lambda::Function');

  test('every function runs in the private subnets with the stage security group', () => {
    expect(functions().length).toBe(declaredFunctionCount());
    for (const [id, fn] of functions())
      expect({ id, vpc: fn.Properties?.VpcConfig }).toEqual({
        id,
        vpc: {
          SubnetIds: { 'Fn::Split': [',', VPC_PARAMS.vpcSubnetIds] },
          SecurityGroupIds: { 'Fn::Split': [',', VPC_PARAMS.vpcSecurityGroupIds] },
        },
      });
  });

  test('their roles get exactly the VPC access policy for the network interfaces (its actions need "*")', () => {
    for (const [id, fn] of functions()) {
      const roleId = String((fn.Properties?.Role as { 'Fn::GetAtt'?: [string] })?.['Fn::GetAtt']?.[0]);
      expect({ id, managed: props(vpc, roleId).ManagedPolicyArns }).toEqual({
        id,
        managed: [VPC_ACCESS_POLICY],
      });
    }
    // Outside VPC mode, no role has it.
    for (const [, role] of ofType(prod, 'AWS::IAM::Role'))
      expect(role.Properties?.ManagedPolicyArns ?? []).toEqual([]);
  });

  test('an interface endpoint per service the functions call, a DynamoDB gateway, and no NAT or internet gateway', () => {
    const endpoints = ofType(vpc, 'AWS::EC2::VPCEndpoint').map(([, e]) => ({
      service: subText(e.Properties?.ServiceName).replace(`com.amazonaws.\${AWS::Region}.`, ''),
      type: e.Properties?.VpcEndpointType,
    }));
    expect(endpoints.sort((a, b) => a.service.localeCompare(b.service))).toEqual(
      [
        ['bedrock-runtime', 'Interface'],
        ['dynamodb', 'Gateway'],
        ['events', 'Interface'],
        ['kms', 'Interface'],
        ['logs', 'Interface'],
        ['sagemaker.runtime', 'Interface'],
        ['sns', 'Interface'],
        ['sqs', 'Interface'],
        ['states', 'Interface'],
        ['xray', 'Interface'],
      ].map(([service, type]) => ({ service, type })),
    );
    for (const [id, e] of ofType(vpc, 'AWS::EC2::VPCEndpoint')) {
      expect({ id, vpc: e.Properties?.VpcId }).toEqual({ id, vpc: VPC_PARAMS.vpcId });
      if (e.Properties?.VpcEndpointType === 'Gateway')
        expect(e.Properties?.RouteTableIds).toEqual({ 'Fn::Split': [',', VPC_PARAMS.vpcRouteTableIds] });
      else expect({ id, dns: e.Properties?.PrivateDnsEnabled }).toEqual({ id, dns: true });
    }
    for (const type of ['AWS::EC2::NatGateway', 'AWS::EC2::InternetGateway', 'AWS::EC2::EIP'])
      expect(ofType(vpc, type)).toEqual([]);
  });

  test("endpoint policies allow only this account, on this stage's resources", () => {
    const stageIds = new Set(['AgentTable', 'AgentBus', 'AlertTopic', 'IntakeDeadLetterQueue', 'AgentKey']);
    const planModels = allRoleGrants(vpc)
      .filter((g) => g.action === 'bedrock:InvokeModel')
      .map((g) => JSON.stringify(g.resource));
    expect(planModels.length).toBeGreaterThan(0);
    for (const [id, e] of ofType(vpc, 'AWS::EC2::VPCEndpoint')) {
      for (const s of documentOf(e.Properties?.PolicyDocument)) {
        expect({ id, principal: s.Principal, condition: s.Condition }).toEqual({
          id,
          principal: '*',
          condition: { StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } },
        });
        for (const resource of asList(s.Resource)) {
          const text = JSON.stringify(resource);
          const ref = (resource as { Ref?: string; 'Fn::GetAtt'?: [string] }) ?? {};
          const stage =
            stageIds.has(ref.Ref ?? ref['Fn::GetAtt']?.[0] ?? '') ||
            text.includes(`${SERVICE}-prod`) ||
            planModels.includes(text) ||
            (resource === '*' && asList(s.Action).every((a) => XRAY_ACTIONS.has(a)));
          expect({ id, resource, stage }).toEqual({ id, resource, stage: true });
        }
      }
    }
  });
});

describe('tenant roles (tenantRoleTenants)', () => {
  const tenantRoles = () => ofType(vpc, 'AWS::IAM::Role').filter(([id]) => id.startsWith('TenantRole'));

  /** Whether a tenant's role may read an item with this partition key, by its LeadingKeys condition. */
  const reaches = (tenant: string, pk: string): boolean => {
    const role = tenantRoles().find(([, r]) =>
      String(r.Properties?.Description).includes(`tenant ${tenant}'s`),
    );
    if (!role) throw new Error(`no role for ${tenant}`);
    const dynamodb = roleStatements(vpc, role[0]).filter((s) =>
      asList(s.Action).some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamodb).toHaveLength(1);
    const leading = asList(
      dynamodb[0]?.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'],
    ) as string[];
    return leading.some((glob) => globRegExp(glob).test(pk));
  };

  test('one read-only role per listed tenant, none when the list is empty', () => {
    expect(tenantRoles()).toHaveLength(2);
    expect(ofType(prod, 'AWS::IAM::Role').filter(([id]) => id.startsWith('TenantRole'))).toEqual([]);
    for (const [id] of tenantRoles()) {
      const actions = roleStatements(vpc, id).flatMap((s) => asList(s.Action));
      expect(actions.sort()).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:Query',
        'kms:Decrypt',
      ]);
    }
  });

  test("a tenant's role reaches its sessions, messages, tool calls, policy, spend and reports, and nothing else", () => {
    const own = [
      keys.session('acme', 's1'),
      keys.message('acme', 's1', 3),
      keys.toolCall('acme', 's1', 1, 0),
      keys.resultPart('acme', 's1', 1, 0, 2),
      keys.tenantPolicy('acme'),
      keys.tenantDay('acme', '2026-12-02'),
      keys.report('acme', 'r1'),
      keys.lastKnownGood('acme', 'audit_billing_logs'),
    ];
    for (const key of own)
      expect({ pk: key.pk, reaches: reaches('acme', key.pk) }).toEqual({ pk: key.pk, reaches: true });
    const others = [
      keys.session('globex', 's1'),
      keys.tenantPolicy('globex'),
      // A tenant whose id starts with another's: T#acme would be a prefix of T#acme2 without the exact patterns.
      keys.session('acme2', 's1'),
      keys.tenantPolicy('acme2'),
      keys.breaker('tool', 'audit_billing_logs'),
      keys.breakerWindow('model', 'x', 0),
    ];
    for (const key of others)
      expect({ pk: key.pk, reaches: reaches('acme', key.pk) }).toEqual({ pk: key.pk, reaches: false });
    expect(reaches('globex', keys.session('globex', 's9').pk)).toBe(true);
  });
});

describe('kmsKey off (dev): AWS-managed encryption, no key, no network resources', () => {
  test('no customer-managed key and no kms grant anywhere', () => {
    expect(ofType(dev, 'AWS::KMS::Key')).toEqual([]);
    expect(allRoleGrants(dev).filter((g) => g.action.startsWith('kms:'))).toEqual([]);
  });

  test('table, topic, queue, bus, state machine and log groups fall back to AWS-managed encryption', () => {
    expect(props(dev, 'AgentTable').SSESpecification).toEqual({ SSEEnabled: true });
    // No SSE: CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns (serverless.yml).
    expect(props(dev, 'AlertTopic').KmsMasterKeyId).toBeUndefined();
    expect(props(dev, 'IntakeDeadLetterQueue')).toMatchObject({ SqsManagedSseEnabled: true });
    expect(props(dev, 'IntakeDeadLetterQueue').KmsMasterKeyId).toBeUndefined();
    expect(props(dev, 'AgentBus').KmsKeyIdentifier).toBeUndefined();
    expect(props(dev, 'AgentGoalStateMachine').EncryptionConfiguration).toBeUndefined();
    for (const [, group] of ofType(dev, 'AWS::Logs::LogGroup'))
      expect(group.Properties?.KmsKeyId).toBeUndefined();
  });

  test('no endpoints, no VpcConfig', () => {
    expect(ofType(dev, 'AWS::EC2::VPCEndpoint')).toEqual([]);
    for (const [, fn] of ofType(dev, 'AWS::Lambda::Function'))
      expect(fn.Properties?.VpcConfig).toBeUndefined();
  });
});
