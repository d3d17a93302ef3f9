import { lookup } from 'node:dns/promises';
import { createServer, IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliverCallback } from '../lambdas/record-run/callback';
import {
  CALLBACK_HEADERS,
  CALLBACK_TOLERANCE_SECONDS,
  callbackUrlProblem,
  isLoopbackAddress,
  isPublicAddress,
  signCallback,
  verifyCallback,
} from '../lib/domain/callback';

// The deliverer resolves callback hosts itself: tests answer for names under example.com (the real lookup otherwise).
jest.mock('node:dns/promises', () => {
  const actual = jest.requireActual<typeof import('node:dns/promises')>('node:dns/promises');
  return { ...actual, lookup: jest.fn(actual.lookup) };
});
const realLookup = jest.requireActual<typeof import('node:dns/promises')>('node:dns/promises').lookup;
const resolveTo = (addresses: string[]) =>
  jest
    .mocked(lookup)
    .mockResolvedValueOnce(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) as never);

const SECRET = 'f'.repeat(64);
const NOW = Date.parse('2026-11-22T12:00:00Z');
const ts = NOW / 1000;
const body = '{"event":"run.ended","status":"SUCCEEDED"}';
const signed = (headers: Record<string, string> = {}) => ({
  [CALLBACK_HEADERS.timestamp]: String(ts),
  [CALLBACK_HEADERS.signature]: signCallback(SECRET, ts, body),
  ...headers,
});

describe('callback signatures', () => {
  test('sha256=<hex HMAC of "<timestamp>.<body>">, verified over the raw body', () => {
    expect(signCallback(SECRET, ts, body)).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyCallback(SECRET, signed(), body, NOW)).toEqual({ ok: true });
  });

  test('header names in any case (as API Gateway and many frameworks pass them)', () => {
    const h = signed();
    const mixed = {
      'X-Tropos-Timestamp': h[CALLBACK_HEADERS.timestamp]!,
      'X-Tropos-Signature': h[CALLBACK_HEADERS.signature]!,
    };
    expect(verifyCallback(SECRET, mixed, body, NOW)).toEqual({ ok: true });
  });

  test.each<[string, Record<string, string>, string, number, RegExp]>([
    [
      'another secret signed it',
      signed({ [CALLBACK_HEADERS.signature]: signCallback('other', ts, body) }),
      body,
      NOW,
      /does not match/,
    ],
    ['the body was changed', signed(), body.replace('SUCCEEDED', 'FAILED'), NOW, /does not match/],
    [
      'the timestamp was changed',
      signed({ [CALLBACK_HEADERS.timestamp]: String(ts + 1) }),
      body,
      NOW,
      /does not match/,
    ],
    [
      'it is a replay from long ago',
      signed(),
      body,
      NOW + (CALLBACK_TOLERANCE_SECONDS + 1) * 1000,
      /more than 300 s away/,
    ],
    ['there is no timestamp', { [CALLBACK_HEADERS.signature]: 'sha256=00' }, body, NOW, /no x-tropos-timestamp header/],
    [
      'the timestamp is not a number',
      signed({ [CALLBACK_HEADERS.timestamp]: 'yesterday' }),
      body,
      NOW,
      /"yesterday" is not unix seconds/,
    ],
    ['there is no signature', { [CALLBACK_HEADERS.timestamp]: String(ts) }, body, NOW, /does not match/],
  ])('refused when %s', (_, headers, b, now, reason) => {
    expect(verifyCallback(SECRET, headers, b, now)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });
});

const PUBLIC = 'a public https URL like https://tickets.example.com/hooks/tropos';

describe('callback URLs', () => {
  test.each<[string, boolean]>([
    ['https://tickets.example.com/hooks/tropos', false],
    ['https://tickets.example.com./hooks/tropos', false],
    ['https://93.184.216.34/hook', false],
    ['https://[2606:4700::1111]/hook', false],
    ['https://[::ffff:93.184.216.34]/hook', false],
    ['http://127.0.0.1:9000/hook', true],
    ['http://localhost/hook', true],
    ['http://[::1]:9000/hook', true],
    ['https://localhost/hook', true],
  ])('accepts %s (allowLoopback: %p)', (url, allowLoopback) => {
    expect(callbackUrlProblem(url, { allowLoopback })).toBeUndefined();
  });

  test.each<[string, string]>([
    ['http://tickets.example.com/hook', 'must be an https URL (http only to localhost); got http'],
    ['ftp://tickets.example.com/hook', 'must be an https URL'],
    ['not a url', 'is not a URL'],
    ['https://user:pass@tickets.example.com/hook', 'must not carry credentials'],
    // Loopback is this machine's, not every one: 127.0.0.1, [::1] and localhost only, not the rest of 127/8.
    ['http://127.0.0.2/hook', 'must be an https URL (http only to localhost); got http'],
    ['https://127.0.0.2/hook', 'must not point at 127.0.0.2, in 127.0.0.0/8 (loopback)'],
    ['https://foo.localhost/hook', 'must not point at foo.localhost'],
    ['https://169.254.169.254/latest/meta-data', 'must not point at 169.254.169.254, in 169.254.0.0/16 (link-local'],
  ])('refuses %s even with allowLoopback', (url, problem) => {
    expect(callbackUrlProblem(url, { allowLoopback: true })).toContain(problem);
  });

  describe.each([
    ['the default options', undefined],
    ['allowLoopback: false', { allowLoopback: false }],
  ])('with %s', (_, options) => {
    // The local control plane's receivers: refused anywhere else (the Lambda's own host, or the VPC's).
    test.each(['http://127.0.0.1:9000/hook', 'http://localhost/hook', 'http://[::1]/hook'])('refuses %s', (url) => {
      expect(callbackUrlProblem(url, options)).toBe('must be an https URL; got http');
    });

    test.each<[string, string]>([
      ['https://127.0.0.1/hook', '127.0.0.1, in 127.0.0.0/8 (loopback)'],
      ['https://localhost/hook', 'must not point at localhost (this machine)'],
      ['https://LOCALHOST./hook', 'must not point at localhost (this machine)'],
      ['https://[::1]/hook', '[::1], in ::1/128 (loopback)'],
      // Every IPv4 range that is not public unicast.
      ['https://0.0.0.0/hook', 'in 0.0.0.0/8 ("this network")'],
      ['https://10.1.2.3/hook', 'in 10.0.0.0/8 (private'],
      ['https://100.64.0.1/hook', 'in 100.64.0.0/10 (shared'],
      ['https://169.254.169.254/latest/meta-data', 'in 169.254.0.0/16 (link-local'],
      ['https://172.16.0.1/hook', 'in 172.16.0.0/12 (private'],
      ['https://172.31.255.255/hook', 'in 172.16.0.0/12 (private'],
      ['https://192.0.0.192/hook', 'in 192.0.0.0/24 (IETF protocol assignments)'],
      ['https://192.168.1.1/hook', 'in 192.168.0.0/16 (private'],
      ['https://198.18.0.1/hook', 'in 198.18.0.0/15 (benchmarking)'],
      ['https://224.0.0.1/hook', 'in 224.0.0.0/4 (multicast)'],
      ['https://255.255.255.255/hook', 'in 240.0.0.0/4 (reserved'],
      // WHATWG URL parsing turns these into 169.254.169.254 (and 127.0.0.1): the check sees what fetch connects to.
      ['https://2852039166/latest/meta-data', 'must not point at 169.254.169.254, in 169.254.0.0/16'],
      ['https://0xa9fea9fe/latest/meta-data', 'must not point at 169.254.169.254, in 169.254.0.0/16'],
      ['https://0251.0376.0251.0376/latest/meta-data', 'must not point at 169.254.169.254, in 169.254.0.0/16'],
      ['https://169.254.43518/latest/meta-data', 'must not point at 169.254.169.254, in 169.254.0.0/16'],
      ['https://0x7f.1/hook', 'must not point at 127.0.0.1, in 127.0.0.0/8'],
      // IPv6, and IPv4 inside IPv6 (Node's URL writes [::ffff:169.254.169.254] as [::ffff:a9fe:a9fe]).
      ['https://[::]/hook', 'in ::/128 (unspecified)'],
      ['https://[0:0:0:0:0:0:0:1]/hook', '[::1], in ::1/128 (loopback)'],
      ['https://[fd00:ec2::254]/latest/meta-data', 'in fc00::/7 (unique local'],
      ['https://[fe80::1]/hook', 'in fe80::/10 (link-local)'],
      ['https://[ff02::1]/hook', 'in ff00::/8 (multicast)'],
      ['https://[::ffff:169.254.169.254]/latest/meta-data', '[::ffff:a9fe:a9fe], in 169.254.0.0/16 (link-local'],
      ['https://[::ffff:a9fe:a9fe]/latest/meta-data', '[::ffff:a9fe:a9fe], in 169.254.0.0/16 (link-local'],
      ['https://[::ffff:127.0.0.1]/hook', '[::ffff:7f00:1], in 127.0.0.0/8 (loopback)'],
      ['https://[::169.254.169.254]/hook', '[::a9fe:a9fe], in ::/96 (IPv4-compatible'],
      ['https://[64:ff9b::169.254.169.254]/hook', '[64:ff9b::a9fe:a9fe], in 169.254.0.0/16 (link-local'],
      // Names that only resolve inside a network, never to the ticketing system on the internet.
      ['https://metadata.google.internal/computeMetadata/v1/', 'must not point at metadata.google.internal'],
      ['https://metadata.google.internal./computeMetadata/v1/', 'must not point at metadata.google.internal'],
      ['https://ip-10-0-0-1.ec2.internal/hook', 'must not point at ip-10-0-0-1.ec2.internal'],
      ['https://printer.local/hook', 'must not point at printer.local'],
      ['https://intranet/hook', 'must not point at intranet, a name without a dot'],
    ])('refuses %s', (url, problem) => {
      const got = callbackUrlProblem(url, options);
      expect(got).toContain(problem);
      expect(got).toContain(`allowed: ${PUBLIC}`);
    });
  });
});

describe('isPublicAddress', () => {
  test.each([
    ['93.184.216.34', true],
    ['8.8.8.8', true],
    ['2606:4700::1111', true],
    ['::ffff:8.8.8.8', true],
    ['64:ff9b::8.8.8.8', true],
    ['[2606:4700::1111]', true],
    ['169.254.169.254', false],
    ['127.0.0.1', false],
    ['10.0.0.1', false],
    ['::1', false],
    ['[::1]', false],
    ['::', false],
    ['::ffff:169.254.169.254', false],
    ['::ffff:a9fe:a9fe', false],
    ['::FFFF:A9FE:A9FE', false],
    ['::ffff:127.0.0.1', false],
    ['fd00:ec2::254', false],
    ['fe80::1', false],
    // Not an address at all: nothing shows it is public.
    ['tickets.example.com', false],
    ['', false],
  ])('%s → %p', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });
});

describe('isLoopbackAddress', () => {
  test.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['93.184.216.34', false],
    ['localhost', false],
  ])('%s → %p', (ip, expected) => {
    expect(isLoopbackAddress(ip)).toBe(expected);
  });
});

/** A receiver on loopback: answers 204 and keeps what it got. */
async function startReceiver() {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('callback delivery', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => receiver.close());
  beforeEach(() => (receiver.received.length = 0));
  afterEach(() => {
    jest.restoreAllMocks();
    jest.mocked(lookup).mockReset().mockImplementation(realLookup);
  });

  const options = { secret: async () => SECRET, attempts: 3, backoffMs: 1, timeoutMs: 2000 };
  const payload = { event: 'run.ended', status: 'SUCCEEDED' };

  test.each([
    ['127.0.0.1', (port: number) => `http://127.0.0.1:${port}/hook`],
    ['localhost', (port: number) => `http://localhost:${port}/hook`],
  ])('delivers to loopback (%s) when allowLoopback, signed', async (_, url) => {
    const record = await deliverCallback(url(receiver.port), payload, { ...options, allowLoopback: true });
    expect(record).toMatchObject({ status: 'DELIVERED', attempts: [{ statusCode: 204 }] });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(verifyCallback(SECRET, got.headers as Record<string, string>, got.body)).toEqual({ ok: true });
  });

  test.each<[string, (port: number) => string, RegExp]>([
    [
      'loopback without allowLoopback',
      (port) => `http://127.0.0.1:${port}/hook`,
      /^refused: 127\.0\.0\.1, in 127\.0\.0\.0\/8 \(loopback\), not a public address/,
    ],
    [
      'localhost without allowLoopback',
      (port) => `http://localhost:${port}/hook`,
      /localhost resolves to .*not a public/,
    ],
  ])('refuses %s: one failed attempt naming the address, nothing sent', async (_, url, error) => {
    const record = await deliverCallback(url(receiver.port), payload, options);
    expect(record.status).toBe('FAILED');
    expect(record.attempts).toEqual([{ at: expect.any(String), error: expect.stringMatching(error) }]);
    expect(receiver.received).toHaveLength(0);
  });

  test.each<[string, string, string[], RegExp]>([
    [
      'a name that resolves to a private address among public ones',
      'https://tickets.example.com/hooks/tropos',
      ['93.184.216.34', '10.0.0.5'],
      /tickets\.example\.com resolves to 10\.0\.0\.5, .*not a public address/,
    ],
    [
      'a name that resolves to the metadata service',
      'https://rebind.example.com/hooks/tropos',
      ['169.254.169.254'],
      /rebind\.example\.com resolves to 169\.254\.169\.254, in 169\.254\.0\.0\/16/,
    ],
    [
      'a name that resolves to an IPv4-mapped private address',
      'https://rebind.example.com/hooks/tropos',
      ['::ffff:a9fe:a9fe'],
      /resolves to ::ffff:a9fe:a9fe, in 169\.254\.0\.0\/16/,
    ],
    [
      'a name that resolves to a unique local IPv6 address',
      'https://rebind.example.com/hooks/tropos',
      ['2606:4700::1111', 'fd00:ec2::254'],
      /resolves to fd00:ec2::254, in fc00::\/7/,
    ],
    [
      'the metadata service by address',
      'https://169.254.169.254/latest',
      [],
      /169\.254\.169\.254, in 169\.254\.0\.0\/16/,
    ],
    ['a mapped metadata address', 'https://[::ffff:169.254.169.254]/latest', [], /::ffff:a9fe:a9fe, in 169\.254/],
    ['the metadata service in decimal', 'https://2852039166/latest', [], /169\.254\.169\.254, in 169\.254/],
  ])('refuses %s, even with allowLoopback, and does not retry', async (_, url, resolved, error) => {
    if (resolved.length > 0) resolveTo(resolved);
    // Nothing leaves this machine, whatever the deliverer decides.
    const sent = jest.spyOn(globalThis, 'fetch').mockRejectedValue(new TypeError('fetch failed'));
    const record = await deliverCallback(url, payload, { ...options, allowLoopback: true });
    expect(record.status).toBe('FAILED');
    expect(record.attempts).toEqual([{ at: expect.any(String), error: expect.stringMatching(error) }]);
    expect(sent).not.toHaveBeenCalled();
  });

  test('a lookup that hangs ends with the attempt (one budget for lookup and POST), and is retried', async () => {
    jest.mocked(lookup).mockReturnValue(new Promise(() => undefined) as never);
    const record = await deliverCallback('https://slow.example.com/hook', payload, { ...options, timeoutMs: 50 });
    expect(record.attempts.map((a) => a.error)).toEqual(['TimeoutError', 'TimeoutError', 'TimeoutError']);
  });

  test('a name that does not resolve is a failed attempt like any network error, and retried', async () => {
    jest
      .mocked(lookup)
      .mockRejectedValue(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example.com'), { code: 'ENOTFOUND' }));
    const record = await deliverCallback('https://nowhere.example.com/hook', payload, options);
    expect(record).toMatchObject({ status: 'FAILED' });
    expect(record.attempts.map((a) => a.error)).toEqual(['ENOTFOUND', 'ENOTFOUND', 'ENOTFOUND']);
  });
});
