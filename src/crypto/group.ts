import type { QuerySecret } from './secret.js';

/** Group elements travel as X25519 u-coordinates, 32 bytes little-endian (RFC 7748 §5). */
export const POINT_BYTES = 32;

/**
 * The prime-order subgroup of Curve25519 seen through X25519 u-coordinates (SPEC §3).
 * Both backends produce byte-identical output; the vectors in protocol/vectors pin them.
 */
export interface GroupBackend {
  readonly name: 'noble' | 'sodium';
  /**
   * H(k) for every key: the u-coordinate of RFC 9380 hash_to_curve with the random-oracle suite
   * edwards25519_XMD:SHA-512_ELL2_RO_ and the domain separation tag `dst`.
   * Returns keys.length * POINT_BYTES bytes, in the order of `keys`.
   */
  hashToGroup(keys: readonly Uint8Array[], dst: Uint8Array): Uint8Array;
  /**
   * X25519(secret, u) for every 32-byte point of `points` (RFC 7748 §5, scalar clamped).
   * Throws a CleanroomError (PROTOCOL_VIOLATION, peer at fault) on a malformed point
   * (length not a multiple of 32, u not canonical, i.e. >= 2^255 - 19 or top bit set)
   * or an all-zero output (a small-order input).
   */
  blind(secret: QuerySecret, points: Uint8Array): Uint8Array;
}

/** The RFC 9380 domain separation tag: names the protocol version and the collaboration. */
export function hashToGroupDst(collaborationId: string): Uint8Array {
  const dst = new TextEncoder().encode(`CLEANROOM-V2-${collaborationId}-edwards25519_XMD:SHA-512_ELL2_RO_`);
  // RFC 9380 §5.3.3: a DST longer than 255 bytes must be hashed; collaboration ids are bounded well below.
  if (dst.length > 255) throw new RangeError('hash-to-group DST longer than 255 bytes');
  return dst;
}
