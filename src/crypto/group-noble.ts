import { ed25519_hasher, x25519 } from '@noble/curves/ed25519.js';
import { ProtocolViolation } from '../errors.js';
import { POINT_BYTES, type GroupBackend } from './group.js';
import { assertHashInputs } from './hash-to-field.js';
import { assertPoints, writeMontgomeryU } from './point.js';
import type { QuerySecret } from './secret.js';

/** Pure JavaScript, audited: the reference backend and the fallback where sodium-native cannot load. */
export const nobleGroup: GroupBackend = {
  name: 'noble',

  hashToGroup(keys, dst) {
    assertHashInputs(keys, dst, 'noble hashToGroup');
    const ys = new Array<bigint>(keys.length);
    const zs = new Array<bigint>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      // hash_to_curve already clears the cofactor; its projective (Y : Z) is all the u-map needs.
      const point = ed25519_hasher.hashToCurve(keys[i]!, { DST: dst });
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
