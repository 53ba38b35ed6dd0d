import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { _map_to_curve_elligator2_curve25519, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ProtocolViolation } from '../errors.js';
import { UNIFORM_BYTES, assertHashInputs } from './expand-message.js';
import { BASE_POINT, POINT_BYTES, PSI_SUITE, type PsiGroup } from './group.js';
import { assertPoints, readEdwardsY, writeMontgomeryU } from './point.js';
import type { QuerySecret } from './secret.js';

const Fp = ed25519.Point.Fp;

/**
 * SPEC §3's F(r), written from the definitions with @noble/curves, independently of libsodium's
 * from_uniform (which the sodium backend calls): u = r's low 255 bits mod p, the Montgomery x of
 * RFC 9380 map_to_curve_elligator2_curve25519(u), the Edwards y = (x - 1) / (x + 1) (RFC 7748 §4.1),
 * the point with that y whose x has the parity of r's top bit (RFC 8032 §5.1.3 decoding), times 8.
 */
export function mapUniform(r: Uint8Array): InstanceType<typeof ed25519.Point> {
  const u = Fp.create(readEdwardsY(r));
  const { xMn, xMd } = _map_to_curve_elligator2_curve25519(u);
  const y = Fp.div(Fp.sub(xMn, xMd), Fp.add(xMn, xMd));
  const encoded = Fp.toBytes(y);
  // x = 0 (y = -1, reached only from u = 0 with probability 2^-255) has one sign: libsodium negates 0 to 0.
  if (!Fp.eql(y, Fp.neg(Fp.ONE))) encoded[31] = encoded[31]! | (r[31]! & 0x80);
  return ed25519.Point.fromBytes(encoded).multiplyUnsafe(8n);
}

/** Pure JavaScript, audited: the reference backend and the fallback where sodium-native cannot load. */
export const nobleGroup: PsiGroup = {
  name: 'noble',
  suite: PSI_SUITE,
  pointBytes: POINT_BYTES,
  basePoint: BASE_POINT,
  validate: assertPoints,

  hashToGroup(keys, dst) {
    assertHashInputs(keys, dst, 'noble hashToGroup');
    const ys = new Array<bigint>(keys.length);
    const zs = new Array<bigint>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const uniform = expand_message_xmd(keys[i]!, dst, UNIFORM_BYTES, sha512);
      const point = mapUniform(uniform.subarray(0, POINT_BYTES)).add(mapUniform(uniform.subarray(POINT_BYTES)));
      // The projective (Y : Z) is all the u-map needs.
      ys[i] = point.Y;
      zs[i] = point.Z;
    }
    const out = new Uint8Array(keys.length * POINT_BYTES);
    writeMontgomeryU(ys, zs, out);
    return out;
  },

  blind(secret: QuerySecret, points: Uint8Array) {
    assertPoints(points, 'noble blind');
    const scalar = secret.bytes();
    const out = new Uint8Array(points.length);
    for (let offset = 0; offset < points.length; offset += POINT_BYTES) {
      let blinded: Uint8Array;
      try {
        blinded = x25519.scalarMult(scalar, points.subarray(offset, offset + POINT_BYTES));
      } catch (err) {
        // assertPoints already refuses every input noble rejects; this keeps the peer at fault if that ever drifts.
        throw new ProtocolViolation('invalid-point', `noble blind: point ${offset / POINT_BYTES} rejected: ${(err as Error).message}`);
      }
      out.set(blinded, offset);
    }
    return out;
  },
};
