import {
  CALLBACK_HEADERS,
  CALLBACK_TOLERANCE_SECONDS,
  callbackUrlProblem,
  signCallback,
  verifyCallback,
} from '../lib/domain/callback';

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

describe('callback URLs', () => {
  test.each([
    ['https://tickets.example.com/hooks/tropos', ''],
    ['http://127.0.0.1:9000/hook', ''],
    ['http://localhost/hook', ''],
    ['http://tickets.example.com/hook', 'must be an https URL'],
    ['ftp://tickets.example.com/hook', 'must be an https URL'],
    ['not a url', 'is not a URL'],
    ['https://user:pass@tickets.example.com/hook', 'must not carry credentials'],
    ['https://169.254.169.254/latest/meta-data', 'link-local'],
  ])('%s → %p', (url, problem) => {
    expect(callbackUrlProblem(url) ?? '').toContain(problem);
    expect(callbackUrlProblem(url) === undefined).toBe(problem === '');
  });
});
