import { createRequire } from 'node:module';
import { ProtocolViolation } from '../errors.js';
import { POINT_BYTES, type GroupBackend } from './group.js';
import { FIELD_BYTES, assertHashInputs, fieldHasher } from './hash-to-field.js';
import { assertPoints, writeMontgomeryU } from './point.js';
import type { QuerySecret } from './secret.js';

/** The part of sodium-native this backend uses (the package ships no type declarations). */
export interface SodiumNative {
  crypto_core_ed25519_from_uniform(p: Uint8Array, r: Uint8Array): void;
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

const Y_MASK = (1n << 255n) - 1n;

/** Native libsodium (prebuilt in the npm package): the fast path, byte-identical to nobleGroup. */
export const sodiumGroup: GroupBackend = {
  name: 'sodium',

  hashToGroup(keys, dst) {
    assertHashInputs(keys, dst, 'sodium hashToGroup');
    const lib = loadSodium();
    const toField = fieldHasher(dst);
    const field = new Uint8Array(FIELD_BYTES);
    const edwards = new Uint8Array(POINT_BYTES);
    const view = new DataView(edwards.buffer);
    const ys = new Array<bigint>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      toField(keys[i]!, field);
      // Elligator 2 and cofactor clearing, RFC 9380 map_to_curve + clear_cofactor for this suite:
      // the field element is < p, so its top bit (libsodium's x-sign input) is clear, and the sign
      // of x is irrelevant anyway because the u-coordinate depends on y alone.
      lib.crypto_core_ed25519_from_uniform(edwards, field);
      ys[i] =
        (view.getBigUint64(0, true) |
          (view.getBigUint64(8, true) << 64n) |
          (view.getBigUint64(16, true) << 128n) |
          (view.getBigUint64(24, true) << 192n)) &
        Y_MASK;
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
