/** Stands in for `@aws-sdk/credential-provider-node` in the function bundles (serverless.yml custom.esbuild.alias). */
import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The SDK clients' default credential provider, reduced to the environment: Lambda puts the execution role's
 * credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the rest of the Node.js
 * chain is dead weight in a bundle. A missing variable fails the first call with the SDK's own error.
 */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}): ReturnType<typeof fromEnv> =>
  fromEnv(init);
