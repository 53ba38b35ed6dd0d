import { createHash, randomFillSync } from 'node:crypto';

/** Uniform integers for the samplers. */
export interface RandomSource {
  /** Uniform in [0, n), n >= 1n; RangeError otherwise. */
  below(n: bigint): bigint;
}

const OS_BUFFER_BYTES = 4096;

/**
 * Uniform bigints from a stream of uniform bytes. A draw reads the fewest whole bytes that cover n - 1 and rejects
 * values at or above the largest multiple of n they can hold, so `% n` has no modulo bias (a draw is rejected with
 * probability below 1/2, so the expected number of tries is under 2 whatever n is).
 */
class ByteRandom implements RandomSource {
  readonly #refill: () => Uint8Array;
  #block: Uint8Array = new Uint8Array(0);
  #next = 0;

  constructor(refill: () => Uint8Array) {
    this.#refill = refill;
  }

  #byte(): bigint {
    if (this.#next === this.#block.length) {
      this.#block = this.#refill();
      this.#next = 0;
    }
    return BigInt(this.#block[this.#next++]!);
  }

  below(n: bigint): bigint {
    if (typeof n !== 'bigint' || n < 1n) throw new RangeError(`below: the bound must be a bigint >= 1n, got ${String(n)}`);
    // A bound of 1 has one outcome: no randomness is spent on it.
    if (n === 1n) return 0n;
    const bytes = ((n - 1n).toString(16).length + 1) >> 1;
    const range = 1n << BigInt(8 * bytes);
    const limit = range - (range % n);
    for (;;) {
      let r = 0n;
      for (let i = 0; i < bytes; i++) r = (r << 8n) | this.#byte();
      if (r < limit) return r % n;
    }
  }
}

/** The OS CSPRNG (node:crypto randomFillSync), rejection sampling on whole bytes: no modulo bias. */
export const osRandom: RandomSource = new ByteRandom(() => randomFillSync(new Uint8Array(OS_BUFFER_BYTES)));

/**
 * Deterministic, for vectors and tests ONLY: never noise that is released. The byte stream is the concatenation of
 * SHA-256(utf8(seed) || counter) for counter = 0, 1, 2, ... as an 8-byte big-endian integer, read with the same
 * rejection sampling as osRandom, so a vector pins both the stream and how it is consumed.
 */
export function seededRandom(seed: string): RandomSource {
  if (typeof seed !== 'string') throw new TypeError('seededRandom: the seed must be a string');
  const prefix = Buffer.from(seed, 'utf8');
  const counter = Buffer.alloc(8);
  let blocks = 0n;
  return new ByteRandom(() => {
    counter.writeBigUInt64BE(blocks++);
    return createHash('sha256').update(prefix).update(counter).digest();
  });
}
