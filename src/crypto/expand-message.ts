/**
 * RFC 9380 §5.3.1 expand_message_xmd over SHA-512, for the 64 uniform bytes the hash to the group
 * (SPEC §3) takes per key: len_in_bytes = 64, so ell = ceil(64 / 64) = 1 and the output is b_1.
 *
 * Written here on libsodium's SHA-512 rather than taken from @noble/curves' expand_message_xmd because it runs
 * once per key in front of libsodium's map: a few native calls on preallocated state, and one copied state for
 * the zero block, cost about 5 µs a key where node:crypto's hash objects cost 12 to 19 µs (a third of an X25519
 * multiplication). A property test against noble's expand_message_xmd pins it.
 */

/** The part of sodium-native's SHA-512 this uses (the package ships no type declarations). */
export interface Sha512Native {
  readonly crypto_hash_sha512_STATEBYTES: number;
  crypto_hash_sha512(out: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha512_init(state: Uint8Array): void;
  crypto_hash_sha512_update(state: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha512_final(state: Uint8Array, out: Uint8Array): void;
}

export const UNIFORM_BYTES = 64;
const SHA512_BLOCK = 128;
const MAX_DST_BYTES = 255;

/** The 64 uniform bytes of `msg` under one DST. */
export type UniformHasher = (msg: Uint8Array) => Uint8Array;

/** RFC 9380 §3.1 and §5.3.3: a DST is 1 to 255 bytes (longer tags would have to be hashed first). */
export function assertDst(dst: Uint8Array, label: string): void {
  if (!(dst instanceof Uint8Array) || dst.length === 0 || dst.length > MAX_DST_BYTES) {
    throw new RangeError(`${label}: the domain separation tag must be 1 to ${MAX_DST_BYTES} bytes`);
  }
}

/** Both backends' hashToGroup entry check: every key is a byte string, the DST is valid. */
export function assertHashInputs(keys: readonly Uint8Array[], dst: Uint8Array, label: string): void {
  assertDst(dst, label);
  if (!Array.isArray(keys)) throw new TypeError(`${label}: keys must be an array of Uint8Array`);
  for (let i = 0; i < keys.length; i++) {
    if (!(keys[i] instanceof Uint8Array)) throw new TypeError(`${label}: key ${i} is not a Uint8Array`);
  }
}

/**
 * expand_message_xmd bound to one DST, so that the DST-dependent suffixes are built once per batch. The returned
 * bytes are a fresh array per call; the state is the hasher's own (one hasher per batch, never shared).
 */
export function uniformHasher(dst: Uint8Array, lib: Sha512Native): UniformHasher {
  assertDst(dst, 'uniformHasher');
  const dstPrime = new Uint8Array(dst.length + 1);
  dstPrime.set(dst);
  dstPrime[dst.length] = dst.length;
  // b_0 suffix: I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime.
  const b0Suffix = new Uint8Array(3 + dstPrime.length);
  b0Suffix[0] = UNIFORM_BYTES >> 8;
  b0Suffix[1] = UNIFORM_BYTES & 0xff;
  b0Suffix.set(dstPrime, 3);
  // b_1's input: b_0 (written per key) || I2OSP(1, 1) || DST_prime.
  const b1Input = new Uint8Array(UNIFORM_BYTES + 1 + dstPrime.length);
  b1Input[UNIFORM_BYTES] = 1;
  b1Input.set(dstPrime, UNIFORM_BYTES + 1);
  // b_0 = H(Z_pad || msg || ...) begins with exactly one block of zeros: absorbed once, its state copied for
  // every message, saving one SHA-512 compression per key.
  const zPadState = new Uint8Array(lib.crypto_hash_sha512_STATEBYTES);
  lib.crypto_hash_sha512_init(zPadState);
  lib.crypto_hash_sha512_update(zPadState, new Uint8Array(SHA512_BLOCK));
  const state = new Uint8Array(lib.crypto_hash_sha512_STATEBYTES);
  const b0 = b1Input.subarray(0, UNIFORM_BYTES);

  return (msg) => {
    state.set(zPadState);
    lib.crypto_hash_sha512_update(state, msg);
    lib.crypto_hash_sha512_update(state, b0Suffix);
    lib.crypto_hash_sha512_final(state, b0);
    const out = new Uint8Array(UNIFORM_BYTES);
    lib.crypto_hash_sha512(out, b1Input);
    return out;
  };
}
