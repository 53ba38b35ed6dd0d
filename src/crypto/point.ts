import { ed25519 } from '@noble/curves/ed25519.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { POINT_BYTES } from './group.js';

const Fp = ed25519.Point.Fp;
const FIELD_BYTES = 32;
const Y_MASK = (1n << 255n) - 1n;

/** Writes a reduced field element (0 <= e < p) as 32 little-endian bytes at out[offset]. */
function writeFieldElement(out: Uint8Array, offset: number, e: bigint): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, FIELD_BYTES);
  view.setBigUint64(0, BigInt.asUintN(64, e), true);
  view.setBigUint64(8, BigInt.asUintN(64, e >> 64n), true);
  view.setBigUint64(16, BigInt.asUintN(64, e >> 128n), true);
  view.setBigUint64(24, e >> 192n, true);
}

/** The y of a compressed Edwards point (RFC 8032 §5.1.2: 255 bits little-endian, the sign of x on top). */
export function readEdwardsY(point: Uint8Array): bigint {
  const view = new DataView(point.buffer, point.byteOffset, FIELD_BYTES);
  return (
    (view.getBigUint64(0, true) | (view.getBigUint64(8, true) << 64n) | (view.getBigUint64(16, true) << 128n) | (view.getBigUint64(24, true) << 192n)) &
    Y_MASK
  );
}

/**
 * The u-coordinates whose order divides the cofactor: X25519 sends each of them to the all-zero
 * output whatever the scalar (RFC 7748 §6.1). The same list as libsodium's and @noble/curves'
 * blocklists, canonical encodings only (the non-canonical ones fail the canonical check first).
 * Rejecting them here, before any scalar multiplication, lets the error name the offending index
 * and keeps the secret out of a ladder run on a degenerate input.
 */
const LOW_ORDER_U: readonly Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 2 (and 1)
  '0100000000000000000000000000000000000000000000000000000000000000', // order 4
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1, order 4 on the twist
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));
const LOW_ORDER_FIRST_BYTES = new Set(LOW_ORDER_U.map((u) => u[0]));

/** u >= p = 2^255 - 19 with the top bit clear: 0x7f, thirty 0xff, then a low byte >= 0xed. */
function isNonCanonical(points: Uint8Array, offset: number): boolean {
  const top = points[offset + 31]!;
  if (top & 0x80) return true;
  if (top !== 0x7f) return false;
  for (let j = 30; j >= 1; j--) if (points[offset + j] !== 0xff) return false;
  return points[offset]! >= 0xed;
}

function isLowOrder(points: Uint8Array, offset: number): boolean {
  if (!LOW_ORDER_FIRST_BYTES.has(points[offset]!)) return false;
  return LOW_ORDER_U.some((u) => u.every((byte, j) => points[offset + j] === byte));
}

/**
 * Entry check for points received from a peer: `points` is a non-empty concatenation of 32-byte
 * X25519 u-coordinates, each canonical (top bit clear, u < 2^255 - 19) and not of small order.
 * RFC 7748 tells receivers to mask the top bit and reduce non-canonical u; this protocol instead
 * rejects them, so every group element has exactly one encoding and duplicates compare as bytes.
 */
export function assertPoints(points: Uint8Array, label: string): void {
  if (!(points instanceof Uint8Array)) throw new ProtocolViolation('bad-length', `${label}: points must be bytes`);
  if (points.length === 0 || points.length % POINT_BYTES !== 0) {
    throw new ProtocolViolation('bad-length', `${label}: ${points.length} bytes is not a non-zero multiple of ${POINT_BYTES}`);
  }
  for (let offset = 0; offset < points.length; offset += POINT_BYTES) {
    if (isNonCanonical(points, offset)) {
      throw new ProtocolViolation('invalid-point', `${label}: point ${offset / POINT_BYTES} is not a canonical u-coordinate`);
    }
    if (isLowOrder(points, offset)) {
      throw new ProtocolViolation('invalid-point', `${label}: point ${offset / POINT_BYTES} has small order`);
    }
  }
}

/**
 * Writes the X25519 u-coordinate of each Edwards point given projectively as (Y : Z) (Z = 1 when
 * `zs` is omitted): u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y), RFC 7748 §4.1. One field inversion
 * serves the whole batch (Montgomery's trick); per point that is three multiplications instead of
 * the decompression, subgroup check and inversion of ed25519.utils.toMontgomery or libsodium's
 * crypto_sign_ed25519_pk_to_curve25519, which made hashToGroup twice as slow.
 */
export function writeMontgomeryU(ys: readonly bigint[], zs: readonly bigint[] | undefined, out: Uint8Array): void {
  if (out.length !== ys.length * POINT_BYTES || (zs !== undefined && zs.length !== ys.length)) {
    throw new RangeError('writeMontgomeryU: ys, zs and out disagree in length');
  }
  const numerators = new Array<bigint>(ys.length);
  const denominators = new Array<bigint>(ys.length);
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i]!;
    const z = zs === undefined ? Fp.ONE : zs[i]!;
    numerators[i] = Fp.add(z, y);
    denominators[i] = Fp.sub(z, y);
    // Z = Y only at the identity, which a cofactor-cleared hash output reaches with probability ~2^-252;
    // invertBatch would silently turn it into u = 0, so stop instead.
    if (Fp.is0(denominators[i]!)) throw new CleanroomError('INTERNAL', `hash to group reached the identity at key ${i}`);
  }
  const inverses = Fp.invertBatch(denominators);
  for (let i = 0; i < ys.length; i++) {
    writeFieldElement(out, i * POINT_BYTES, Fp.mul(numerators[i]!, inverses[i]!));
  }
}
