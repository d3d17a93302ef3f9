/** IPv4 CIDR blocks: parsing with a reason for every refusal, and overlap. */

export interface Cidr {
  readonly text: string;
  readonly network: number;
  readonly prefix: number;
}

/** The result of parsing: the block, or why the text is not one. */
export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

const SHAPE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function parseCidr(text: string): CidrParse {
  const m = SHAPE.exec(text);
  if (!m) return { ok: false, reason: `"${text}" is not an IPv4 CIDR block like 10.2.0.0/16` };
  // inet_aton (ping, curl, many C tools) reads an octet with a leading zero as octal: 010 is 8 there, 10 here, and
  // Go (Terraform) refuses it. The same text would name two networks, so it is refused rather than guessed.
  const padded = m.slice(1, 5).find((o) => o.length > 1 && o.startsWith('0'));
  if (padded !== undefined)
    return {
      ok: false,
      reason: `"${text}" has an octet with a leading zero (${padded}), which some tools read as octal; write ${Number(padded)}`,
    };
  if (m[5] !== undefined && m[5].length > 1 && m[5].startsWith('0'))
    return {
      ok: false,
      reason: `"${text}" has a prefix with a leading zero (/${m[5]}), which some parsers refuse; write /${Number(m[5])}`,
    };
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return { ok: false, reason: `"${text}" has an octet above 255` };
  const prefix = Number(m[5]);
  if (prefix > 32) return { ok: false, reason: `"${text}" has a prefix above /32` };
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const network = prefix === 0 ? 0 : address - (address % 2 ** (32 - prefix));
  if (network !== address) {
    return {
      ok: false,
      reason: `"${text}" is not a network address: the /${prefix} block is ${formatAddress(network)}/${prefix}`,
    };
  }
  return { ok: true, cidr: { text, network, prefix } };
}

export function formatAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The number of addresses a block spans. */
export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + size(b) && b.network < a.network + size(a);
}

/** Blocks a VPC must not overlap: AWS refuses them, or addresses in them never route as a VPC's own. */
const RESERVED: readonly { readonly cidr: Cidr; readonly what: string }[] = (
  [
    ['0.0.0.0/8', '"this network"'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local, where the instance metadata service is'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved, with the broadcast address'],
  ] as const
).map(([text, what]) => {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return { cidr: parsed.cidr, what };
});

/** Why a block cannot be a VPC's, or undefined when it can (the prefix limits are checked apart). */
export function vpcCidrProblem(c: Cidr): string | undefined {
  const reserved = RESERVED.find((r) => overlaps(c, r.cidr));
  if (!reserved) return undefined;
  return (
    `${c.text} overlaps ${reserved.cidr.text} (${reserved.what}), which a VPC cannot use; ` +
    'choose a block in a private range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16'
  );
}
