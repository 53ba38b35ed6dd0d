import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArrangedStream } from '../../src/session/arranged-stream.js';
import type { PaddedBatch } from '../../src/session/point-stream.js';
import { osRandom, seededRandom } from '../../src/dp/random-source.js';
import { PSI_BATCH_KEYS } from '../../src/limits.js';

const W = 32;

/** `n` points numbered from `from` (a point's first 4 bytes are its number), as the key stream brings them. */
function keys(from: number, n: number): Uint8Array {
  const out = new Uint8Array(n * W);
  for (let i = 0; i < n; i++) new DataView(out.buffer).setUint32(i * W, from + i, true);
  return out;
}

/** The stream as it leaves, one letter a position: the key's number, P for padding, D for a dummy slot. */
function layout(batches: readonly PaddedBatch[]): (number | 'P' | 'D')[] {
  return batches.flatMap((b) => {
    const out: (number | 'P' | 'D')[] = [];
    const n = b.points.length / W + b.padding.length;
    const dummies = b.dummies ?? new Uint32Array(0);
    expect([...dummies].every((d) => b.padding.includes(d))).toBe(true);
    for (let i = 0, k = 0; i < n; i++) out.push(dummies.includes(i) ? 'D' : b.padding.includes(i) ? 'P' : new DataView(b.points.buffer, b.points.byteOffset).getUint32(W * k++, true));
    return out;
  });
}

function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
}

describe('ArrangedStream (SPEC §4.2 step 1: the partner\'s set streamed, its padding and dummies spread uniformly)', () => {
  it('carries every key once in stream order, the padding and dummy slots among them, in full batches but the last, whatever the feed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 * PSI_BATCH_KEYS + 100 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
        fc.string(),
        (n, padding, dummies, feed, seed) => {
          const s = new ArrangedStream(n, padding, dummies, seededRandom(seed));
          const batches: PaddedBatch[] = [];
          for (let at = 0, i = 0; at < n; i++) {
            const size = Math.min(feed[i % feed.length]!, n - at);
            batches.push(...s.add(keys(at, size)));
            at += size;
          }
          batches.push(...s.finish());
          const out = layout(batches);
          const total = n + padding + dummies;
          expect(out).toHaveLength(total);
          expect(out.filter((x) => typeof x === 'number')).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(out.filter((x) => x === 'P')).toHaveLength(padding);
          expect(out.filter((x) => x === 'D')).toHaveLength(dummies);
          // One multiplication a position: keys and padding, the dummy slots made as padding (SPEC §10.3).
          const sizes = batches.map((b) => b.points.length / W + b.padding.length);
          expect(sizes).toEqual(Array.from({ length: Math.ceil(total / PSI_BATCH_KEYS) }, (_, i) => Math.min(PSI_BATCH_KEYS, total - i * PSI_BATCH_KEYS)));
        },
      ),
      { numRuns: 40 },
    );
  });

  // 2 keys, 1 padding point, 1 dummy slot: 12 arrangements, each of probability 1/12 if the arrangement is uniform.
  // 60,000 draws; chi-square with 11 degrees of freedom exceeds 71 with probability below 1e-10. A law that puts each
  // filler first with probability 1/2 (the aggregator's law, SPEC §10.2, is of that kind) gives a chi-square in the
  // thousands at this size: the check below shows the threshold catches it.
  const DRAWS = 60_000;
  const THRESHOLD = 71;
  const counts = (draw: () => string): number[] => {
    const seen = new Map<string, number>();
    for (let d = 0; d < DRAWS; d++) {
      const k = draw();
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen.size).toBe(12);
    return [...seen.values()];
  };

  it('draws every arrangement of its keys, padding and dummy slots equally likely', () => {
    const c = counts(() => {
      const s = new ArrangedStream(2, 1, 1, osRandom);
      return layout([...s.add(keys(0, 2)), ...s.finish()]).map((x) => (typeof x === 'number' ? 'K' : x)).join('');
    });
    expect(chiSquare(c)).toBeLessThan(THRESHOLD);
  });

  it('(the uniformity check rejects fillers that favour the front)', () => {
    const c = counts(() => {
      const slots = ['K', 'K', 'P', 'D'].sort(() => Math.random() - 0.5);
      // With probability 1/2 a filler is moved to the front: not uniform.
      if (Math.random() < 0.5) {
        const f = slots.findIndex((x) => x !== 'K');
        slots.unshift(...slots.splice(f, 1));
      }
      return slots.join('');
    });
    expect(chiSquare(c)).toBeGreaterThan(THRESHOLD);
  });

  it('refuses a key stream longer or shorter than the count it was given', () => {
    const long = new ArrangedStream(3, 1, 0, osRandom);
    expect(() => long.add(keys(0, 4))).toThrow(/more than the 3 keys/);
    const short = new ArrangedStream(3, 1, 0, osRandom);
    short.add(keys(0, 2));
    expect(() => short.finish()).toThrow(/brought 2 keys where 3 were counted/);
  });

  it('refuses counts that are no non-negative integers', () => {
    expect(() => new ArrangedStream(-1, 0, 0, osRandom)).toThrow(RangeError);
    expect(() => new ArrangedStream(1, 0.5, 0, osRandom)).toThrow(RangeError);
    expect(() => new ArrangedStream(1, 0, Number.NaN, osRandom)).toThrow(RangeError);
  });
});
