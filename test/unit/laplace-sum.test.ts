import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { discreteLaplacePmf, sampleDiscreteLaplace } from '../../src/dp/discrete-laplace.js';
import { laplaceSumHalfWidth, laplaceSumTail, MAX_LAPLACE_TERMS } from '../../src/dp/laplace-sum.js';
import { seededRandom } from '../../src/dp/random-source.js';
import { rational } from '../../src/dp/rational.js';
import { binomialAcceptance } from '../support/binomial-bands.js';

/**
 * The closed form of src/dp/laplace-sum.ts judged against brute force: the pmf of discrete-laplace.ts cut where the
 * mass left out is below 1e-16 per term (1e-15 for six), convolved term by term, its tails summed from the far end
 * (smallest terms first). Convolution adds positive terms only, so the tails keep their relative precision; those
 * compared are at least 1e-5, so the cut moves them by at most 1e-10 relative.
 */
interface Law {
  readonly low: number;
  readonly p: Float64Array;
  /** tail[i] = P(S >= low + i); tail[p.length] = 0. */
  readonly tail: Float64Array;
}

function bruteForce(b: number, terms: number): Law {
  const p = Math.exp(-1 / b);
  // P(|X| > K) = 2 p^(K+1) / (1 + p) < 1e-16.
  const cut = Math.ceil(Math.log(1e-16 / 2) / Math.log(p));
  const one = Float64Array.from({ length: 2 * cut + 1 }, (_, i) => discreteLaplacePmf(b, i - cut));
  let law = Float64Array.of(1);
  for (let t = 0; t < terms; t++) {
    const next = new Float64Array(law.length + one.length - 1);
    for (let i = 0; i < law.length; i++) {
      const li = law[i]!;
      for (let j = 0; j < one.length; j++) next[i + j]! += li * one[j]!;
    }
    law = next;
  }
  const tail = new Float64Array(law.length + 1);
  for (let i = law.length - 1; i >= 0; i--) tail[i] = tail[i + 1]! + law[i]!;
  return { low: -terms * cut, p: law, tail };
}

/** P(S >= q) from the brute-force law. */
function tailAt(law: Law, q: number): number {
  const i = q - law.low;
  return i <= 0 ? 1 : i >= law.p.length ? 0 : law.tail[i]!;
}

/** The least w >= 0 with P(|S| > w) = 2 P(S >= w + 1) <= miss, by brute force. */
function leastWidth(law: Law, miss: number): number {
  let w = 0;
  while (2 * tailAt(law, w + 1) > miss) w++;
  return w;
}

const SCALES = [0.3, 1, 2.5, 8.9, 40];
const TERMS = [1, 2, 3, 4, 5, 6];
const laws = new Map<string, Law>();
const lawOf = (b: number, terms: number): Law => {
  const key = `${b}/${terms}`;
  if (!laws.has(key)) laws.set(key, bruteForce(b, terms));
  return laws.get(key)!;
};

describe('laplaceSumTail', () => {
  it('matches brute-force convolution to 1e-9 relative, at every q whose tail is at least 1e-5 (b in {0.3, 1, 2.5, 8.9, 40}, terms 1..6)', () => {
    for (const b of SCALES) {
      for (const terms of TERMS) {
        const law = lawOf(b, terms);
        let checked = 0;
        // From deep in the lower half (tails near 1: the symmetric branch) up through the point-mass range 1..H-1.
        for (let q = law.low; q <= -law.low; q++) {
          const want = tailAt(law, q);
          if (want < 1e-5) break;
          if (want > 1 - 1e-12) continue;
          const got = laplaceSumTail(b, terms, q);
          expect(Math.abs(got / want - 1), `b=${b} terms=${terms} q=${q}`).toBeLessThan(1e-9);
          checked++;
        }
        expect(checked).toBeGreaterThan(2);
      }
    }
  });

  it('matches brute force for many terms, where q < H takes the point-mass branch (b in {0.3, 1}, terms 16, 64, 256)', () => {
    for (const b of [0.3, 1]) {
      for (const terms of [16, 64, 256]) {
        const law = bruteForce(b, terms);
        for (let q = -3 * terms; q <= 3 * terms; q++) {
          const want = tailAt(law, q);
          if (want < 1e-5) break;
          if (want > 1 - 1e-12) continue;
          expect(Math.abs(laplaceSumTail(b, terms, q) / want - 1), `b=${b} terms=${terms} q=${q}`).toBeLessThan(1e-9);
        }
      }
    }
  });

  it('is p^q / (1 + p) for one term, q >= 1, and 1 - p^(1-q) / (1 + p) for q <= 0, at scales up to 1e9', () => {
    for (const b of [0.05, 0.3, 1, 8.9, 1e3, 1e6, 1e9]) {
      const p = Math.exp(-1 / b);
      for (const q of [1, 2, 3, 10, 100, Math.round(5 * b) + 1, Math.round(30 * b) + 1]) {
        const want = Math.exp(-q / b) / (1 + p);
        if (want === 0) continue;
        expect(Math.abs(laplaceSumTail(b, 1, q) / want - 1), `b=${b} q=${q}`).toBeLessThan(1e-12);
        expect(Math.abs(laplaceSumTail(b, 1, 1 - q) - (1 - want)), `b=${b} q=${1 - q}`).toBeLessThan(1e-15);
      }
    }
  });

  it('has the variance 2Hp/(1-p)^2: Σ_q>=1 (2q-1) P(|S| >= q) = E S^2 (b = 2.5, terms 1..6)', () => {
    // E S² = Σ_{q>=1} (2q - 1) P(|S| >= q), and P(|S| >= q) = 2 P(S >= q): a check on the whole tail at once.
    const b = 2.5;
    const p = Math.exp(-1 / b);
    for (const terms of TERMS) {
      let second = 0;
      for (let q = 1; q < 400; q++) second += (2 * q - 1) * 2 * laplaceSumTail(b, terms, q);
      expect(second / ((terms * 2 * p) / (1 - p) ** 2)).toBeCloseTo(1, 10);
    }
  });

  it('refuses a scale, a number of terms or a q out of range with a RangeError naming it', () => {
    const bad: [number, number, number][] = [
      [0, 1, 1], [-1, 1, 1], [Number.NaN, 1, 1], [Number.POSITIVE_INFINITY, 1, 1],
      [1, 0, 1], [1, 1.5, 1], [1, MAX_LAPLACE_TERMS + 1, 1], [1, Number.NaN, 1],
      [1, 1, 0.5], [1, 1, Number.NaN], [1, 1, 2 ** 60],
    ];
    for (const [b, t, q] of bad) expect(() => laplaceSumTail(b, t, q), `${b}, ${t}, ${q}`).toThrow(/^laplaceSumTail:/);
    for (const [b, t, q] of bad) expect(() => laplaceSumTail(b, t, q)).toThrow(RangeError);
  });
});

describe('laplaceSumHalfWidth', () => {
  const MISSES = [0.5, 0.1, 0.05, 0.025, 0.01, 1e-3, 1e-5];

  it('is the least w with exact P(|S| > w) <= miss: w holds and w - 1 does not (brute force)', () => {
    for (const b of SCALES) {
      for (const terms of TERMS) {
        const law = lawOf(b, terms);
        for (const miss of MISSES) {
          expect(Number(laplaceSumHalfWidth(b, terms, miss)), `b=${b} terms=${terms} miss=${miss}`).toBe(leastWidth(law, miss));
        }
      }
    }
  });

  // The Chernoff and union tail bounds these intervals replace gave 143 and 64 (protocol v2 before issue 17).
  it('gives 82 at b = 20 and 37 at b = 8.9 (two terms, 95%), where the tail bounds it replaces gave 143 and 64', () => {
    expect(laplaceSumHalfWidth(20, 2, 0.05)).toBe(82n);
    expect(laplaceSumHalfWidth(8.9, 2, 0.05)).toBe(37n);
    const law = bruteForce(20, 2);
    expect(leastWidth(law, 0.05)).toBe(82);
  });

  it('is 0 when even P(S != 0) is within the miss', () => {
    // b = 0.05: P(S != 0) = 2p/(1+p) with p = e^-20; b = 0.01 and 1024 terms: at most 2048 e^-100.
    expect(laplaceSumHalfWidth(0.05, 1, 0.01)).toBe(0n);
    expect(laplaceSumHalfWidth(0.01, MAX_LAPLACE_TERMS, 0.05)).toBe(0n);
  });

  it('tends to the continuous law at large scales: two Laplace(1) sum to P(S >= x) = e^-x (2 + x)/4', () => {
    // The discrete law at scale b is the continuous one rounded, so w/b converges with error O(1/b).
    const miss = 0.05;
    let lo = 0;
    let hi = 50;
    for (let i = 0; i < 200; i++) {
      const x = (lo + hi) / 2;
      if ((Math.exp(-x) * (2 + x)) / 2 > miss) lo = x;
      else hi = x;
    }
    expect(Math.abs(Number(laplaceSumHalfWidth(1e9, 2, miss)) / 1e9 / hi - 1)).toBeLessThan(1e-8);
    // 64 terms, a tail of 1e-12: b = 1e6 and b = 1e9 agree to O(1/b) once scaled.
    const at1e9 = Number(laplaceSumHalfWidth(1e9, 64, 1e-12)) / 1e9;
    expect(Math.abs(at1e9 / (Number(laplaceSumHalfWidth(1e6, 64, 1e-12)) / 1e6) - 1)).toBeLessThan(1e-5);
  });

  it('matches the normal quantile for 1024 terms to 1% (b = 3, 95%: 1.96 standard deviations)', () => {
    const p = Math.exp(-1 / 3);
    const sd = Math.sqrt((MAX_LAPLACE_TERMS * 2 * p) / (1 - p) ** 2);
    expect(Math.abs(Number(laplaceSumHalfWidth(3, MAX_LAPLACE_TERMS, 0.05)) / (1.959964 * sd) - 1)).toBeLessThan(0.01);
  });

  it('takes well under 10 ms for b = 1e8 and ten terms', () => {
    laplaceSumHalfWidth(1e8, 10, 0.05);
    const runs = 20;
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) laplaceSumHalfWidth(1e8 + i, 10, 0.05);
    expect((performance.now() - t0) / runs).toBeLessThan(10);
  });

  it('refuses a miss outside (0, 1) and a bad scale or number of terms, naming itself', () => {
    for (const miss of [0, 1, -0.1, 1.5, Number.NaN]) expect(() => laplaceSumHalfWidth(1, 1, miss)).toThrow(/^laplaceSumHalfWidth:/);
    expect(() => laplaceSumHalfWidth(0, 1, 0.05)).toThrow(RangeError);
    expect(() => laplaceSumHalfWidth(1, 0, 0.05)).toThrow(RangeError);
    expect(() => laplaceSumHalfWidth(1, MAX_LAPLACE_TERMS + 1, 0.05)).toThrow(RangeError);
  });
});

// ---- Coverage by sampling. ----



describe('coverage by sampling (two terms, b = 8.9, 95%)', () => {
  it('the fraction of 200,000 seeded sums outside ±w is the exact P(|S| > w), just under the miss', () => {
    const b = rational(89n, 10n);
    const terms = 2;
    const miss = 0.05;
    const n = 200_000;
    const w = laplaceSumHalfWidth(8.9, terms, miss);
    // The tail bound this replaces gave ±64 here (see above).
    const wide = 64n;
    // The exact probability outside ±w (and outside the old, wider ±w'): deterministic, from brute force.
    const law = lawOf(8.9, 2);
    const outside = 2 * tailAt(law, Number(w) + 1);
    const outsideWide = 2 * tailAt(law, Number(wide) + 1);
    expect(outside).toBeLessThanOrEqual(miss);
    // Exactness: the least w leaves the miss almost used up (one more unit inwards would exceed it).
    expect(outside).toBeGreaterThan(0.85 * miss);
    expect(2 * tailAt(law, Number(w))).toBeGreaterThan(miss);

    const rnd = seededRandom('cleanroom-laplace-sum-coverage');
    let count = 0;
    let countWide = 0;
    for (let i = 0; i < n; i++) {
      let s = 0n;
      for (let t = 0; t < terms; t++) s += sampleDiscreteLaplace(b, rnd);
      const a = s < 0n ? -s : s;
      if (a > w) count++;
      if (a > wide) countWide++;
    }
    // Each bound fails with probability at most 2.5e-10 for a correct sampler (Chernoff–Hoeffding, above): the four
    // checks together fail with probability at most 1e-9. With n = 200,000 the band is about ±0.003 around 0.048.
    const [lo, hi] = binomialAcceptance(n, outside, 2.5e-10);
    expect(hi - lo).toBeLessThan(0.007);
    expect(count / n).toBeLessThan(hi);
    expect(count / n).toBeGreaterThan(lo);
    expect(count / n).toBeLessThan(miss + (hi - outside));
    // The old interval is ~1.7 times as wide and misses far less often than it says: about 0.006.
    const [loWide, hiWide] = binomialAcceptance(n, outsideWide, 2.5e-10);
    expect(countWide / n).toBeGreaterThan(loWide);
    expect(countWide / n).toBeLessThan(hiWide);
    expect(hiWide).toBeLessThan(lo);
  });
});

describe('properties (fast-check)', () => {
  const scale = fc.double({ min: 0.05, max: 1e9, noNaN: true });
  const terms = fc.integer({ min: 1, max: 64 });
  const miss = fc.double({ min: 1e-12, max: 0.9, noNaN: true });

  it('the tail is in [0, 1], does not grow with q, and P(S >= q) + P(S >= 1 - q) = 1 (symmetry)', () => {
    fc.assert(
      fc.property(scale, terms, fc.integer({ min: -2_000_000, max: 2_000_000 }), fc.integer({ min: 0, max: 1000 }), (b, t, q, step) => {
        const at = laplaceSumTail(b, t, q);
        const later = laplaceSumTail(b, t, q + step);
        expect(at).toBeGreaterThanOrEqual(0);
        expect(at).toBeLessThanOrEqual(1);
        expect(later).toBeLessThanOrEqual(at * (1 + 1e-12));
        expect(Math.abs(at + laplaceSumTail(b, t, 1 - q) - 1)).toBeLessThan(1e-12);
      }),
      { numRuns: 300 },
    );
  });

  it('the half-width does not grow with the miss, nor shrink with the scale or the number of terms', () => {
    fc.assert(
      fc.property(scale, scale, terms, miss, miss, (b1, b2, t, m1, m2) => {
        const [bl, bh] = b1 <= b2 ? [b1, b2] : [b2, b1];
        const [ml, mh] = m1 <= m2 ? [m1, m2] : [m2, m1];
        const base = laplaceSumHalfWidth(bl, t, ml);
        expect(laplaceSumHalfWidth(bl, t, mh)).toBeLessThanOrEqual(base);
        expect(laplaceSumHalfWidth(bh, t, ml)).toBeGreaterThanOrEqual(base);
        expect(laplaceSumHalfWidth(bl, t + 1, ml)).toBeGreaterThanOrEqual(base);
      }),
      { numRuns: 200 },
    );
  });

});
