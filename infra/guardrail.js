/**
 * The Guardrails stage option's IAM, an osls variable resolver (serverless.yml resources:
 * ${file(./infra/guardrail.js):resources}): with params guardrailId and guardrailVersion set, a policy on the plan
 * role allowing bedrock:ApplyGuardrail on that guardrail only; with them empty, no resource at all.
 *
 * Converse with guardrailConfig needs bedrock:ApplyGuardrail on the guardrail besides bedrock:InvokeModel on the
 * model (Bedrock user guide, "Set up permissions to use Amazon Bedrock Guardrails", permissions for invoking
 * guardrails: https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-permissions.html, read 2026-12-02).
 * Its own resource, not a line of the plan's iamRoleStatements, because a statement cannot be left out of that list
 * by a stage param.
 */

// Fn::Sub's pseudo parameters, not template placeholders.
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub text
const GUARDRAIL_ARN = 'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/';

/** The guardrail's ARN: as given when the param is an ARN, else built from the id in the stage's account. */
const guardrailArn = (id) => (id.startsWith('arn:') ? id : { 'Fn::Sub': `${GUARDRAIL_ARN}${id}` });

/** The resources for the stage's params: none without a guardrail; one param without the other fails packaging. */
const guardrailResources = (guardrailId, guardrailVersion) => {
  const id = String(guardrailId ?? '').trim();
  const version = String(guardrailVersion ?? '').trim();
  if (id === '' && version === '') return { Resources: {} };
  if (id === '' || version === '') {
    throw new Error('Stage params guardrailId and guardrailVersion go together: set both or neither');
  }
  return {
    Resources: {
      PlanGuardrailPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'plan-apply-guardrail',
          Roles: [{ Ref: 'PlanIamRoleLambdaExecution' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'bedrock:ApplyGuardrail', Resource: guardrailArn(id) }],
          },
        },
      },
    },
  };
};

const resources = async ({ resolveVariable }) =>
  guardrailResources(
    await resolveVariable('param:guardrailId'),
    await resolveVariable('param:guardrailVersion'),
  );

module.exports = { guardrailResources, resources };
