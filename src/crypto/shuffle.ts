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

/**
 * The points of `chunks`, taken as one sequence, in a uniformly random order, cut in batches of `batchPoints` (the last
 * may be shorter). The points are permuted in place across the chunks, and each chunk is let go (its entry in `chunks`
 * emptied) as soon as its points are copied into batches: a set of 10M points takes its own size once more only a
 * batch at a time, where a shuffled copy of the whole would double it (320 MB at 10M).
 */
export function shuffledBatches(chunks: Uint8Array[], pointBytes: number, batchPoints: number): Uint8Array[] {
  if (!Number.isSafeInteger(pointBytes) || pointBytes < 1 || !Number.isSafeInteger(batchPoints) || batchPoints < 1) throw new RangeError('shuffledBatches: point size and batch size must be positive integers');
  const starts = new Float64Array(chunks.length + 1);
  chunks.forEach((c, i) => {
    if (!(c instanceof Uint8Array) || c.length % pointBytes !== 0) throw new RangeError(`shuffledBatches: chunk ${i} is not a multiple of ${pointBytes} bytes`);
    starts[i + 1] = starts[i]! + c.length / pointBytes;
  });
  const total = starts[chunks.length]!;
  assertCount(total, 'shuffledBatches');
  /** The chunk holding point `i` of the sequence: the last chunk starting at or before it. */
  const chunkOf = (i: number): number => {
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  fisherYates(total, (i, j) => {
    const ci = chunkOf(i);
    const cj = chunkOf(j);
    const a = chunks[ci]!;
    const b = chunks[cj]!;
    const ao = (i - starts[ci]!) * pointBytes;
    const bo = (j - starts[cj]!) * pointBytes;
    for (let k = 0; k < pointBytes; k++) {
      const t = a[ao + k]!;
      a[ao + k] = b[bo + k]!;
      b[bo + k] = t;
    }
  });
  const batches: Uint8Array[] = [];
  let chunk = 0;
  let at = 0;
  for (let start = 0; start < total; start += batchPoints) {
    const batch = new Uint8Array(Math.min(batchPoints, total - start) * pointBytes);
    for (let filled = 0; filled < batch.length; ) {
      while (at === chunks[chunk]!.length) {
        chunks[chunk] = new Uint8Array(0);
        chunk += 1;
        at = 0;
      }
      const take = Math.min(batch.length - filled, chunks[chunk]!.length - at);
      batch.set(chunks[chunk]!.subarray(at, at + take), filled);
      filled += take;
      at += take;
    }
    batches.push(batch);
  }
  chunks.fill(new Uint8Array(0));
  return batches;
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
