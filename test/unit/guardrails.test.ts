/** The Guardrails stage option: its configuration, the request Plan sends, the plan role's grant, the emulator. */
import { GuardrailEmulator } from '../../local/bedrock/guardrails';
import { guardrailConfig } from '../../shared/runtime/config';
import { ConfigError } from '../../shared/runtime/errors';

const { guardrailResources } = require('../../infra/guardrail.js') as {
  guardrailResources: (id: string, version: string) => { Resources: Record<string, unknown> };
};

describe('guardrailConfig', () => {
  it('is off with both variables empty, and reads an id or ARN with a version or DRAFT', () => {
    expect(guardrailConfig({})).toBeUndefined();
    expect(guardrailConfig({ GUARDRAIL_ID: 'abc123', GUARDRAIL_VERSION: 'DRAFT' })).toEqual({
      guardrailIdentifier: 'abc123',
      guardrailVersion: 'DRAFT',
    });
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123';
    expect(guardrailConfig({ GUARDRAIL_ID: arn, GUARDRAIL_VERSION: '3' })?.guardrailIdentifier).toBe(arn);
  });

  it('fails the cold start on one variable without the other, or a value Converse would refuse', () => {
    expect(() => guardrailConfig({ GUARDRAIL_ID: 'abc123' })).toThrow(/GUARDRAIL_VERSION is empty/);
    expect(() => guardrailConfig({ GUARDRAIL_ID: 'Bad-Id', GUARDRAIL_VERSION: '1' })).toThrow(ConfigError);
    expect(() => guardrailConfig({ GUARDRAIL_ID: 'abc', GUARDRAIL_VERSION: '0' })).toThrow(
      /GUARDRAIL_VERSION must be a version number or DRAFT/,
    );
  });
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub text
const GUARDRAIL_ARN = 'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/';

describe('infra/guardrail.js', () => {
  it('adds no resource without a guardrail, and ApplyGuardrail on exactly that guardrail with one', () => {
    expect(guardrailResources('', '')).toEqual({ Resources: {} });
    expect(guardrailResources('abc123', '1').Resources.PlanGuardrailPolicy).toEqual({
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'plan-apply-guardrail',
        Roles: [{ Ref: 'PlanIamRoleLambdaExecution' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'bedrock:ApplyGuardrail',
              Resource: { 'Fn::Sub': `${GUARDRAIL_ARN}abc123` },
            },
          ],
        },
      },
    });
    expect(() => guardrailResources('abc123', '')).toThrow(/go together/);
  });
});

describe('the emulated guardrail', () => {
  const emulator = new GuardrailEmulator({ g1: { versions: ['1'], deniedWords: ['wire transfer'] } });
  const request = (text: string, trace?: 'enabled') => ({
    messages: [{ role: 'user' as const, content: [{ text }] }],
    guardrailConfig: { guardrailIdentifier: 'g1', guardrailVersion: '1', ...(trace ? { trace } : {}) },
  });

  it('intervenes on a denied phrase in the input, case-insensitively and on whole words, with a trace when asked', () => {
    expect(emulator.checkInput(request('Prepare a WIRE TRANSFER.', 'enabled'))).toEqual({
      content: [{ text: 'Sorry, the model cannot answer this question.' }],
      stopReason: 'guardrail_intervened',
      trace: {
        guardrail: {
          inputAssessment: {
            g1: { wordPolicy: { customWords: [{ match: 'wire transfer', action: 'BLOCKED' }] } },
          },
        },
      },
    });
    expect(emulator.checkInput(request('Prepare a wire transfers report.'))).toBeUndefined();
  });

  it('does not evaluate tool results (Converse guardrails do not), and checks the answer text', () => {
    const withToolResult = {
      ...request('Audit.'),
      messages: [
        {
          role: 'user' as const,
          content: [{ toolResult: { toolUseId: 't', content: [{ text: 'wire transfer' }] } }],
        },
      ],
    };
    expect(emulator.checkInput(withToolResult as never)).toBeUndefined();
    expect(emulator.checkOutput(request('Audit.'), [{ text: 'Do a wire transfer.' }])?.stopReason).toBe(
      'guardrail_intervened',
    );
  });

  it('answers ResourceNotFoundException for a guardrail or version it does not know', () => {
    expect(() =>
      emulator.checkInput({
        ...request('x'),
        guardrailConfig: { guardrailIdentifier: 'g2', guardrailVersion: '1' },
      }),
    ).toThrow(expect.objectContaining({ status: 404, errorType: 'ResourceNotFoundException' }));
  });
});
