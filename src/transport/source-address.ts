import { isIPv6 } from 'node:net';

/**
 * The source a connection counts against in the pre-auth pool's fair shares (src/transport/preauth-pool.ts): its
 * IPv4 address, or the /64 prefix of its IPv6 address, since one IPv6 subscriber is handed a whole /64 and would
 * otherwise have 2^64 sources to spread a flood over. An IPv4 peer on a dual-stack socket (::ffff:a.b.c.d) is its
 * IPv4 address.
 */
export function sourceOf(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const halves = address.split('%')[0]!.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves[1] ? halves[1].split(':') : [];
  // An embedded IPv4 tail (a.b.c.d) stands for two groups, but only ever in the low 64 bits, which are dropped.
  const groups = halves.length > 1 ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
