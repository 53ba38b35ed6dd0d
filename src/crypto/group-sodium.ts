import { createRequire } from 'node:module';
import { ed25519 } from '@noble/curves/ed25519.js';
import { CleanroomError, ProtocolViolation } from '../errors.js';
import { POINT_BYTES, type GroupBackend } from './group.js';
import { FIELD_BYTES, assertHashInputs, fieldHasher, writeFieldElement } from './hash-to-field.js';
import { assertPoints, writeMontgomeryU } from './point.js';
import type { QuerySecret } from './secret.js';

/** The part of sodium-native this backend uses (the package ships no type declarations). */
export interface SodiumNative {
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

const Y_MASK = (1n << 255n) - 1n;
const Fp = ed25519.Point.Fp;
const A = 486662n; // curve25519's Montgomery coefficient
const D = ed25519.Point.CURVE().d;
const BASE = ed25519.Point.BASE.toAffine();
const BASE_BYTES = ed25519.Point.BASE.toBytes();
/** RFC 9380 §6.8.2: c1 = sqrt(-486664), the root with sgn0(c1) = 0. */
const C1 = ((c) => (c & 1n ? Fp.neg(c) : c))(Fp.sqrt(Fp.neg(486664n)));

function readY(bytes: Uint8Array, view: DataView): bigint {
  return (
    (view.getBigUint64(0, true) | (view.getBigUint64(8, true) << 64n) | (view.getBigUint64(16, true) << 128n) | (view.getBigUint64(24, true) << 192n)) &
    Y_MASK
  );
}

/**
 * The sign of x (its low bit) of the RFC 9380 map_to_curve(u) for each u: libsodium's from_uniform
 * takes it as the top bit of its input, and without it returns the point whose x is even, which is
 * the RFC's point or its negation. encode_to_curve could ignore this (8Q and -8Q share y, hence u);
 * hash_to_curve adds two mapped points, where Q0 + Q1 and Q0 - Q1 differ.
 *
 * The RFC fixes the sign on the Montgomery side: sgn0(t) = 1 exactly when g(x1) is square (s = x1),
 * and the Edwards x is c1 * s / t. Finding t takes a square root, which in BigInt would cost as much as
 * noble's whole hash; libsodium computes it instead, when it decodes a point from y and the sign of x:
 * - decoding y(x1) = (x1 - 1) / (x1 + 1) succeeds exactly when g(x1) is square, which gives s;
 * - adding the base point B to the decoded Q' = (x', y) (x' even) gives y3, from which the Edwards
 *   addition law gives x' = (y3 - y yB) / (xB (1 + d y y3 yB)), hence t' = c1 s / x' in one division;
 * - Q' is the RFC's point when sgn0(t') matches, else its negation, whose x (p - x') is odd.
 * Divisions are batched over all u (Montgomery's trick). A zero denominator (1 + 2u^2 = 0, A or 2Au^2,
 * or a y that meets B's) has probability about 2^-250 per hash; it stops the batch rather than return a wrong point.
 */
function mapSigns(lib: SodiumNative, us: readonly bigint[]): Uint8Array {
  const n = us.length;
  const tus = us.map((u) => Fp.add(Fp.sqr(u), Fp.sqr(u))); // 2u^2
  // y(x1) = -(1 + 2u^2 + A) / (1 + 2u^2 - A) and y(x2) = -(1 + 2u^2 + 2Au^2) / (1 + 2u^2 - 2Au^2), x1 = -A / (1 + 2u^2).
  const denominators = new Array<bigint>(2 * n);
  for (let i = 0; i < n; i++) {
    const one = Fp.add(1n, tus[i]!);
    denominators[2 * i] = Fp.sub(one, A);
    denominators[2 * i + 1] = Fp.sub(one, Fp.mul(A, tus[i]!));
  }
  const inverses = invertAll(denominators);
  const encoded = new Uint8Array(POINT_BYTES);
  const sum = new Uint8Array(POINT_BYTES);
  const sumView = new DataView(sum.buffer);
  const ys = new Array<bigint>(n);
  const y3s = new Array<bigint>(n);
  const square = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    const one = Fp.add(1n, tus[i]!);
    ys[i] = Fp.neg(Fp.mul(Fp.add(one, A), inverses[2 * i]!));
    writeFieldElement(encoded, 0, ys[i]!);
    try {
      lib.crypto_core_ed25519_add(sum, encoded, BASE_BYTES);
      square[i] = true;
    } catch {
      square[i] = false;
      ys[i] = Fp.neg(Fp.mul(Fp.add(one, Fp.mul(A, tus[i]!)), inverses[2 * i + 1]!));
      writeFieldElement(encoded, 0, ys[i]!);
      lib.crypto_core_ed25519_add(sum, encoded, BASE_BYTES);
    }
    y3s[i] = readY(sum, sumView);
  }
  // t' = c1 * s / x' = c1 * (-A m / (1 + 2u^2)) * xB (1 + d y y3 yB) / (y3 - y yB), m = 1 for x1, 2u^2 for x2.
  const divisors = new Array<bigint>(n);
  for (let i = 0; i < n; i++) divisors[i] = Fp.mul(Fp.add(1n, tus[i]!), Fp.sub(y3s[i]!, Fp.mul(ys[i]!, BASE.y)));
  const quotients = invertAll(divisors);
  const signs = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = Fp.neg(Fp.mul(A, square[i] ? 1n : tus[i]!));
    const t = Fp.mul(Fp.mul(Fp.mul(C1, s), Fp.mul(BASE.x, Fp.add(1n, Fp.mul(D, Fp.mul(ys[i]!, Fp.mul(y3s[i]!, BASE.y)))))), quotients[i]!);
    signs[i] = (t & 1n) === (square[i] ? 1n : 0n) ? 0 : 1;
  }
  return signs;
}

function invertAll(values: bigint[]): bigint[] {
  if (values.some((v) => Fp.is0(v))) throw new CleanroomError('INTERNAL', 'hash to group met an exceptional case of the Elligator 2 map');
  return Fp.invertBatch(values);
}

/** Native libsodium (prebuilt in the npm package): the fast path, byte-identical to nobleGroup. */
export const sodiumGroup: GroupBackend = {
  name: 'sodium',

  hashToGroup(keys, dst) {
    assertHashInputs(keys, dst, 'sodium hashToGroup');
    const lib = loadSodium();
    const toField = fieldHasher(dst);
    const us = keys.flatMap((key) => toField(key));
    const signs = mapSigns(lib, us);
    const field = new Uint8Array(FIELD_BYTES);
    const q0 = new Uint8Array(POINT_BYTES);
    const q1 = new Uint8Array(POINT_BYTES);
    const edwards = new Uint8Array(POINT_BYTES);
    const view = new DataView(edwards.buffer);
    const ys = new Array<bigint>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      // from_uniform is RFC 9380 map_to_curve then clear_cofactor (multiplication by 8), the sign of x
      // coming from the input's top bit (a reduced u leaves it free). Clearing is linear, 8(Q0 + Q1) =
      // 8Q0 + 8Q1, so adding the two cleared points is hash_to_curve's clear_cofactor(Q0 + Q1).
      for (const [j, q] of [[0, q0], [1, q1]] as const) {
        writeFieldElement(field, 0, us[2 * i + j]!);
        field[FIELD_BYTES - 1] = field[FIELD_BYTES - 1]! | (signs[2 * i + j]! << 7);
        lib.crypto_core_ed25519_from_uniform(q, field);
      }
      lib.crypto_core_ed25519_add(edwards, q0, q1);
      ys[i] = readY(edwards, view);
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
