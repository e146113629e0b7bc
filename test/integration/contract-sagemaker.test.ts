/**
 * Contract of the local SageMaker Runtime emulator against the REAL SageMakerRuntimeClient (HTTP/1.1, SigV4 for
 * `sagemaker`, the SDK's REST-JSON (de)serializers and retry strategy), through the production provider. No DynamoDB.
 *
 * What is pinned, and where the behaviour is documented:
 * - InvokeEndpoint: POST /endpoints/{EndpointName}/invocations, Body/ContentType/Accept/CustomAttributes
 *   (X-Amzn-SageMaker-Custom-Attributes): https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
 * - Error types and statuses as the SDK's error schemas declare them (ValidationError 400, ModelError 424 with
 *   OriginalStatusCode/OriginalMessage/LogStreamArn, ModelNotReadyException 429, InternalFailure 500,
 *   ServiceUnavailable 503); an unknown endpoint's message as SageMaker words it ("Endpoint X of account Y not
 *   found.", https://github.com/aws/amazon-sagemaker-examples/issues/293).
 * - The chat-completions body LMI answers on /invocations:
 *   https://docs.djl.ai/docs/serving/serving/docs/lmi/user_guides/chat_input_output_schema.html
 */
import { InvokeEndpointCommand, ModelError, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SessionScripts } from '../../local/bedrock/session-scripts';
import { type SageMakerEmulator, startSageMakerEmulator } from '../../local/sagemaker/emulator';
import { SageMakerChatProvider } from '../../shared/providers/sagemaker-chat';
import { ModelRequestError, ModelThrottledError, ModelUnavailableError } from '../../shared/runtime/errors';

const ENDPOINT = 'sovereign-agent-it-private';
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

let emulator: SageMakerEmulator;
let client: SageMakerRuntimeClient;
const scripts = new SessionScripts();

beforeAll(async () => {
  emulator = await startSageMakerEmulator({ endpointNames: [ENDPOINT], scripts, region: 'us-east-1' });
  client = new SageMakerRuntimeClient({ endpoint: emulator.url, region: 'us-east-1', credentials });
});

afterAll(async () => {
  client?.destroy();
  scripts.close();
  await emulator?.close();
});

const request = (sessionId: string) => ({
  modelId: 'sagemaker:llama-3-1-8b-instruct',
  system: [{ text: 'You audit bills.' }],
  messages: [{ role: 'user' as const, content: [{ text: 'Goal: audit the billing logs of acme.' }] }],
  toolConfig: {
    tools: [
      {
        toolSpec: {
          name: 'audit_billing_logs',
          description: 'Audits the billing logs of a tenant.',
          inputSchema: { json: { type: 'object', properties: { tenant_id: { type: 'string' } } } },
        },
      },
    ],
  },
  inferenceConfig: { maxTokens: 500 },
  requestMetadata: { tenantId: 'acme', sessionId, turn: '1' },
});

const provider = (endpointName = ENDPOINT) => new SageMakerChatProvider(client, endpointName);

describe('SageMaker Runtime emulator contract', () => {
  it('answers a chat-completions request with tool calls the provider maps back, recording tenant and session', async () => {
    // Act
    const answer = await provider().converse(request('c-1'));

    // Assess
    expect(answer.stopReason).toBe('tool_use');
    expect(answer.content).toEqual([
      {
        toolUse: { toolUseId: expect.any(String), name: 'audit_billing_logs', input: { tenant_id: 'acme' } },
      },
    ]);
    expect(answer.usage.input).toBeGreaterThan(0);
    expect(answer.usage.output).toBeGreaterThan(0);
    const call = emulator.calls().find((c) => c.sessionId === 'c-1');
    expect(call).toMatchObject({ endpointName: ENDPOINT, tenantId: 'acme', status: 200, turn: 1 });
    expect(call?.usage).toEqual({ promptTokens: answer.usage.input, completionTokens: answer.usage.output });
  });

  it("refuses an endpoint the stage does not have with SageMaker's ValidationError wording", async () => {
    // Act
    const act = client.send(
      new InvokeEndpointCommand({
        EndpointName: 'other',
        ContentType: 'application/json',
        Body: Buffer.from('{}'),
      }),
    );

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'Endpoint other of account 000000000000 not found.',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(provider('other').converse(request('c-2'))).rejects.toBeInstanceOf(ModelRequestError);
  });

  it('wraps what the container refuses in a 424 ModelError with its original status', async () => {
    // Act
    const act = client.send(
      new InvokeEndpointCommand({
        EndpointName: ENDPOINT,
        ContentType: 'application/json',
        Body: Buffer.from(JSON.stringify({ inputs: 'not a chat request' })),
      }),
    );

    // Assess
    const error = (await act.catch((e: unknown) => e)) as ModelError;
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ OriginalStatusCode: 400, $metadata: { httpStatusCode: 424 } });
    expect(error.message).toMatch(/^Received client error \(400\) from primary with message /);
  });

  it.each([
    ['ThrottlingException', ModelThrottledError, 'ThrottlingException', 3],
    ['ServiceUnavailableException', ModelUnavailableError, 'ServiceUnavailable', 3],
    ['ModelErrorException', ModelUnavailableError, 'ModelError', 1],
    ['ValidationException', ModelRequestError, 'ValidationError', 1],
  ] as const)(
    'answers a scripted %s as SageMaker would, retried by the SDK as it retries that',
    async (fault, mapped, wire, attempts) => {
      // Prepare
      const sessionId = `fault-${fault}`;
      scripts.set(sessionId, { turns: [{ text: 'never', error: fault, times: 10 }] });

      // Act
      const act = provider().converse(request(sessionId));

      // Assess
      await expect(act).rejects.toBeInstanceOf(mapped);
      const calls = emulator.calls().filter((c) => c.sessionId === sessionId);
      expect(calls.map((c) => c.errorType)).toEqual(Array(attempts).fill(wire));
    },
  );
});
