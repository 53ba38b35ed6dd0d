import { ed25519 } from '@noble/curves/ed25519.js';
import { pippenger } from '@noble/curves/abstract/curve.js';
import { ProtocolViolation } from '../errors.js';
import { POINT_BYTES } from './group.js';
import { loadSodium, type SodiumNative } from './group-sodium.js';

/** The order L of the prime-order subgroup of edwards25519 (RFC 8032 §5.1). */
export const ORDER = ed25519.Point.Fn.ORDER;

/**
 * The prime-order subgroup of edwards25519, elements as RFC 8032 §5.1.2 compressed points: what verified re-blinding
 * (SPEC §4.2.1) proves its statements over, because X25519 u-coordinates cannot be added. Scalars are bigints in
 * [1, L). Two backends, byte-identical (test/vectors/dleq.test.ts, test/unit/dleq.test.ts).
 */
export interface EdwardsGroup {
  readonly name: 'noble' | 'sodium';
  /**
   * Whether `point` is the canonical encoding of an element of the prime-order subgroup other than the identity:
   * y < p, no sign bit on x = 0, on the curve, not of small order, L·P the identity.
   */
  isValid(point: Uint8Array): boolean;
  /** k·P; a point that is not valid (isValid) is the peer's fault: `invalid-point`. */
  multiply(k: bigint, point: Uint8Array): Uint8Array;
  /** k·G, G the base point of RFC 8032. */
  multiplyBase(k: bigint): Uint8Array;
  /** Σ k_i·P_i over at least one point; a point that is not valid is refused as `multiply` refuses it. */
  combine(ks: readonly bigint[], points: readonly Uint8Array[]): Uint8Array;
}

/** A scalar as 32 bytes little-endian (RFC 9497 SerializeScalar for this group). */
export function scalarBytes(k: bigint): Uint8Array {
  const out = new Uint8Array(POINT_BYTES);
  for (let i = 0, v = k; i < POINT_BYTES; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** 32 bytes little-endian as an integer (not reduced). */
export function bytesScalar(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

/** Pure JavaScript: strict RFC 8032 decoding (no ZIP 215), the subgroup checked by isTorsionFree. */
export const nobleEdwards: EdwardsGroup = {
  name: 'noble',
  isValid(point) {
    let p;
    try {
      p = ed25519.Point.fromBytes(point, false);
    } catch {
      return false;
    }
    return !p.isSmallOrder() && p.isTorsionFree();
  },
  multiply(k, point) {
    if (!nobleEdwards.isValid(point)) throw new ProtocolViolation('invalid-point', 'not an element of the prime-order subgroup of edwards25519');
    return ed25519.Point.fromBytes(point, false).multiply(k).toBytes();
  },
  multiplyBase: (k) => ed25519.Point.BASE.multiply(k).toBytes(),
  // Pippenger's bucket method: about a tenth of the multiplications' time at a batch of 4,096.
  combine(ks, points) {
    if (!points.every((p) => nobleEdwards.isValid(p))) throw new ProtocolViolation('invalid-point', 'not an element of the prime-order subgroup of edwards25519');
    return pippenger(
      ed25519.Point,
      points.map((p) => ed25519.Point.fromBytes(p, false)),
      [...ks],
    ).toBytes();
  },
};

/** The part of sodium-native these operations use beyond group-sodium.ts's (the package ships no type declarations). */
interface SodiumEdwards extends SodiumNative {
  crypto_core_ed25519_is_valid_point(p: Uint8Array): boolean;
  crypto_core_ed25519_add(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
  crypto_scalarmult_ed25519_noclamp(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_ed25519_base_noclamp(q: Uint8Array, n: Uint8Array): void;
}

/**
 * libsodium through sodium-native, loaded on first use by group-sodium.ts's loadSodium (where it cannot load, the
 * noble backend serves). Its is_valid_point is RFC 8032's canonical check, the small-order blocklist and L·P = the
 * identity. Before libsodium commit ad3004e (CVE-2025-69277, December 2025) that last check compared only X with
 * zero, so P + (0, -1) passed for any P of the subgroup; the bundled build (sodium-native 5.1.0, libsodium e18eee6)
 * has the fix, and test/unit/verified-reblind.test.ts fails if a build without it is ever bundled.
 * crypto_scalarmult_ed25519_noclamp runs the same checks on its input and refuses an identity result.
 */
function sodiumEdwards(): EdwardsGroup {
  const lib = loadSodium() as SodiumEdwards;
  const multiply = (k: bigint, point: Uint8Array): Uint8Array => {
    const q = new Uint8Array(POINT_BYTES);
    const n = scalarBytes(k);
    try {
      lib.crypto_scalarmult_ed25519_noclamp(q, n, point);
    } catch {
      // Its input checks failed (the result of k in [1, L) times an element is never the identity).
      throw new ProtocolViolation('invalid-point', 'not an element of the prime-order subgroup of edwards25519');
    } finally {
      n.fill(0);
    }
    return q;
  };
  return {
    name: 'sodium',
    isValid: (point) => point.length === POINT_BYTES && lib.crypto_core_ed25519_is_valid_point(point),
    multiply,
    multiplyBase(k) {
      const q = new Uint8Array(POINT_BYTES);
      const n = scalarBytes(k);
      lib.crypto_scalarmult_ed25519_base_noclamp(q, n);
      n.fill(0);
      return q;
    },
    // A checked multiplication and an addition per point: measured faster than noble's Pippenger at a batch of 4,096
    // (about 130 µs a point against 150 µs, decoding not included), and each multiplication checks its point.
    combine(ks, points) {
      let sum = multiply(ks[0]!, points[0]!);
      for (let i = 1; i < points.length; i++) {
        const next = new Uint8Array(POINT_BYTES);
        lib.crypto_core_ed25519_add(next, sum, multiply(ks[i]!, points[i]!));
        sum = next;
      }
      return sum;
    },
  };
}

let sodiumBackend: EdwardsGroup | undefined;

/** The edwards25519 backend that matches a group backend's name (sodium only where its binding loaded for that one). */
export function edwardsFor(name: 'noble' | 'sodium'): EdwardsGroup {
  return name === 'sodium' ? (sodiumBackend ??= sodiumEdwards()) : nobleEdwards;
}
