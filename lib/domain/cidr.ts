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
