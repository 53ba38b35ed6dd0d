import { describe, expect, it } from 'vitest';
import { discreteGaussianPmf } from '../../src/dp/discrete-gaussian.js';
import { laplaceSumHalfWidth } from '../../src/dp/laplace-sum.js';
import { noiseTail } from '../../src/dp/mechanism.js';
import { rational } from '../../src/dp/rational.js';
import { selectedInterval, type NoiseTail } from '../../src/dp/selective-interval.js';
import { convolve, sumOf, type Law } from '../support/exact-laplace-law.js';

/**
 * The interval of a count released because its own noisy value reached the threshold (src/dp/selective-interval.ts),
 * judged against the exact law of the noise: for every true count, among the releases, the interval holds it with
 * probability at least 1 - miss. No sampling: nothing here can fail by chance.
 */

const MISS = 0.05;

/** The exact conditional coverage of the interval for true count c: P(lo(v) <= c <= hi(v) | v >= T). */
function coverage(law: Law, tail: NoiseTail, threshold: number, c: number, miss = MISS): { coverage: number; released: number } {
  let released = 0;
  let covered = 0;
  law.p.forEach((mass, i) => {
    const v = c + law.low + i;
    if (v < threshold || mass === 0) return;
    released += mass;
    const [lo, hi] = selectedInterval(tail, threshold, v, miss);
    if (lo <= c && c <= hi) covered += mass;
  });
  return { coverage: released > 0 ? covered / released : 1, released };
}

function gaussianSum(sigma2: number, terms: number): Law {
  const cut = Math.ceil(Math.sqrt(2 * sigma2 * 80));
  const one: Law = { low: -cut, p: Float64Array.from({ length: 2 * cut + 1 }, (_, i) => discreteGaussianPmf(sigma2, i - cut)) };
  let law = one;
  for (let t = 1; t < terms; t++) law = convolve(law, one);
  return law;
}

describe('selectedInterval: intervals given the release, against the exact law', () => {
  it('holds every true count with probability at least 95% among the releases (Laplace, 2 and 3 holders)', () => {
    for (const [b, terms, threshold] of [[2, 2, 10], [5, 2, 40], [3.3, 3, 25]] as const) {
      const law = sumOf(b, terms);
      const tail = noiseTail({ kind: 'laplace', scale: rational(BigInt(Math.round(b * 10)), 10n) }, terms);
      const w = Number(laplaceSumHalfWidth(b, terms, MISS));
      for (let c = 0; c <= threshold + 6 * w; c++) {
        const r = coverage(law, tail, threshold, c);
        // Below 1e-12 of releases the conditional law is no more than rounding: nothing to judge.
        if (r.released < 1e-12) continue;
        expect(r.coverage, `b=${b} H=${terms} T=${threshold} c=${c}`).toBeGreaterThanOrEqual(1 - MISS - 1e-9);
      }
    }
  });

  it('holds every true count with probability at least 95% among the releases (discrete Gaussian, 2 holders)', () => {
    for (const [sigma2, threshold] of [[9, 12], [40, 30]] as const) {
      const law = gaussianSum(sigma2, 2);
      const tail = noiseTail({ kind: 'gaussian', sigma2: rational(BigInt(sigma2)) }, 2);
      for (let c = 0; c <= threshold + 40; c++) {
        const r = coverage(law, tail, threshold, c);
        if (r.released < 1e-12) continue;
        expect(r.coverage, `σ²=${sigma2} T=${threshold} c=${c}`).toBeGreaterThanOrEqual(1 - MISS - 1e-9);
      }
    }
  });

  it('is v ± w far above the threshold, and reaches down to 0 just above it', () => {
    const b = 2;
    const tail = noiseTail({ kind: 'laplace', scale: rational(2n) }, 2);
    const w = Number(laplaceSumHalfWidth(b, 2, MISS));
    expect(selectedInterval(tail, 10, 500, MISS)).toEqual([500 - w, 500 + w]);
    // A value just at the threshold is as likely from an empty group as from one of a few.
    expect(selectedInterval(tail, 10, 10, MISS)[0]).toBe(0);
  });

  it('covers the group the review found: 25 released at a threshold of 31, where ±4 never held it', () => {
    // A threshold of 31 with a stated half-width of 4: Laplace scale 1 over two holders.
    const tail = noiseTail({ kind: 'laplace', scale: rational(1n) }, 2);
    expect(Number(laplaceSumHalfWidth(1, 2, MISS))).toBe(4);
    const law = sumOf(1, 2);
    const r = coverage(law, tail, 31, 25);
    expect(r.released).toBeGreaterThan(0);
    expect(r.coverage).toBeGreaterThanOrEqual(0.95);
    for (let v = 31; v <= 33; v++) expect(selectedInterval(tail, 31, v, MISS)[0]).toBeLessThanOrEqual(25);
  });

  it('refuses a value under the threshold and a miss outside (0, 1), naming itself', () => {
    const tail = noiseTail({ kind: 'laplace', scale: rational(1n) }, 2);
    expect(() => selectedInterval(tail, 10, 9, MISS)).toThrow(/^selectedInterval:/);
    for (const miss of [0, 1, -1, Number.NaN]) expect(() => selectedInterval(tail, 10, 12, miss)).toThrow(/^selectedInterval:/);
  });
});
