import { createRequire } from 'node:module';
import { ProtocolViolation } from '../errors.js';
import { assertHashInputs, uniformHasher, type Sha512Native } from './expand-message.js';
import { BASE_POINT, POINT_BYTES, PSI_SUITE, type PsiGroup } from './group.js';
import { assertPoints, readEdwardsY, writeMontgomeryU } from './point.js';
import type { QuerySecret } from './secret.js';

/** The part of sodium-native this backend uses (the package ships no type declarations). */
export interface SodiumNative extends Sha512Native {
  crypto_core_ed25519_from_uniform(p: Uint8Array, r: Uint8Array): void;
  /** Throws where p or q does not decode to a curve point (no subgroup check). */
  crypto_core_ed25519_add(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
}

const requireCjs = createRequire(import.meta.url);
let sodium: SodiumNative | undefined;

/**
 * Loads the native binding on first use. Throws where no prebuilt binary fits this machine, which
 * is why this module never loads it at import time: selectBackend() can then fall back to noble.
 */
export function loadSodium(): SodiumNative {
  sodium ??= requireCjs('sodium-native') as SodiumNative;
  return sodium;
}

/** Native libsodium (prebuilt in the npm package): the fast path, byte-identical to nobleGroup. */
export const sodiumGroup: PsiGroup = {
  name: 'sodium',
  suite: PSI_SUITE,
  pointBytes: POINT_BYTES,
  basePoint: BASE_POINT,
  validate: assertPoints,

  hashToGroup(keys, dst) {
    assertHashInputs(keys, dst, 'sodium hashToGroup');
    const lib = loadSodium();
    const toUniform = uniformHasher(dst, lib);
    const q0 = new Uint8Array(POINT_BYTES);
    const q1 = new Uint8Array(POINT_BYTES);
    const sum = new Uint8Array(POINT_BYTES);
    const ys = new Array<bigint>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      // SPEC §3: F(r) = from_uniform(r), the Elligator 2 map of r's low 255 bits with the sign of x
      // taken from its top bit, times the cofactor 8; H(k) = F(r0) + F(r1) for the two halves of the
      // 64 uniform bytes. No field arithmetic per key outside libsodium but the final u below.
      const uniform = toUniform(keys[i]!);
      lib.crypto_core_ed25519_from_uniform(q0, uniform.subarray(0, POINT_BYTES));
      lib.crypto_core_ed25519_from_uniform(q1, uniform.subarray(POINT_BYTES));
      lib.crypto_core_ed25519_add(sum, q0, q1);
      ys[i] = readEdwardsY(sum);
    }
    const out = new Uint8Array(keys.length * POINT_BYTES);
    writeMontgomeryU(ys, undefined, out);
    return out;
  },

  blind(secret: QuerySecret, points: Uint8Array) {
    assertPoints(points, 'sodium blind');
    const lib = loadSodium();
    const scalar = secret.bytes();
    const out = new Uint8Array(points.length);
    for (let offset = 0; offset < points.length; offset += POINT_BYTES) {
      const end = offset + POINT_BYTES;
      try {
        lib.crypto_scalarmult(out.subarray(offset, end), scalar, points.subarray(offset, end));
      } catch (err) {
        // libsodium returns -1 on a small-order input or an all-zero result; assertPoints catches
        // those first, so reaching this means the two blocklists drifted apart: still the peer's input.
        throw new ProtocolViolation('invalid-point', `sodium blind: point ${offset / POINT_BYTES} rejected: ${(err as Error).message}`);
      }
    }
    return out;
  },
};
