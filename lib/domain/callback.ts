import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed callbacks to a ticketing system: when a run that was given a `callbackUrl` ends, Tropos POSTs its
 * outcome there. The receiver checks the signature with the shared secret before it trusts the body.
 *
 *   X-Tropos-Timestamp: <unix seconds>
 *   X-Tropos-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 */
export const CALLBACK_HEADERS = {
  timestamp: 'x-tropos-timestamp',
  signature: 'x-tropos-signature',
  delivery: 'x-tropos-delivery',
} as const;

/** How long one delivery attempt waits for the receiver's answer. */
export const CALLBACK_ATTEMPT_SECONDS = 10;

/** How far a callback's timestamp may be from the receiver's clock before it is refused (replays). */
export const CALLBACK_TOLERANCE_SECONDS = 300;

export function signCallback(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does: recompute the signature over the raw body and compare in constant time. */
export function verifyCallback(
  secret: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
  now = Date.now(),
): { ok: true } | { ok: false; reason: string } {
  // Header names in any case (Node lowercases them; API Gateway events and many frameworks keep the sender's).
  const header = (name: string) => {
    const v = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    return Array.isArray(v) ? v[0] : v;
  };
  const rawTimestamp = header(CALLBACK_HEADERS.timestamp)?.trim() ?? '';
  const timestamp = Number(rawTimestamp);
  const signature = header(CALLBACK_HEADERS.signature) ?? '';
  if (!rawTimestamp) return { ok: false, reason: `no ${CALLBACK_HEADERS.timestamp} header` };
  if (!Number.isInteger(timestamp))
    return { ok: false, reason: `${CALLBACK_HEADERS.timestamp} "${rawTimestamp.slice(0, 40)}" is not unix seconds` };
  if (Math.abs(now / 1000 - timestamp) > CALLBACK_TOLERANCE_SECONDS)
    return { ok: false, reason: `timestamp ${timestamp} is more than ${CALLBACK_TOLERANCE_SECONDS} s away` };
  const expected = Buffer.from(signCallback(secret, timestamp, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'the signature does not match the body' };
  return { ok: true };
}

/**
 * Why a callback URL is refused, or undefined when it is fine: https, or http to this machine's loopback (the
 * local server and tests); no credentials in it; not the link-local metadata addresses.
 */
export function callbackUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a URL string';
  if (value.length > 2048) return `is ${value.length} characters long; at most 2048 are allowed`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL; allowed: an https URL like https://tickets.example.com/hooks/tropos`;
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    return `must be an https URL (http only to localhost); got ${url.protocol.replace(':', '')}`;
  if (url.username || url.password) return 'must not carry credentials; the signature authenticates Tropos';
  if (/^169\.254\./.test(url.hostname) || url.hostname === '[fd00:ec2::254]')
    return 'must not point at a link-local (instance metadata) address';
  return undefined;
}
