import { ed25519 } from '@noble/curves/ed25519.js';
import { CleanroomError } from '../errors.js';
import { POINT_BYTES } from './group.js';

const Fp = ed25519.Point.Fp;
const Y_MASK = (1n << 255n) - 1n;

function readLe(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = offset + POINT_BYTES - 1; i >= offset; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** (n_i / d_i) for every i with one inversion (Montgomery's trick), each written as 32 bytes little-endian. */
function writeQuotients(ns: readonly bigint[], ds: readonly bigint[], label: string): Uint8Array {
  if (ds.some((d) => Fp.is0(d))) throw new CleanroomError('INTERNAL', `${label}: a point of small order reached the edwards25519 map`);
  const inverses = Fp.invertBatch([...ds]);
  const out = new Uint8Array(ns.length * POINT_BYTES);
  ns.forEach((n, i) => out.set(Fp.toBytes(Fp.mul(n, inverses[i]!)), i * POINT_BYTES));
  return out;
}

/**
 * SPEC §4.2.1: the edwards25519 point of each X25519 u-coordinate that both sides agree on, y = (u − 1) / (u + 1)
 * (RFC 7748 §4.1) and x even, i.e. the compressed encoding of y with the sign bit clear. X25519 forgets the sign of x,
 * so either choice would do; this one costs no square root. `us` must have passed assertPoints (canonical, not of
 * small order: u + 1 = 0 only at u = p − 1, which has order 4). Whether y decodes (u on the curve, not its twist) and
 * lies in the subgroup is checked where the point is multiplied.
 */
export function liftToEdwards(us: Uint8Array): Uint8Array {
  const ns: bigint[] = [];
  const ds: bigint[] = [];
  for (let off = 0; off < us.length; off += POINT_BYTES) {
    const u = readLe(us, off);
    ns.push(Fp.sub(u, 1n));
    ds.push(Fp.add(u, 1n));
  }
  return writeQuotients(ns, ds, 'liftToEdwards');
}

/**
 * The X25519 u-coordinate of each compressed edwards25519 point, u = (1 + y) / (1 − y) (RFC 7748 §4.1): what the
 * aggregator matches, so that a verified returned point compares with (H(q)^b)^a exactly as an unverified one does.
 * The points must be valid (EdwardsGroup.isValid): y = 1 is the identity, which is refused there.
 */
export function edwardsToU(points: Uint8Array): Uint8Array {
  const ns: bigint[] = [];
  const ds: bigint[] = [];
  for (let off = 0; off < points.length; off += POINT_BYTES) {
    const y = readLe(points, off) & Y_MASK;
    ns.push(Fp.add(1n, y));
    ds.push(Fp.sub(1n, y));
  }
  return writeQuotients(ns, ds, 'edwardsToU');
}
