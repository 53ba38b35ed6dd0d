import { randomFillSync } from 'node:crypto';
import { POINT_BYTES } from './group.js';

const MAX_ITEMS = 0xffffffff;
const RANDOM_WORDS = 1024;
const TWO_32 = 0x1_0000_0000;

/** Uniform integers below a bound from the OS CSPRNG, drawn in blocks to keep syscalls off the per-item path. */
class UniformIndex {
  readonly #words: Uint32Array;
  #next: number;

  constructor(expectedDraws: number) {
    this.#words = new Uint32Array(Math.max(1, Math.min(RANDOM_WORDS, expectedDraws)));
    this.#next = this.#words.length;
  }

  #word(): number {
    if (this.#next === this.#words.length) {
      randomFillSync(this.#words);
      this.#next = 0;
    }
    return this.#words[this.#next++]!;
  }

  /** Uniform in [0, bound), 1 <= bound <= 2^32: rejection sampling removes the modulo bias. */
  below(bound: number): number {
    const limit = TWO_32 - (TWO_32 % bound);
    for (;;) {
      const word = this.#word();
      if (word < limit) return word % bound;
    }
  }
}

function assertCount(n: number, label: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ITEMS) {
    throw new RangeError(`${label}: ${n} is not an item count in [0, ${MAX_ITEMS}]`);
  }
}

/** Fisher–Yates (Durstenfeld) over `length` slots, calling swap(i, j) with j uniform in [0, i]. */
function fisherYates(length: number, swap: (i: number, j: number) => void): void {
  const draw = new UniformIndex(length - 1);
  for (let i = length - 1; i > 0; i--) swap(i, draw.below(i + 1));
}

/** A uniformly random permutation of 0..n-1 (SPEC §4.2: shuffles come from a CSPRNG). */
export function randomPermutation(n: number): Uint32Array {
  assertCount(n, 'randomPermutation');
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  fisherYates(n, (i, j) => {
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  });
  return perm;
}

/** The 32-byte points of `points` in a uniformly random order, as a new buffer. */
export function shufflePoints(points: Uint8Array): Uint8Array {
  if (!(points instanceof Uint8Array) || points.length % POINT_BYTES !== 0) {
    throw new RangeError(`shufflePoints: expected a multiple of ${POINT_BYTES} bytes`);
  }
  const perm = randomPermutation(points.length / POINT_BYTES);
  const out = new Uint8Array(points.length);
  for (let i = 0; i < perm.length; i++) {
    const from = perm[i]! * POINT_BYTES;
    out.set(points.subarray(from, from + POINT_BYTES), i * POINT_BYTES);
  }
  return out;
}

/** Shuffles `items` in place, uniformly. */
export function shuffleInPlace<T>(items: T[]): void {
  if (!Array.isArray(items)) throw new TypeError('shuffleInPlace: expected an array');
  assertCount(items.length, 'shuffleInPlace');
  fisherYates(items.length, (i, j) => {
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  });
}
