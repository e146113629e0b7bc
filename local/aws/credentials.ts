/** The dummy credentials and account of the local stack, once for every stand-in and client that needs them. */

/** The account id every local ARN carries (the one LocalStack and the SAM CLI use too). */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Credentials the stand-ins accept; they never check them, the SDK only needs some to sign. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** The same credentials as environment variables, for processes and workers the stack starts. */
export const LOCAL_CREDENTIAL_ENV = { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

/** Credentials for an SDK client of the local stack: the environment's when it has some, else the dummy ones. */
export const localClientCredentials = (): { credentials?: typeof LOCAL_CREDENTIALS } =>
  process.env.AWS_ACCESS_KEY_ID ? {} : { credentials: LOCAL_CREDENTIALS };
