import type { ConverseMessage } from '../../local/bedrock/converse-request';
import { validateConverseRequest } from '../../local/bedrock/converse-request';
import { ConverseValidationError } from '../../local/bedrock/errors';

const MODEL = 'us.anthropic.claude-haiku-4-5-20251001-v1:0';
const tool = (name: string, json: Record<string, unknown> = { type: 'object', properties: {} }) => ({
  toolSpec: { name, description: `${name} tool`, inputSchema: { json } },
});
const toolConfig = { tools: [tool('audit_billing_logs'), tool('create_report')] };
const goal: ConverseMessage = { role: 'user', content: [{ text: 'Tenant: acme\nAudit billing.' }] };
const use = (id: string, name = 'audit_billing_logs') => ({ toolUse: { toolUseId: id, name, input: {} } });
const result = (id: string) => ({ toolResult: { toolUseId: id, content: [{ json: { ok: true } }] } });

const rejection = (body: unknown): string => {
  try {
    validateConverseRequest(MODEL, body);
  } catch (error) {
    expect(error).toBeInstanceOf(ConverseValidationError);
    expect((error as ConverseValidationError).status).toBe(400);
    return (error as Error).message;
  }
  throw new Error('expected a ValidationException');
};

describe('validateConverseRequest', () => {
  it('accepts a tool round trip with parallel calls and a cache point', () => {
    const body = {
      system: [{ text: 'You are the agent.' }, { cachePoint: { type: 'default' } }],
      messages: [
        goal,
        {
          role: 'assistant',
          content: [{ text: 'Checking.' }, use('tooluse_a'), use('tooluse_b', 'create_report')],
        },
        { role: 'user', content: [result('tooluse_b'), result('tooluse_a')] },
      ],
      toolConfig: { ...toolConfig, tools: [...toolConfig.tools, { cachePoint: { type: 'default' } }] },
      requestMetadata: { tenantId: 'acme', sessionId: '01JD6Z3V9Q-goal-7' },
      inferenceConfig: { maxTokens: 1024, temperature: 0.2 },
    };
    expect(validateConverseRequest(MODEL, body).messages).toHaveLength(3);
  });

  it('requires a non-empty conversation that starts with the user', () => {
    expect(rejection({ messages: [] })).toContain('must start with a user message');
    expect(rejection({})).toContain('must start with a user message');
    expect(rejection({ messages: [{ role: 'assistant', content: [{ text: 'hi' }] }] })).toContain(
      'must start with a user message',
    );
  });

  it('requires user and assistant to alternate', () => {
    expect(rejection({ messages: [goal, goal] })).toContain('must alternate between user and assistant');
  });

  it('rejects empty content and blank text with their place', () => {
    expect(rejection({ messages: [{ role: 'user', content: [] }] })).toContain('at messages.0 is empty');
    expect(rejection({ messages: [{ role: 'user', content: [{ text: '  ' }] }] })).toContain(
      'messages.0.content.0 is blank',
    );
  });

  it('requires toolConfig when the conversation holds tool blocks', () => {
    const messages = [
      goal,
      { role: 'assistant', content: [use('tooluse_a')] },
      { role: 'user', content: [result('tooluse_a')] },
    ];
    expect(rejection({ messages })).toContain('toolConfig field must be defined');
  });

  it('requires a toolResult for every toolUse of the previous turn', () => {
    const messages = [
      goal,
      { role: 'assistant', content: [use('tooluse_a'), use('tooluse_b')] },
      { role: 'user', content: [result('tooluse_a')] },
    ];
    expect(rejection({ messages, toolConfig })).toContain(
      'Expected toolResult blocks at messages.2.content for the following Ids: tooluse_b',
    );
  });

  it('rejects a conversation that ends on unanswered tool calls', () => {
    const messages = [goal, { role: 'assistant', content: [use('tooluse_a')] }];
    expect(rejection({ messages, toolConfig })).toContain('Expected toolResult blocks at messages.2.content');
  });

  it('rejects a toolResult that answers no toolUse of the previous assistant message', () => {
    const messages = [
      goal,
      { role: 'assistant', content: [use('tooluse_a')] },
      { role: 'user', content: [result('tooluse_a')] },
      { role: 'assistant', content: [use('tooluse_b')] },
      { role: 'user', content: [result('tooluse_a')] },
    ];
    expect(rejection({ messages, toolConfig })).toContain(
      "toolUseId 'tooluse_a' at messages.4.content does not match",
    );
  });

  it('rejects more toolResults than toolUses and a toolResult in the first message', () => {
    const more = [
      goal,
      { role: 'assistant', content: [use('tooluse_a')] },
      { role: 'user', content: [result('tooluse_a'), result('tooluse_a')] },
    ];
    expect(rejection({ messages: more, toolConfig })).toContain(
      'exceeds the number of toolUse blocks of previous turn',
    );
    expect(rejection({ messages: [{ role: 'user', content: [result('tooluse_x')] }], toolConfig })).toContain(
      'exceeds the number of toolUse blocks',
    );
  });

  it('rejects reused toolUse ids and tool blocks in the wrong role', () => {
    const reused = [
      goal,
      { role: 'assistant', content: [use('tooluse_a')] },
      { role: 'user', content: [result('tooluse_a')] },
      { role: 'assistant', content: [use('tooluse_a')] },
      { role: 'user', content: [result('tooluse_a')] },
    ];
    expect(rejection({ messages: reused, toolConfig })).toContain(
      "toolUseId 'tooluse_a' at messages.3.content.0 is used by more than one",
    );
    expect(
      rejection({ messages: [{ role: 'user', content: [{ text: 'x' }, use('tooluse_a')] }], toolConfig }),
    ).toContain('only assistant messages may hold toolUse');
  });

  it('enforces the tool name pattern in specs and in history', () => {
    expect(rejection({ messages: [goal], toolConfig: { tools: [tool('audit billing')] } })).toContain(
      "Value 'audit billing' at 'toolConfig.tools.0.member.toolSpec.name'",
    );
    expect(rejection({ messages: [goal], toolConfig: { tools: [tool('x'.repeat(65))] } })).toContain(
      'failed to satisfy constraint',
    );
    const messages = [
      goal,
      { role: 'assistant', content: [use('tooluse_a', 'bad.name')] },
      { role: 'user', content: [result('tooluse_a')] },
    ];
    expect(rejection({ messages, toolConfig })).toContain(
      "Value 'bad.name' at 'messages.1.content.0.member.toolUse.name'",
    );
  });

  it('rejects duplicate tool names, non-object schemas and invalid JSON schemas', () => {
    expect(rejection({ messages: [goal], toolConfig: { tools: [tool('a'), tool('a')] } })).toContain(
      'Tool names must be unique',
    );
    expect(rejection({ messages: [goal], toolConfig: { tools: [tool('a', { type: 'string' })] } })).toContain(
      'must describe an object',
    );
    expect(
      rejection({ messages: [goal], toolConfig: { tools: [tool('a', { type: 'object', required: 'x' })] } }),
    ).toContain('not a valid JSON schema');
  });

  it('requires toolChoice to name a tool of toolConfig', () => {
    const body = {
      messages: [goal],
      toolConfig: { ...toolConfig, toolChoice: { tool: { name: 'delete_everything' } } },
    };
    expect(rejection(body)).toContain("toolChoice.tool.name 'delete_everything' does not match any tool");
    expect(rejection({ messages: [goal], toolConfig: { tools: [] } })).toContain("'toolConfig.tools'");
    expect(
      rejection({ messages: [goal], toolConfig: { tools: [{ cachePoint: { type: 'default' } }] } }),
    ).toContain('holds no toolSpec');
  });

  it('rejects a content block that sets two union members', () => {
    expect(
      rejection({ messages: [{ role: 'user', content: [{ text: 'x', cachePoint: { type: 'default' } }] }] }),
    ).toContain("'messages.0.content.0'");
  });

  it('checks requestMetadata against the Converse limits', () => {
    expect(rejection({ messages: [goal], requestMetadata: { sessionId: 'a;b' } })).toContain(
      "Value 'a;b' at 'requestMetadata.sessionId'",
    );
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(rejection({ messages: [goal], requestMetadata: many })).toContain('at most 16 entries');
  });

  it('checks inference parameters', () => {
    expect(rejection({ messages: [goal], inferenceConfig: { maxTokens: 0 } })).toContain(
      "'inferenceConfig.maxTokens'",
    );
    expect(rejection({ messages: [goal], inferenceConfig: { temperature: 1.5 } })).toContain(
      "'inferenceConfig.temperature'",
    );
  });
});
