import type { QuerySecret } from './secret.js';

/** Group elements travel as X25519 u-coordinates, 32 bytes little-endian (RFC 7748 §5). */
export const POINT_BYTES = 32;

/** The X25519 base point, u = 9 (RFC 7748 §4.1): it generates the prime-order subgroup. */
export const BASE_POINT: Uint8Array = Uint8Array.from({ length: POINT_BYTES }, (_, i) => (i === 0 ? 9 : 0));

/**
 * The prime-order subgroup of Curve25519 seen through X25519 u-coordinates (SPEC §3).
 * Both backends produce byte-identical output; the vectors in protocol/vectors pin them.
 */
export interface PsiGroup {
  /** The implementation; every backend of one suite gives the same bytes, so nodes with different ones interoperate. */
  readonly name: 'noble' | 'sodium';
  /** The group and hash this protocol version uses (SPEC §3), the same for every backend. */
  readonly suite: typeof PSI_SUITE;
  readonly pointBytes: typeof POINT_BYTES;
  /** The generator, as a point of the wire: what the dummy matches (SPEC §10.3) and fresh filler points are built on. */
  readonly basePoint: Uint8Array;
  /**
   * H(k) for every key under the domain separation tag `dst`: the u-coordinate of F(r0) + F(r1), r0 || r1 the
   * 64 bytes of RFC 9380 expand_message_xmd(SHA-512), F libsodium's from_uniform (SPEC §3).
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
  /**
   * The entry check for points a peer sent (SPEC §3): a non-empty multiple of pointBytes, each canonical and not of
   * small order. Throws a ProtocolViolation naming the first offending index; blind runs it first.
   */
  validate(points: Uint8Array, label: string): void;
}

/** The hash's name in its domain separation tag (SPEC §3). */
export const HASH_TO_GROUP_SUITE = 'edwards25519_XMD:SHA-512_ELL2-UNIFORM-SUM_RO_';

/** The whole suite: X25519 blinding of the hash above. */
export const PSI_SUITE = `X25519/${HASH_TO_GROUP_SUITE}` as const;

/** The RFC 9380 domain separation tag: names the protocol version, the collaboration and the suite. */
export function hashToGroupDst(collaborationId: string): Uint8Array {
  const dst = new TextEncoder().encode(`CLEANROOM-V4-${collaborationId}-${HASH_TO_GROUP_SUITE}`);
  // RFC 9380 §5.3.3: a DST longer than 255 bytes must be hashed; collaboration ids are bounded well below.
  if (dst.length > 255) throw new RangeError('hash-to-group DST longer than 255 bytes');
  return dst;
}
