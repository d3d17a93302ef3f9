import { Cidr, parseCidr, vpcCidrProblem } from '../lib/domain/cidr';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`test setup: ${parsed.reason}`);
  return parsed.cidr;
}

describe('parseCidr', () => {
  test.each(['10.2.0.0/16', '0.0.0.0/0', '192.168.100.0/24', '10.0.0.0/8', '100.64.0.0/10'])('accepts %s', (text) => {
    expect(parseCidr(text)).toEqual({ ok: true, cidr: expect.objectContaining({ text }) });
  });

  test.each<[string, RegExp]>([
    // Some tools (inet_aton, older Go, many shells' ping) read 010 as octal 8: the same text, another network.
    ['010.2.0.0/16', /"010\.2\.0\.0\/16" has an octet with a leading zero \(010\).*octal.*write 10/],
    ['10.02.0.0/16', /has an octet with a leading zero \(02\).*write 2/],
    ['10.2.0.00/16', /has an octet with a leading zero \(00\).*write 0/],
    ['10.0.0.0/08', /has a prefix with a leading zero \(\/08\).*write \/8/],
    ['10.2.0.0', /is not an IPv4 CIDR block like 10\.2\.0\.0\/16/],
    ['10.256.0.0/16', /has an octet above 255/],
    ['10.2.0.0/33', /has a prefix above \/32/],
    ['10.2.0.1/16', /is not a network address: the \/16 block is 10\.2\.0\.0\/16/],
  ])('refuses %s', (text, reason) => {
    expect(parseCidr(text)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });
});

describe('vpcCidrProblem', () => {
  test.each(['10.2.0.0/16', '172.16.0.0/16', '192.168.0.0/24', '100.64.0.0/16', '11.0.0.0/16', '223.255.0.0/16'])(
    'accepts %s',
    (text) => {
      expect(vpcCidrProblem(cidr(text))).toBeUndefined();
    },
  );

  test.each<[string, string]>([
    ['0.0.0.0/16', '0.0.0.0/8 ("this network")'],
    ['0.0.0.0/0', '0.0.0.0/8 ("this network")'],
    ['127.0.0.0/16', '127.0.0.0/8 (loopback)'],
    ['127.255.255.0/24', '127.0.0.0/8 (loopback)'],
    ['169.254.0.0/16', '169.254.0.0/16 (link-local'],
    ['169.254.169.0/24', '169.254.0.0/16 (link-local'],
    // A wider block that contains a reserved one overlaps it too.
    ['169.0.0.0/8', '169.254.0.0/16 (link-local'],
    ['224.0.0.0/16', '224.0.0.0/4 (multicast)'],
    ['239.255.0.0/16', '224.0.0.0/4 (multicast)'],
    ['240.0.0.0/16', '240.0.0.0/4 (reserved'],
    ['255.255.255.0/24', '240.0.0.0/4 (reserved'],
  ])('refuses %s: it overlaps %s', (text, range) => {
    const problem = vpcCidrProblem(cidr(text));
    expect(problem).toContain(`${text} overlaps ${range}`);
    expect(problem).toContain('10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16');
  });
});
