import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * Requests to the deployed API (API Gateway, every method IAM-authorised) are signed with SigV4 for the
 * `execute-api` service, with credentials from the standard AWS chain (environment, profile and SSO, web identity,
 * container and instance roles) — the AWS SDK's signer and providers, nothing hand-written.
 */

/** Whether a server URL is the deployed API rather than a local control plane (which takes no signature). */
export function isAwsApi(url: string): boolean {
  return (
    /^https:\/\/[^/]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(\/|$)/.test(url) ||
    process.env.TROPOS_SIGV4 === 'true'
  );
}

/** The region of an execute-api URL (`https://<id>.execute-api.<region>.amazonaws.com/v1`), else AWS_REGION. */
export function regionOf(url: string): string {
  const m = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(url);
  const region = m?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new CredentialsError('cannot tell the API region: use its execute-api URL, or set AWS_REGION');
  return region;
}

/** No credentials could be found, or they could not be used. */
export class CredentialsError extends Error {
  public override readonly name = 'CredentialsError';
}

export class SigV4Signer {
  private readonly signer: SignatureV4;

  constructor(region: string, credentials: AwsCredentialIdentityProvider = defaultProvider()) {
    const checked: AwsCredentialIdentityProvider = async () => {
      try {
        return await credentials();
      } catch (e) {
        throw new CredentialsError(
          `no AWS credentials to sign the request (${(e as Error).message}); set AWS_PROFILE, run aws sso login, or export AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
        );
      }
    };
    this.signer = new SignatureV4({
      service: 'execute-api',
      region,
      credentials: checked,
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  /** The headers to send: the request's own and the signature's. */
  public async sign(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    const u = new URL(url);
    const request = new HttpRequest({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      ...(u.port ? { port: Number(u.port) } : {}),
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: { ...headers, host: u.host },
      ...(body === undefined ? {} : { body }),
    });
    const signed = await this.signer.sign(request);
    return signed.headers;
  }
}
