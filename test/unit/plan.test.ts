/** The Plan step: Converse request shape, model error mapping, and one committed model call per turn. */

import {
  AccessDeniedException,
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  InternalServerException,
  ModelNotReadyException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceQuotaExceededException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { TOOL_OUTPUT_INSTRUCTION } from '../../shared/agent/conversation';
import * as securityEvents from '../../shared/observability/security-events';
import 'aws-sdk-client-mock-jest';
import { requireModel } from '../../shared/agent/models';
import { getProfile } from '../../shared/agent/profiles';
import type { Route } from '../../shared/agent/routing';
import { toolsForAgent } from '../../shared/agent/tools';
import { BedrockConverseProvider, classifyModelError } from '../../shared/providers/bedrock-converse';
import { SageMakerChatProvider } from '../../shared/providers/sagemaker-chat';
import {
  ModelRequestError,
  ModelThrottledError,
  ModelUnavailableError,
  PricingError,
  SessionStateError,
} from '../../shared/runtime/errors';
import { buildRequest, type PlanDeps, planTurn } from '../../shared/steps/plan';
import type { Conversation } from '../../shared/store/session-store';
import asl from '../../statemachines/agent-goal.asl.json';
import { credentials, mockedStore, REGION, transactionConditionFailed } from '../helpers/aws';
import {
  assistantText,
  assistantToolUses,
  conversationOf,
  dataBlock,
  defaultLimits,
  goalItem,
  partitionItems,
  SESSION,
  sessionItem,
  TENANT,
  TIERS,
  toolCallItem,
} from '../helpers/fixtures';

const profile = getProfile('billing-auditor');
const tools = toolsForAgent(profile.actionGroups);
const plannerRoute: Route = { tier: 'planner', modelId: TIERS.planner, rci: 95, reason: 'planning turn' };
const privateRoute: Route = { tier: 'private', modelId: TIERS.private, rci: 95, reason: 'restricted' };
const readerRoute: Route = { tier: 'reader', modelId: TIERS.reader, rci: 20, reason: 'summarising' };
const CACHE_POINT = { cachePoint: { type: 'default' } };
const cachePointCount = (request: ConverseCommandInput): number =>
  JSON.stringify(request).match(/cachePoint/g)?.length ?? 0;

const toolUseAnswer: ContentBlock[] = [
  { text: 'Let me gather the facts.' },
  { toolUse: { toolUseId: 'tu-audit', name: 'audit_billing_logs', input: { tenant_id: TENANT } } },
  { toolUse: { toolUseId: 'tu-idle', name: 'list_underutilized_resources', input: { tenant_id: TENANT } } },
];

const converseReply = (content: ContentBlock[], usage = { inputTokens: 1000, outputTokens: 500 }) => ({
  output: { message: { role: 'assistant' as const, content } },
  stopReason: content.some((b) => b.toolUse) ? ('tool_use' as const) : ('end_turn' as const),
  usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens },
  metrics: { latencyMs: 250 },
});

const setup = (conversation: Conversation, tiers: PlanDeps['tiers'] = { ...TIERS }) => {
  const { ddb, store } = mockedStore();
  const bedrockClient = new BedrockRuntimeClient({ region: REGION, credentials });
  const bedrock = mockClient(bedrockClient);
  const sageMakerClient = new SageMakerRuntimeClient({ region: REGION, credentials });
  const sagemaker = mockClient(sageMakerClient);
  ddb.on(QueryCommand).resolves({ Items: partitionItems(conversation) });
  ddb.on(TransactWriteCommand).resolves({});
  let clock = 10_000;
  const now = () => (clock += 250);
  const deps: PlanDeps = {
    store,
    providers: {
      bedrock: new BedrockConverseProvider(bedrockClient, now),
      sagemaker: new SageMakerChatProvider(sageMakerClient, 'sovereign-agent-test-private', now),
    },
    tiers,
    now,
  };
  return { ddb, bedrock, sagemaker, deps };
};

const sentRequest = (bedrock: ReturnType<typeof setup>['bedrock']): ConverseCommandInput => {
  const call = bedrock.commandCalls(ConverseCommand)[0];
  if (!call) throw new Error('Converse was not called');
  return call.args[0].input;
};

const firstTurn = () => conversationOf(sessionItem());
const ids = { tenantId: TENANT, sessionId: SESSION };

describe('buildRequest', () => {
  it('puts Claude cache points after the system prompt, after the goal and after the tools on a first turn', () => {
    // Act
    const request = buildRequest({
      profile,
      session: sessionItem(),
      conversation: firstTurn(),
      route: plannerRoute,
      tools,
      turn: 1,
      promptCaching: true,
    });

    // Assess
    expect(request.system).toEqual([
      { text: `${profile.instructions}\n\n${TOOL_OUTPUT_INSTRUCTION}` },
      CACHE_POINT,
    ]);
    const toolList = request.toolConfig?.tools ?? [];
    expect(toolList.slice(0, -1).map((t) => t.toolSpec?.name)).toEqual(tools.map((t) => t.name));
    // Claude's catalog entry accepts a cache point in toolConfig.tools
    expect(toolList.at(-1)).toEqual(CACHE_POINT);
    expect(request.messages?.[0]?.content?.at(-1)).toEqual(CACHE_POINT);
  });

  it("sends the stage's guardrail to Bedrock models only, with its trace, and none without one", () => {
    // Prepare
    const guardrail = { guardrailIdentifier: 'abc123', guardrailVersion: '1' };
    const base = {
      profile,
      session: sessionItem(),
      conversation: firstTurn(),
      tools,
      turn: 1,
      promptCaching: true,
    };
    const privateRoute = {
      ...plannerRoute,
      modelId: 'sagemaker:llama-3-1-8b-instruct',
      tier: 'private' as const,
    };

    // Act
    const guarded = buildRequest({ ...base, route: plannerRoute, guardrail });
    const privateCall = buildRequest({ ...base, route: privateRoute, guardrail });
    const unguarded = buildRequest({ ...base, route: plannerRoute });

    // Assess
    expect(guarded.guardrailConfig).toEqual({ ...guardrail, trace: 'enabled' });
    expect(privateCall.guardrailConfig).toBeUndefined();
    expect(unguarded.guardrailConfig).toBeUndefined();
  });

  it('marks the end of the conversation and the end of the previous request, so a turn reads what the last wrote', () => {
    // Prepare: goal, turn 1 (tools) + results, turn 2 (tools) + results
    const calls = [
      toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-1', name: 'audit_billing_logs' }),
      toolCallItem({ turn: 2, index: 0, toolUseId: 'tu-2', name: 'get_contract_terms' }),
    ];
    const conversation = conversationOf(
      sessionItem({ turn: 2 }),
      [
        goalItem(),
        assistantToolUses(1, [{ toolUseId: 'tu-1', name: 'audit_billing_logs' }]),
        assistantToolUses(2, [{ toolUseId: 'tu-2', name: 'get_contract_terms' }]),
      ],
      calls,
    );

    // Act
    const request = buildRequest({
      profile,
      session: conversation.session,
      conversation,
      route: plannerRoute,
      tools,
      turn: 3,
      promptCaching: true,
    });

    // Assess: checkpoints after message 2 (the previous request's end) and message 4 (this one's), plus system and
    // tools: 4, Claude's maxCheckpoints
    const marked = (request.messages ?? []).map((m) => m.content?.some((b) => b.cachePoint) ?? false);
    expect(marked).toEqual([false, false, true, false, true]);
    expect(cachePointCount(request)).toBe(4);
    expect(cachePointCount(request)).toBeLessThanOrEqual(
      requireModel(TIERS.planner).promptCaching?.maxCheckpoints ?? 0,
    );
    // The stored conversation is not changed by the request built from it
    expect(JSON.stringify(conversation.messages)).not.toContain('cachePoint');
  });

  it('sends no cache points to a model without prompt caching (Bedrock would reject them)', () => {
    // Act: caching is on for the stage, the private entry has no promptCaching
    const request = buildRequest({
      profile,
      session: sessionItem(),
      conversation: firstTurn(),
      route: privateRoute,
      tools,
      turn: 1,
      promptCaching: true,
    });

    // Assess
    expect(JSON.stringify(request)).not.toContain('cachePoint');
    expect(request.modelId).toBe(TIERS.private);
  });

  it('keeps Nova cache points out of toolConfig.tools, in system and messages only', () => {
    // Act
    const request = buildRequest({
      profile,
      session: sessionItem(),
      conversation: firstTurn(),
      route: readerRoute,
      tools,
      turn: 1,
      promptCaching: true,
    });

    // Assess
    expect(JSON.stringify(request.toolConfig)).not.toContain('cachePoint');
    expect(request.system?.at(-1)).toEqual(CACHE_POINT);
    expect(request.messages?.[0]?.content?.at(-1)).toEqual(CACHE_POINT);
    expect(cachePointCount(request)).toBe(2);
  });

  it('never asks for more output tokens than the model allows', () => {
    // Prepare: a profile asking for more than Nova Lite's 10,000
    const greedy = { ...profile, inference: { ...profile.inference, maxTokens: 50_000 } };

    // Act
    const request = buildRequest({
      profile: greedy,
      session: sessionItem(),
      conversation: firstTurn(),
      route: readerRoute,
      tools,
      turn: 1,
      promptCaching: false,
    });

    // Assess
    expect(request.inferenceConfig?.maxTokens).toBe(requireModel(TIERS.reader).maxOutputTokens);
    expect(request.inferenceConfig?.maxTokens).toBe(10_000);
  });

  it('tags the call with tenant, session, agent and turn, and uses the profile inference settings', () => {
    // Act
    const request = buildRequest({
      profile,
      session: sessionItem(),
      conversation: firstTurn(),
      route: plannerRoute,
      tools,
      turn: 3,
      promptCaching: true,
    });

    // Assess
    expect(request.requestMetadata).toEqual({
      tenantId: TENANT,
      sessionId: SESSION,
      agent: 'billing-auditor',
      turn: '3',
    });
    expect(request.inferenceConfig).toEqual({ maxTokens: 2048, temperature: 0.2 });
    expect(request.toolConfig?.tools?.[0]?.toolSpec?.inputSchema).toEqual({ json: tools[0]?.inputSchema });
  });
});

describe('classifyModelError', () => {
  const meta = { $metadata: {} };
  const retried = new Set(
    (asl.States.Plan.Retry as { ErrorEquals: string[] }[]).flatMap((rule) => rule.ErrorEquals),
  );

  it.each([
    [
      'ThrottlingException',
      new ThrottlingException({ message: 'Too many requests', ...meta }),
      ModelThrottledError,
    ],
    [
      'ServiceQuotaExceededException',
      new ServiceQuotaExceededException({ message: 'quota', ...meta }),
      ModelThrottledError,
    ],
    [
      'ModelTimeoutException',
      new ModelTimeoutException({ message: 'timeout', ...meta }),
      ModelUnavailableError,
    ],
    [
      'ServiceUnavailableException',
      new ServiceUnavailableException({ message: 'down', ...meta }),
      ModelUnavailableError,
    ],
    [
      'InternalServerException',
      new InternalServerException({ message: 'oops', ...meta }),
      ModelUnavailableError,
    ],
    [
      'ModelNotReadyException',
      new ModelNotReadyException({ message: 'cold', ...meta }),
      ModelUnavailableError,
    ],
  ])('maps %s to an error the Plan state retries', (_name, error, expected) => {
    // Act
    const mapped = classifyModelError(error, TIERS.planner);

    // Assess
    expect(mapped).toBeInstanceOf(expected);
    expect(retried.has(mapped.name)).toBe(true);
    expect(mapped.cause).toBe(error);
    expect(mapped.message).toContain(TIERS.planner);
  });

  it.each([
    ['ValidationException', new ValidationException({ message: 'bad request', ...meta })],
    ['AccessDeniedException', new AccessDeniedException({ message: 'no access', ...meta })],
    ['ResourceNotFoundException', new ResourceNotFoundException({ message: 'no model', ...meta })],
  ])('maps %s to ModelRequestError, which the Plan state does not retry', (_name, error) => {
    // Act
    const mapped = classifyModelError(error, TIERS.planner);

    // Assess
    expect(mapped).toBeInstanceOf(ModelRequestError);
    expect(retried.has(mapped.name)).toBe(false);
    expect(mapped.message).toContain(error.message);
  });

  it('maps a non-Error rejection to ModelRequestError', () => {
    // Act
    const mapped = classifyModelError('socket hang up', TIERS.executor);

    // Assess
    expect(mapped).toBeInstanceOf(ModelRequestError);
    expect(mapped.message).toContain('socket hang up');
  });
});

describe('planTurn: a new turn', () => {
  it('asks the planner tier for the first turn of a complex goal and commits its answer with cost', async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn());
    bedrock.on(ConverseCommand).resolves(converseReply(toolUseAnswer));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toEqual({
      turn: 1,
      action: 'tools',
      toolCalls: [
        { toolUseId: 'tu-audit', name: 'audit_billing_logs', index: 0 },
        { toolUseId: 'tu-idle', name: 'list_underutilized_resources', index: 1 },
      ],
      reason: null,
      modelId: TIERS.planner,
      tier: 'planner',
      usage: { input: 1000, output: 500, cacheRead: 0, cacheWrite: 0 },
      // 1000 x $3.30 + 500 x $16.50 per 1M on Sonnet 4.6 (US profile) plus the turn's 85 micro-dollars of infrastructure.
      costUsd: 0.011635,
    });
    const request = sentRequest(bedrock);
    expect(request.modelId).toBe(TIERS.planner);
    expect(request.messages).toEqual([
      { role: 'user', content: [...(goalItem().content ?? []), CACHE_POINT] },
    ]);
    expect(request.requestMetadata).toMatchObject({ tenantId: TENANT, sessionId: SESSION });
    // Sonnet 4.6 caches prompts (its catalog entry): system, goal and tools are marked.
    expect(cachePointCount(request)).toBe(3);

    const write = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input;
    const [put, update] = write?.TransactItems ?? [];
    expect(put?.Put?.Item).toMatchObject({
      sk: 'M#0001',
      turn: 1,
      role: 'assistant',
      content: toolUseAnswer,
      modelId: TIERS.planner,
      tier: 'planner',
      costUsd: 0.011635,
      costMicros: 11_635,
      provider: 'bedrock',
      latencyMs: 250,
      stopReason: 'tool_use',
    });
    expect(update?.Update?.ExpressionAttributeValues).toMatchObject({
      ':previous': 0,
      ':turn': 1,
      ':cost': 0.011635,
    });
  });

  it('feeds the recorded tool results back and uses the executor tier on later turns', async () => {
    // Prepare
    const turnOne = assistantToolUses(1, [{ toolUseId: 'tu-audit', name: 'audit_billing_logs' }]);
    const call = toolCallItem({
      turn: 1,
      index: 0,
      toolUseId: 'tu-audit',
      name: 'audit_billing_logs',
      result: '{"total":42}',
    });
    const { bedrock, deps } = setup(conversationOf(sessionItem({ turn: 1 }), [goalItem(), turnOne], [call]));
    bedrock.on(ConverseCommand).resolves(converseReply([{ text: 'Total spend is $42.' }]));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toMatchObject({ turn: 2, action: 'finish', toolCalls: [], tier: 'executor' });
    const request = sentRequest(bedrock);
    expect(request.modelId).toBe(TIERS.executor);
    // Claude Haiku 4.5 caches prompts: cache points follow the system prompt and the tools.
    expect(request.system?.at(-1)).toEqual({ cachePoint: { type: 'default' } });
    expect(request.messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(request.messages?.[2]?.content?.[0]?.toolResult).toEqual({
      toolUseId: 'tu-audit',
      content: dataBlock('{"total":42}'),
      status: 'success',
    });
  });

  it('sends no cache point to a caching model when the stage turned prompt caching off', async () => {
    // Prepare
    const turnOne = assistantToolUses(1, [{ toolUseId: 'tu-audit', name: 'audit_billing_logs' }]);
    const call = toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-audit', name: 'audit_billing_logs' });
    const { bedrock, deps } = setup(conversationOf(sessionItem({ turn: 1 }), [goalItem(), turnOne], [call]));
    bedrock.on(ConverseCommand).resolves(converseReply([{ text: 'Total spend is $42.' }]));

    // Act
    await planTurn({ ...deps, promptCaching: false }, ids);

    // Assess: the executor (Claude Haiku 4.5) caches, but not on this stage
    const request = sentRequest(bedrock);
    expect(request.modelId).toBe(TIERS.executor);
    expect(JSON.stringify(request)).not.toContain('cachePoint');
  });

  it('sends restricted data only to the private endpoint, uncached, priced and marked as sagemaker', async () => {
    // Prepare
    const session = sessionItem({ limits: defaultLimits({ dataClassification: 'restricted' }) });
    const { ddb, bedrock, sagemaker, deps } = setup(conversationOf(session));
    const chat = {
      choices: [
        {
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call-1',
                type: 'function',
                function: { name: 'audit_billing_logs', arguments: JSON.stringify({ tenant_id: TENANT }) },
              },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 1000, completion_tokens: 500 },
    };
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode(JSON.stringify(chat)) as never,
      ContentType: 'application/json',
    });

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toMatchObject({ tier: 'private', modelId: TIERS.private, action: 'tools' });
    expect(result.costUsd).toBeGreaterThan(0);
    expect(bedrock).toHaveReceivedCommandTimes(ConverseCommand, 0);
    expect(sagemaker).toHaveReceivedCommandWith(InvokeEndpointCommand, {
      EndpointName: 'sovereign-agent-test-private',
      ContentType: 'application/json',
    });
    const body = sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input.Body as Uint8Array;
    expect(new TextDecoder().decode(body)).not.toContain('cachePoint');
    const put = JSON.stringify(ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input);
    expect(put).toContain('"provider":"sagemaker"');
  });

  it('surfaces a throttled Converse call as ModelThrottledError and commits nothing', async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn());
    bedrock
      .on(ConverseCommand)
      .rejects(new ThrottlingException({ message: 'Too many requests', $metadata: {} }));

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toBeInstanceOf(ModelThrottledError);
    await expect(act).rejects.toHaveProperty('name', 'ModelThrottledError');
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('never calls a model whose price is unknown', async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn(), { ...TIERS, planner: 'anthropic.claude-next-v1:0' });

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toThrow(PricingError);
    await expect(act).rejects.toThrow(/anthropic\.claude-next-v1:0/);
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('rejects an empty model answer without committing a turn', async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn());
    bedrock.on(ConverseCommand).resolves(converseReply([]));

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toThrow(ModelRequestError);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it("commits a guardrail's intervention as the turn, stops the goal for it, and logs a security event", async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn());
    bedrock.on(ConverseCommand).resolves({
      ...converseReply([{ text: 'Blocked by the guardrail.' }]),
      stopReason: 'guardrail_intervened',
    });
    const events = jest.spyOn(securityEvents, 'logSecurityEvent').mockImplementation(() => undefined);

    // Act
    const result = await planTurn(
      { ...deps, guardrail: { guardrailIdentifier: 'abc123', guardrailVersion: '1' } },
      ids,
    );

    // Assess
    expect(result).toMatchObject({ turn: 1, action: 'stop', reason: 'guardrail_intervened' });
    expect(ddb).toHaveReceivedCommand(TransactWriteCommand);
    expect(events).toHaveBeenCalledWith(
      'guardrail_intervened',
      expect.objectContaining({ sessionId: SESSION, tenantId: TENANT, turn: 1, guardrailId: 'abc123' }),
    );
    events.mockRestore();
  });

  it('records the usage and cost of an answer cut at max_tokens with nothing usable, then fails', async () => {
    // Prepare: the tool call did not fit and was dropped; the tokens were spent all the same
    const { ddb, bedrock, deps } = setup(firstTurn());
    ddb.on(UpdateCommand).resolves({});
    bedrock.on(ConverseCommand).resolves({
      ...converseReply([{ text: '  ' }], { inputTokens: 900, outputTokens: 64 }),
      stopReason: 'max_tokens',
    });

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toThrow(/no usable content .*max_tokens/);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    const update = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(update?.UpdateExpression).toContain('ADD tokensInput :in, tokensOutput :out');
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':in': 900, ':out': 64 });
    expect(update?.ExpressionAttributeValues?.[':cost']).toBeGreaterThan(0);
  });
});

describe('planTurn: budgets and session state', () => {
  it('stops on the token budget before calling the model', async () => {
    // Prepare
    const session = sessionItem({
      turn: 2,
      limits: defaultLimits({ tokenBudget: 5_000 }),
      tokensInput: 3_000,
      tokensOutput: 1_000,
      tokensCacheRead: 1_000,
    });
    const messages = [
      goalItem(),
      assistantToolUses(1, [{ toolUseId: 'a', name: 'audit_billing_logs' }]),
      assistantToolUses(2, [{ toolUseId: 'b', name: 'get_contract_terms' }]),
    ];
    const calls = [
      toolCallItem({ turn: 1, index: 0, toolUseId: 'a', name: 'audit_billing_logs' }),
      toolCallItem({ turn: 2, index: 0, toolUseId: 'b', name: 'get_contract_terms' }),
    ];
    const { bedrock, deps } = setup(conversationOf(session, messages, calls));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toEqual({ turn: 2, action: 'stop', toolCalls: [], reason: 'token_budget' });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });

  it('stops on the USD budget before calling the model', async () => {
    // Prepare
    const session = sessionItem({ limits: defaultLimits({ usdBudget: 0.05 }), costUsd: 0.0500001 });
    const { bedrock, deps } = setup(conversationOf(session));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toEqual({ turn: 0, action: 'stop', toolCalls: [], reason: 'usd_budget' });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });

  it('refuses to plan a session that is not running', async () => {
    // Prepare
    const { bedrock, deps } = setup(conversationOf(sessionItem({ status: 'completed' })));

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow(/is completed/);
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });
});

describe('planTurn: replay of committed turns', () => {
  it('replays a committed final answer as finish without calling Bedrock', async () => {
    // Prepare
    const messages = [goalItem(), assistantText(1, 'Nothing to optimize.')];
    const { ddb, bedrock, deps } = setup(conversationOf(sessionItem({ turn: 1 }), messages));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toEqual({ turn: 1, action: 'finish', toolCalls: [], reason: 'completed' });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('replays a committed turn whose tool calls are not all recorded as its tool calls, without calling Bedrock', async () => {
    // Prepare: the first tool finished before a crash, the second never ran
    const turnOne = assistantToolUses(1, [
      { toolUseId: 'tu-audit', name: 'audit_billing_logs' },
      { toolUseId: 'tu-terms', name: 'get_contract_terms' },
    ]);
    const calls = [toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-audit', name: 'audit_billing_logs' })];
    const { bedrock, deps } = setup(conversationOf(sessionItem({ turn: 1 }), [goalItem(), turnOne], calls));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toEqual({
      turn: 1,
      action: 'tools',
      toolCalls: [
        { toolUseId: 'tu-audit', name: 'audit_billing_logs', index: 0 },
        { toolUseId: 'tu-terms', name: 'get_contract_terms', index: 1 },
      ],
      reason: null,
    });
    expect(bedrock).not.toHaveReceivedCommand(ConverseCommand);
  });

  it('keeps the answer of the attempt that committed first when two attempts race on a turn', async () => {
    // Prepare: our commit loses the race; the stored turn 1 is the other attempt's final answer
    const { ddb, bedrock, deps } = setup(firstTurn());
    ddb
      .on(TransactWriteCommand)
      .rejects(
        transactionConditionFailed(assistantText(1, 'Done by the other attempt.'), sessionItem({ turn: 1 })),
      );
    bedrock.on(ConverseCommand).resolves(converseReply(toolUseAnswer));

    // Act
    const result = await planTurn(deps, ids);

    // Assess: the winner comes back with the cancelled transaction; the conversation is not read again
    expect(result).toEqual({ turn: 1, action: 'finish', toolCalls: [], reason: 'completed' });
    expect(bedrock).toHaveReceivedCommandTimes(ConverseCommand, 1);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
  });

  it('fails clearly when the turn could not be committed and nothing was committed instead', async () => {
    // Prepare: the session left running between load and commit (e.g. it was failed by another path)
    const { ddb, bedrock, deps } = setup(firstTurn());
    ddb
      .on(TransactWriteCommand)
      .rejects(transactionConditionFailed('none', sessionItem({ status: 'failed', turn: 0 })));
    bedrock.on(ConverseCommand).resolves(converseReply(toolUseAnswer));

    // Act
    const act = planTurn(deps, ids);

    // Assess
    await expect(act).rejects.toThrow(SessionStateError);
    await expect(act).rejects.toThrow(
      /Turn 1 of session .* could not be committed: the session is failed at turn 0/,
    );
  });
});

describe('planTurn: routing per step and degrading near the cap', () => {
  const LONG = 'a'.repeat(profile.routing.summarizeAboveChars + 1);
  const turnOne = assistantToolUses(1, [{ toolUseId: 'tu-audit', name: 'audit_billing_logs' }]);
  const turnTwo = assistantToolUses(2, [{ toolUseId: 'tu-terms', name: 'get_contract_terms' }]);
  const auditCall = (result: string) =>
    toolCallItem({ turn: 1, index: 0, toolUseId: 'tu-audit', name: 'audit_billing_logs', result });
  const termsCall = toolCallItem({ turn: 2, index: 0, toolUseId: 'tu-terms', name: 'get_contract_terms' });
  const committed = (ddb: ReturnType<typeof setup>['ddb']) =>
    ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put?.Item;
  const afterTwoTurns = (costUsd: number) =>
    conversationOf(
      sessionItem({ turn: 2, costUsd }),
      [goalItem(), turnOne, turnTwo],
      [auditCall(LONG), termsCall],
    );

  it('records the step kind and the rule that decided on the committed turn', async () => {
    // Prepare
    const { ddb, bedrock, deps } = setup(firstTurn());
    bedrock.on(ConverseCommand).resolves(converseReply(toolUseAnswer));

    // Act
    await planTurn(deps, ids);

    // Assess
    expect(committed(ddb)).toMatchObject({ tier: 'planner', stepKind: 'plan' });
    expect(committed(ddb)?.routeReason).toMatch(/^step plan \(first turn\), RCI \d+ > 70: planner$/);
  });

  it('sends the turn after a long tool result to the reader tier as a summarize step', async () => {
    // Prepare
    const conversation = conversationOf(sessionItem({ turn: 1 }), [goalItem(), turnOne], [auditCall(LONG)]);
    const { ddb, bedrock, deps } = setup(conversation);
    bedrock.on(ConverseCommand).resolves(converseReply([{ text: 'Condensed.' }]));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toMatchObject({ tier: 'reader', modelId: TIERS.reader });
    expect(sentRequest(bedrock).modelId).toBe(TIERS.reader);
    expect(committed(ddb)).toMatchObject({ stepKind: 'summarize', tier: 'reader' });
  });

  it('at 85 % of the budget goes one tier cheaper and compacts the older tool results', async () => {
    // Prepare: turn 3 extracts (executor), but 85 % of the USD budget is spent
    const { ddb, bedrock, deps } = setup(afterTwoTurns(0.85));
    bedrock.on(ConverseCommand).resolves(converseReply([{ text: 'Done.' }]));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toMatchObject({ tier: 'reader', modelId: TIERS.reader });
    const [, , auditResult, , termsResult] = sentRequest(bedrock).messages ?? [];
    expect(auditResult?.content?.[0]?.toolResult?.content?.[1]?.text).toBe(
      `${'a'.repeat(profile.routing.degrade.keepResultChars)} [compacted: ${
        LONG.length - profile.routing.degrade.keepResultChars
      } characters dropped to stay within budget]`,
    );
    expect(termsResult?.content?.[0]?.toolResult?.content?.[1]?.text).toBe('{"ok":true}');
    expect(committed(ddb)).toMatchObject({ stepKind: 'extract', tier: 'reader' });
    expect(committed(ddb)?.routeReason).toMatch(
      /: executor; budget 85 % used: reader instead of executor; history compacted$/,
    );
  });

  it('below the threshold sends the whole history to the tier the step kind says', async () => {
    // Prepare
    const { bedrock, deps } = setup(afterTwoTurns(0.79));
    bedrock.on(ConverseCommand).resolves(converseReply([{ text: 'Done.' }]));

    // Act
    const result = await planTurn(deps, ids);

    // Assess
    expect(result).toMatchObject({ tier: 'executor' });
    expect(sentRequest(bedrock).messages?.[2]?.content?.[0]?.toolResult?.content?.[1]?.text).toBe(LONG);
  });
});
