import { createHmac, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

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

/** Addresses a callback must not reach: not public unicast (the Lambda's own host, the VPC, metadata services). */
const NOT_PUBLIC: readonly { readonly range: string; readonly what: string; readonly list: BlockList }[] = (
  [
    ['0.0.0.0/8', '"this network"'],
    ['10.0.0.0/8', 'private, RFC 1918'],
    ['100.64.0.0/10', 'shared address space, carrier-grade NAT'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local: the instance metadata service'],
    ['172.16.0.0/12', 'private, RFC 1918'],
    ['192.0.0.0/24', 'IETF protocol assignments'],
    ['192.168.0.0/16', 'private, RFC 1918'],
    ['198.18.0.0/15', 'benchmarking'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved, with the broadcast address'],
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    // Deprecated (RFC 4291): nothing public is reached this way, and it embeds any IPv4 address.
    ['::/96', 'IPv4-compatible, deprecated'],
    ['fc00::/7', 'unique local, private'],
    ['fe80::/10', 'link-local'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([range, what]) => {
  const [network = '', bits] = range.split('/');
  const list = new BlockList();
  if (isIP(network) === 4) {
    // An IPv4 rule also matches the IPv4-mapped form (::ffff:a9fe:a9fe); the NAT64 form (64:ff9b::/96, which a
    // NAT64 gateway turns back into the IPv4 address) is added here.
    list.addSubnet(network, Number(bits), 'ipv4');
    list.addSubnet(`64:ff9b::${network}`, 96 + Number(bits), 'ipv6');
  } else list.addSubnet(network, Number(bits), 'ipv6');
  return { range, what, list };
});

/**
 * The range an IP address (IPv4 or IPv6 text, in brackets or not; IPv4-mapped forms included) is in when it is not
 * public unicast, like { range: '169.254.0.0/16', what: 'link-local: the instance metadata service' }; undefined for
 * a public address, and for anything that is not an IP address.
 */
export function notPublicRange(ip: string): { readonly range: string; readonly what: string } | undefined {
  const address = ip.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(address);
  if (family === 0) return undefined;
  return NOT_PUBLIC.find((r) => r.list.check(address, family === 4 ? 'ipv4' : 'ipv6'));
}

/**
 * Whether an IP address (IPv4 or IPv6 text, in brackets or not; IPv4-mapped forms included) is public unicast,
 * which a callback may reach. False for anything that is not an IP address: nothing shows that it is public.
 */
export function isPublicAddress(ip: string): boolean {
  return isIP(ip.replace(/^\[(.*)\]$/, '$1')) !== 0 && notPublicRange(ip) === undefined;
}

/** Whether an IP address is this machine's loopback (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopbackAddress(ip: string): boolean {
  const range = notPublicRange(ip)?.range;
  return range === '127.0.0.0/8' || range === '::1/128';
}

const ALLOWED = 'allowed: a public https URL like https://tickets.example.com/hooks/tropos';

/**
 * Why a callback URL is refused, or undefined when it is fine: an https URL without credentials whose host is a
 * public name or a public unicast address. Tropos POSTs from inside AWS, so a URL that names the VPC, the Lambda's
 * own host or a metadata service would make it a proxy into the network. `allowLoopback` (the local control plane
 * and tests) lets it reach this machine: http or https to localhost, 127.0.0.1 or [::1], and nothing else private.
 */
export function callbackUrlProblem(
  value: unknown,
  options: { readonly allowLoopback: boolean } = { allowLoopback: false },
): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a URL string';
  if (value.length > 2048) return `is ${value.length} characters long; at most 2048 are allowed`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL; allowed: an https URL like https://tickets.example.com/hooks/tropos`;
  }
  // URL has already turned the host into what fetch connects to: lower case, IPv4 from decimal, hex or octal forms
  // (https://2852039166/ is 169.254.169.254), IPv6 compressed. A trailing dot names the same host.
  const host = url.hostname.replace(/\.$/, '');
  const loopback = options.allowLoopback && ['localhost', '127.0.0.1', '[::1]'].includes(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    return `must be an https URL${options.allowLoopback ? ' (http only to localhost)' : ''}; got ${url.protocol.replace(':', '')}`;
  if (url.username || url.password) return 'must not carry credentials; the signature authenticates Tropos';
  if (loopback) return undefined;
  const reserved = notPublicRange(host);
  if (reserved) return `must not point at ${host}, in ${reserved.range} (${reserved.what}); ${ALLOWED}`;
  if (isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0) return undefined;
  if (host === 'localhost' || host.endsWith('.localhost'))
    return `must not point at ${host} (this machine); ${ALLOWED}`;
  if (host.endsWith('.internal') || host.endsWith('.local'))
    return `must not point at ${host}, a name only a private network resolves (.internal, .local); ${ALLOWED}`;
  if (!host.includes('.')) return `must not point at ${host}, a name without a dot (an intranet name); ${ALLOWED}`;
  return undefined;
}
