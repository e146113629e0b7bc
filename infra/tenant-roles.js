/**
 * The optional per-tenant roles (param tenantRoleTenants): one read-only role per listed tenant whose DynamoDB
 * requests may only name that tenant's partition keys (dynamodb:LeadingKeys), as shared/store/table.ts builds them.
 */
const { createHash } = require('node:crypto');

// shared/contracts/goal-events.ts's id rule: letters, digits, '_' and '-', no '#', so `T#<tenant>` is exact.
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A logical id per tenant: its letters and digits, and a hash so `a-b` and `ab` stay apart. */
const logicalIdOf = (tenantId) =>
  `TenantRole${tenantId.replace(/[^A-Za-z0-9]/g, '')}${createHash('sha256').update(tenantId).digest('hex').slice(0, 8)}`;

/**
 * The partition keys a tenant's items use (shared/store/table.ts): `T#<tenant>` (its policy, daily spend, reports,
 * last known good results) and `T#<tenant>#S#<session>` (each session's header, messages, tool calls, result parts).
 */
const leadingKeysOf = (tenantId) => [`T#${tenantId}`, `T#${tenantId}#S#*`];

const tenantRole = (tenantId, service, stage) => ({
  Type: 'AWS::IAM::Role',
  Properties: {
    Description: `Reads tenant ${tenantId}'s items of ${service}-${stage} and nothing else`,
    // Who may assume it is this account's IAM policies' decision (an operator's or the tenant's federation role).
    AssumeRolePolicyDocument: {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's placeholders, not a template string
          Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
          Action: 'sts:AssumeRole',
        },
      ],
    },
    Policies: [
      {
        PolicyName: 'tenant-items',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            // Every key the request names must be the tenant's; ForAllValues holds for a request naming none, so
            // no Scan (which names none) is granted. GSI1 is not granted either (its partition key is T#<tenant>
            // too, but it lists sessions across the tenant's items: left to the table's own roles).
            // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
              Resource: { 'Fn::GetAtt': ['AgentTable', 'Arn'] },
              Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeysOf(tenantId) } },
            },
            {
              'Fn::If': [
                'UseAgentKey',
                { Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': ['AgentKey', 'Arn'] } },
                { Ref: 'AWS::NoValue' },
              ],
            },
          ],
        },
      },
    ],
  },
});

/** The tenants of a comma-separated list, each checked against the tenant id rule. */
const tenantsOf = (list) => {
  const tenants = String(list ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  for (const t of tenants)
    if (!TENANT_ID.test(t)) throw new Error(`tenantRoleTenants: "${t}" is not a tenant id`);
  return tenants;
};

/** The roles as a resources fragment for serverless.yml's resources list (empty when no tenant is listed). */
const tenantRoleResources = (tenantIds, service, stage) => ({
  Resources: Object.fromEntries(tenantIds.map((t) => [logicalIdOf(t), tenantRole(t, service, stage)])),
  Outputs: Object.fromEntries(
    tenantIds.map((t) => [`${logicalIdOf(t)}Arn`, { Value: { 'Fn::GetAtt': [logicalIdOf(t), 'Arn'] } }]),
  ),
});

/** osls calls this with its resolver. */
const resources = async ({ resolveVariable }) =>
  tenantRoleResources(
    tenantsOf(await resolveVariable('param:tenantRoleTenants')),
    await resolveVariable('self:service'),
    await resolveVariable('sls:stage'),
  );

module.exports = { leadingKeysOf, logicalIdOf, resources, tenantRoleResources, tenantsOf };
