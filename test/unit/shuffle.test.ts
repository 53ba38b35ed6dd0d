import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomPermutation, shuffledBatches, shuffleInPlace, shufflePoints } from '../../src/crypto/shuffle.js';

/** Index of a permutation of 0..n-1 in lexicographic order (Lehmer code), for counting outcomes. */
function rank(perm: ArrayLike<number>): number {
  const rest = Array.from({ length: perm.length }, (_, i) => i);
  let r = 0;
  for (let i = 0; i < perm.length; i++) {
    const pos = rest.indexOf(perm[i]!);
    r = r * (perm.length - i) + pos;
    rest.splice(pos, 1);
  }
  return r;
}

function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
}

// n = 3 has 6 outcomes; 120,000 draws. For a uniform shuffle chi-square has 5 degrees of freedom
// and exceeds 55 with probability ~1.3e-10. The classic biased shuffle (swap each slot with any
// slot) gives outcome probabilities 4/27 and 5/27, a chi-square near 1,500 at this sample size:
// the check below runs that biased shuffle to show the threshold does catch bias.
const N = 3;
const DRAWS = 120_000;
const THRESHOLD = 55;

function outcomeCounts(shuffle: () => ArrayLike<number>): number[] {
  const counts = new Array<number>(6).fill(0);
  for (let d = 0; d < DRAWS; d++) counts[rank(shuffle())]!++;
  return counts;
}

describe('randomPermutation', () => {
  it('returns a permutation of 0..n-1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), (n) => {
        const perm = randomPermutation(n);
        expect(perm).toHaveLength(n);
        expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      { numRuns: 200 },
    );
  });

  it('is uniform on 3 items', () => {
    expect(chiSquare(outcomeCounts(() => randomPermutation(N)))).toBeLessThan(THRESHOLD);
  });

  it('(the uniformity check rejects the classic biased shuffle)', () => {
    const biased = (): number[] => {
      const a = [0, 1, 2];
      for (let i = 0; i < N; i++) {
        const j = Math.floor(Math.random() * N);
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a;
    };
    expect(chiSquare(outcomeCounts(biased))).toBeGreaterThan(THRESHOLD);
  });

  it('moves every item to every slot on larger n', () => {
    // 8 items, 16,000 draws: each (item, slot) count is Binomial(16000, 1/8), mean 2000, sd 41.8.
    const n = 8;
    const counts = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    for (let d = 0; d < 16_000; d++) randomPermutation(n).forEach((item, slot) => counts[item]![slot]!++);
    for (const row of counts) for (const c of row) expect(Math.abs(c - 2000)).toBeLessThan(7 * 41.8);
  });

  it('rejects counts that are not item counts', () => {
    expect(() => randomPermutation(-1)).toThrow(RangeError);
    expect(() => randomPermutation(1.5)).toThrow(RangeError);
    expect(() => randomPermutation(2 ** 32)).toThrow(RangeError);
  });
});

describe('shufflePoints', () => {
  it('permutes whole 32-byte blocks into a new buffer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), (count) => {
        const points = new Uint8Array(32 * count);
        for (let i = 0; i < count; i++) points.fill(i, 32 * i, 32 * i + 32);
        const shuffled = shufflePoints(points);
        expect(shuffled).not.toBe(points);
        const blocks = Array.from({ length: count }, (_, i) => shuffled.subarray(32 * i, 32 * i + 32));
        for (const block of blocks) expect(block.every((b) => b === block[0])).toBe(true);
        expect(blocks.map((b) => b[0]!).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i));
        for (let i = 0; i < count; i++) expect(points[32 * i]).toBe(i);
      }),
      { numRuns: 100 },
    );
  });

  it('is uniform on 3 points', () => {
    const points = new Uint8Array(96);
    for (let i = 0; i < 3; i++) points.fill(i, 32 * i, 32 * i + 32);
    const counts = outcomeCounts(() => {
      const s = shufflePoints(points);
      return [s[0]!, s[32]!, s[64]!];
    });
    expect(chiSquare(counts)).toBeLessThan(THRESHOLD);
  });

  it('rejects a ragged buffer', () => {
    expect(() => shufflePoints(new Uint8Array(33))).toThrow(RangeError);
  });
});

describe('shuffledBatches', () => {
  /** Chunks of the given sizes holding points 0, 1, 2… in order (a point's 4 bytes are its number). */
  const numbered = (sizes: readonly number[]): Uint8Array[] => {
    let next = 0;
    return sizes.map((n) => {
      const c = new Uint8Array(4 * n);
      for (let i = 0; i < n; i++) new DataView(c.buffer).setUint32(4 * i, next++, true);
      return c;
    });
  };
  const numbers = (batches: readonly Uint8Array[]): number[] => batches.flatMap((b) => Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(4 * i, true)));

  it('returns every point once, in full batches but the last, and lets every chunk go (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 12 }), fc.integer({ min: 1, max: 17 }), (sizes, batch) => {
        const chunks = numbered(sizes);
        const total = sizes.reduce((a, b) => a + b, 0);
        const out = shuffledBatches(chunks, 4, batch);
        expect(out.map((b) => b.length / 4)).toEqual(Array.from({ length: Math.ceil(total / batch) }, (_, i) => Math.min(batch, total - i * batch)));
        expect(numbers(out).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
        expect(chunks.every((c) => c.length === 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('is uniform on 3 points spread over chunks of 1 and 2', () => {
    const counts = outcomeCounts(() => numbers(shuffledBatches(numbered([1, 0, 2]), 4, 2)));
    expect(chiSquare(counts)).toBeLessThan(THRESHOLD);
  });

  it('rejects a ragged chunk and a batch size that is no positive integer', () => {
    expect(() => shuffledBatches([new Uint8Array(8), new Uint8Array(6)], 4, 2)).toThrow(/chunk 1/);
    expect(() => shuffledBatches([new Uint8Array(8)], 4, 0)).toThrow(RangeError);
  });
});

describe('shuffleInPlace', () => {
  it('keeps the same items', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), (items) => {
        const copy = [...items];
        shuffleInPlace(copy);
        expect([...copy].sort()).toEqual([...items].sort());
      }),
    );
  });

  it('is uniform on 3 items', () => {
    const counts = outcomeCounts(() => {
      const a = [0, 1, 2];
      shuffleInPlace(a);
      return a;
    });
    expect(chiSquare(counts)).toBeLessThan(THRESHOLD);
  });
});
