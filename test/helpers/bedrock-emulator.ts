/** One local Bedrock emulator per test file, reached as production reaches Bedrock (AWS_ENDPOINT_URL_BEDROCK_RUNTIME). */
import { BedrockRuntimeClient, type BedrockRuntimeServiceException } from '@aws-sdk/client-bedrock-runtime';
import { type BedrockEmulator, startBedrockEmulator } from '../../local/bedrock/emulator';

export const LOCAL_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };

/**
 * Starts the emulator before the file's tests and a client with `maxAttempts` that finds it only through the
 * endpoint variable; stops both after, restoring the variable. Read `emulator` and `client` inside tests.
 */
export const useBedrockEmulator = (maxAttempts: number) => {
  const saved = process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
  const handle = {} as { emulator: BedrockEmulator; client: BedrockRuntimeClient };
  beforeAll(async () => {
    handle.emulator = await startBedrockEmulator();
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = handle.emulator.url;
    handle.client = new BedrockRuntimeClient({
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      maxAttempts,
    });
  });
  afterAll(async () => {
    handle.client?.destroy();
    await handle.emulator?.close();
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
    else process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = saved;
  });
  return handle;
};

/** The error a call that must fail failed with; a call that succeeds fails the test. */
export const rejectionOf = async (promise: Promise<unknown>): Promise<BedrockRuntimeServiceException> => {
  try {
    await promise;
  } catch (error) {
    return error as BedrockRuntimeServiceException;
  }
  throw new Error('expected the Converse call to fail');
};
