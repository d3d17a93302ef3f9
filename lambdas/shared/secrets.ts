import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { requiredEnv } from './runtime';

let cached: Promise<string> | undefined;

/**
 * The callback signing secret, from Secrets Manager (TROPOS_CALLBACK_SECRET_ID names it); read once per container.
 * Locally, AWS_ENDPOINT_URL_SECRETS_MANAGER points the client at the local endpoint.
 */
export function callbackSecret(): Promise<string> {
  cached ??= new SecretsManagerClient({})
    .send(new GetSecretValueCommand({ SecretId: requiredEnv('TROPOS_CALLBACK_SECRET_ID') }))
    .then((out) => {
      if (!out.SecretString) throw new Error('the callback signing secret has no string value');
      return out.SecretString;
    })
    .catch((e: unknown) => {
      cached = undefined;
      throw e;
    });
  return cached;
}
