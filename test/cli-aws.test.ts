// The CLI against the deployed API: requests signed with SigV4 (checked by a loopback server that verifies the
// signature the way API Gateway does, with the same secret), 429s retried with backoff, clear answers when the
// credentials are missing or IAM denies the call.
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiError } from '../lib/cli/client';
import { CredentialsError, isAwsApi, regionOf, SigV4Signer } from '../lib/cli/sigv4';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

interface Gateway {
  readonly url: string;
  readonly seen: { method: string; path: string; verified: boolean; status: number }[];
  /** Answers the next requests with these statuses (then 200). */
  answer(...statuses: number[]): void;
  close(): Promise<void>;
}

/** Verifies a request's SigV4 signature as API Gateway would: re-sign what was received, compare. */
async function verified(req: IncomingMessage, body: string): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '');
  const date = String(req.headers['x-amz-date'] ?? '');
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
  if (!auth.startsWith('AWS4-HMAC-SHA256 ') || !date || !signedHeaders.includes('host')) return false;
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const headers = Object.fromEntries(signedHeaders.map((h) => [h, String(req.headers[h] ?? '')]));
  const signer = new SignatureV4({
    service: 'execute-api',
    region: 'us-east-1',
    credentials: CREDENTIALS,
    sha256: Hash.bind(null, 'sha256'),
  });
  const again = await signer.sign(
    new HttpRequest({
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body ? { body } : {}),
    }),
    {
      signingDate: new Date(
        `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
      ),
    },
  );
  return again.headers.authorization === auth;
}

async function startGateway(): Promise<Gateway> {
  const seen: Gateway['seen'] = [];
  let queue: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      void verified(req, body).then((ok) => {
        const status = !ok ? 403 : (queue.shift() ?? 200);
        seen.push({ method: req.method ?? '', path: req.url ?? '', verified: ok, status });
        if (status === 403)
          return void res.writeHead(403, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              Message: ok
                ? 'User: arn:aws:sts::111122223333:assumed-role/reader/jane is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:111122223333:abc/v1/POST/runs'
                : 'The request signature we calculated does not match the signature you provided.',
            }),
          );
        if (status === 429)
          return void res.writeHead(429, { 'content-type': 'application/json' }).end('{"message":"Too Many Requests"}');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ runs: [], echo: body }));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    seen,
    answer: (...statuses) => (queue = statuses),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => gw.close());
beforeEach(() => gw.seen.splice(0));

const client = (credentials = async () => CREDENTIALS) =>
  new ApiClient(gw.url, 'ignored', { signer: new SigV4Signer('us-east-1', credentials), sleep: async () => undefined });

describe('the CLI against the deployed API', () => {
  test('execute-api URLs are recognised, with their region', () => {
    expect(isAwsApi('https://abc123.execute-api.eu-west-1.amazonaws.com/v1')).toBe(true);
    expect(isAwsApi('http://127.0.0.1:8080')).toBe(false);
    expect(regionOf('https://abc123.execute-api.eu-west-1.amazonaws.com/v1')).toBe('eu-west-1');
  });

  test('every request is signed with SigV4 and the gateway verifies it (GET with a query, POST with a body)', async () => {
    await client().request('GET', '/runs?status=FAILED&limit=5');
    const out = await client().request<{ echo: string }>('POST', '/runs', { workflow: 'plan-environment', input: {} });
    expect(out.echo).toBe('{"workflow":"plan-environment","input":{}}');
    expect(gw.seen.map((s) => [s.method, s.verified])).toEqual([
      ['GET', true],
      ['POST', true],
    ]);
  });

  test('a wrong secret is refused by the gateway: the signature really is checked', async () => {
    const wrong = client(async () => ({ ...CREDENTIALS, secretAccessKey: 'not-the-secret' }));
    await expect(wrong.request('GET', '/runs')).rejects.toMatchObject({ status: 403 });
    expect(gw.seen[0]!.verified).toBe(false);
  });

  test('429 answers are retried with backoff until the call goes through', async () => {
    gw.answer(429, 429, 429);
    await expect(client().request('GET', '/runs')).resolves.toMatchObject({ runs: [] });
    expect(gw.seen.map((s) => s.status)).toEqual([429, 429, 429, 200]);
  });

  test('throttled for good: a clear error after the last try', async () => {
    gw.answer(429, 429, 429, 429, 429, 429, 429);
    await expect(client().request('GET', '/runs')).rejects.toMatchObject({ status: 429, body: { error: 'Throttled' } });
    expect(gw.seen).toHaveLength(6);
  });

  test('a caller IAM denies gets AccessDenied naming the call and the policies to attach', async () => {
    gw.answer(403);
    const e = (await client()
      .request('POST', '/runs', {})
      .catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.body.error).toBe('AccessDenied');
    expect(e.message).toMatch(/refused POST \/runs: User: .*reader\/jane is not authorized .*OperatorPolicyArn/);
  });

  test('missing credentials: a message that says how to provide them', async () => {
    const none = client(async () => {
      throw new Error('Could not load credentials from any providers');
    });
    await expect(none.request('GET', '/runs')).rejects.toThrow(CredentialsError);
    await expect(none.request('GET', '/runs')).rejects.toThrow(/no AWS credentials to sign the request .*AWS_PROFILE/);
    expect(gw.seen).toEqual([]);
  });
});
