import { randomBytes } from 'node:crypto';
import { expand_message_xmd } from '@noble/curves/abstract/hash-to-curve.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ORDER, bytesScalar, scalarBytes, type EdwardsGroup } from './edwards.js';

/**
 * RFC 9497 §2.2, the batched discrete-log-equality proof of (V)OPRF, over the prime-order subgroup of edwards25519
 * with SHA-512 (RFC 9497 defines no edwards25519 suite; this one follows its ristretto255-SHA512 suite, §4.1, with
 * RFC 8032 compressed points for SerializeElement). It proves that one secret k gives both B = k·A (A the base point)
 * and D[i] = k·C[i] for every i, in one proof of two scalars.
 */

/** A proof: SerializeScalar(c) || SerializeScalar(s), 32 bytes each (RFC 9497 §2.2.1). */
export const PROOF_BYTES = 64;

const encoder = new TextEncoder();

/** I2OSP(n, 2) (RFC 8017 §4.1): the length prefixes of every transcript below. */
function i2osp2(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`I2OSP(${n}, 2) out of range`);
  return Uint8Array.of(n >> 8, n & 0xff);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** I2OSP(len(x), 2) || x for each x: the RFC's length-prefixed fields. */
function prefixed(...xs: Uint8Array[]): Uint8Array[] {
  return xs.flatMap((x) => [i2osp2(x.length), x]);
}

/**
 * RFC 9497 §4.1 (ristretto255-SHA512) HashToScalar: expand_message_xmd with SHA-512 (RFC 9380 §5.3.1) to 64 bytes,
 * DST = "HashToScalar-" || contextString, read as a 512-bit little-endian integer and reduced mod the group order.
 */
function hashToScalar(input: Uint8Array, context: Uint8Array): bigint {
  const uniform = expand_message_xmd(input, concat([encoder.encode('HashToScalar-'), context]), 64, sha512);
  return bytesScalar(uniform) % ORDER;
}

/** RFC 9497 §2.2.1 ComputeComposites's shared part: the seed and each d_i. */
function compositeScalars(B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], context: Uint8Array): bigint[] {
  if (C.length !== D.length || C.length === 0) throw new RangeError('ComputeComposites: C and D must be non-empty and of one length');
  // seedDST = "Seed-" || contextString; h1Input = I2OSP(len(Bm), 2) || Bm || I2OSP(len(seedDST), 2) || seedDST; seed = Hash(h1Input)
  const seed = sha512(concat(prefixed(B, concat([encoder.encode('Seed-'), context]))));
  const composite = encoder.encode('Composite');
  // h2Input = I2OSP(len(seed), 2) || seed || I2OSP(i, 2) || I2OSP(len(Ci), 2) || Ci || I2OSP(len(Di), 2) || Di || "Composite"
  return C.map((Ci, i) => hashToScalar(concat([...prefixed(seed), i2osp2(i), ...prefixed(Ci, D[i]!), composite]), context));
}

/** RFC 9497 §2.2.1 ComputeComposites: M = Σ d_i·C[i], Z = Σ d_i·D[i]; what the verifier computes. */
export function computeComposites(g: EdwardsGroup, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], context: Uint8Array): { M: Uint8Array; Z: Uint8Array } {
  const d = compositeScalars(B, C, D, context);
  return { M: g.combine(d, C), Z: g.combine(d, D) };
}

/** RFC 9497 §2.2.1 ComputeCompositesFast: the prover, who knows k, has Z = k·M for one multiplication. */
function computeCompositesFast(g: EdwardsGroup, k: bigint, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], context: Uint8Array): { M: Uint8Array; Z: Uint8Array } {
  const M = g.combine(compositeScalars(B, C, D, context), C);
  return { M, Z: g.multiply(k, M) };
}

/** RFC 9497 §2.2.1: challengeTranscript = the length-prefixed B, M, Z, t2, t3, then "Challenge"; c = HashToScalar of it. */
function challenge(B: Uint8Array, M: Uint8Array, Z: Uint8Array, t2: Uint8Array, t3: Uint8Array, context: Uint8Array): bigint {
  return hashToScalar(concat([...prefixed(B, M, Z, t2, t3), encoder.encode('Challenge')]), context);
}

/** RFC 9497 RandomScalar, by §4.7.2's extra random bits: 64 random bytes reduced mod L (bias below 2^-250), never 0. */
function randomScalar(): bigint {
  for (;;) {
    const k = bytesScalar(randomBytes(64)) % ORDER;
    if (k !== 0n) return k;
  }
}

/**
 * RFC 9497 §2.2.1 GenerateProof(k, A, B, C, D) with A the base point: B = k·A, D[i] = k·C[i]. `r` is the proof's
 * nonce, fresh from the CSPRNG unless a test vector fixes it.
 */
export function generateProof(g: EdwardsGroup, k: bigint, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], context: Uint8Array, r = randomScalar()): Uint8Array {
  const { M, Z } = computeCompositesFast(g, k, B, C, D, context);
  // t2 = r * A; t3 = r * M
  const t2 = g.multiplyBase(r);
  const t3 = g.multiply(r, M);
  const c = challenge(B, M, Z, t2, t3, context);
  // s = r - c * k
  const s = (((r - c * k) % ORDER) + ORDER) % ORDER;
  return concat([scalarBytes(c), scalarBytes(s)]);
}

/**
 * RFC 9497 §2.2.2 VerifyProof(A, B, C, D, proof). B must be a valid element (EdwardsGroup.isValid); a point of C or D
 * that is not is refused by the composites (`invalid-point`). A proof whose scalars are not reduced (DeserializeScalar
 * fails) is false.
 */
export function verifyProof(g: EdwardsGroup, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], proof: Uint8Array, context: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES) return false;
  const c = bytesScalar(proof.subarray(0, 32));
  const s = bytesScalar(proof.subarray(32));
  if (c >= ORDER || s >= ORDER) return false;
  const { M, Z } = computeComposites(g, B, C, D, context);
  // t2 = (s * A) + (c * B); t3 = (s * M) + (c * Z). A zero scalar contributes the identity, which `combine` cannot
  // take as a point: the terms with one are left out.
  const t2 = sumOf(g, [[s, null], [c, B]]);
  const t3 = sumOf(g, [[s, M], [c, Z]]);
  if (t2 === undefined || t3 === undefined) return false;
  // verified = (expectedC == c)
  return challenge(B, M, Z, t2, t3, context) === c;
}

/** Σ k·P over the terms with k ≠ 0 (P null: the base point); undefined when that is the identity or nothing. */
function sumOf(g: EdwardsGroup, terms: readonly (readonly [bigint, Uint8Array | null])[]): Uint8Array | undefined {
  const base = terms.filter(([k, p]) => k !== 0n && p === null).map(([k]) => g.multiplyBase(k));
  const rest = terms.filter(([k, p]) => k !== 0n && p !== null) as [bigint, Uint8Array][];
  const points = [...base, ...rest.map(([, p]) => p)];
  const ks = [...base.map(() => 1n), ...rest.map(([k]) => k)];
  if (points.length === 0) return undefined;
  try {
    return g.combine(ks, points);
  } catch {
    return undefined;
  }
}
