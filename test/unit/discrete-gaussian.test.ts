import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { discreteGaussianNormaliser, discreteGaussianPmf, sampleDiscreteGaussian } from '../../src/dp/discrete-gaussian.js';
import { seededRandom } from '../../src/dp/random-source.js';
import { rational, type Rational } from '../../src/dp/rational.js';
import { binomialAcceptance } from '../support/binomial-bands.js';
import { logSumExp } from '../../src/dp/symmetric-tail.js';

/**
 * The sampler judged against the mathematics: the pmf exp(-x²/2σ²)/Σ_y exp(-y²/2σ²), written out here (summed over
 * |y| <= 40σ + 2, which leaves out less than e^-800) rather than imported, so a wrong pmf in src cannot vouch for
 * itself. Every check below is a rigorous tail bound (Chernoff, Dvoretzky–Kiefer–Wolfowitz–Massart), not an
 * asymptotic approximation, so the false-failure probabilities stated are true for every sample size. The sources
 * are seeded, so a run is reproducible; the probabilities are over the choice of seed.
 */
interface Pmf {
  readonly low: number;
  readonly p: Float64Array;
}

function exactPmf(sigma2: number): Pmf {
  const cut = Math.ceil(40 * Math.sqrt(sigma2)) + 2;
  const w = Float64Array.from({ length: 2 * cut + 1 }, (_, i) => Math.exp(-((i - cut) ** 2) / (2 * sigma2)));
  const z = w.reduce((a, b) => a + b, 0);
  return { low: -cut, p: w.map((x) => x / z) };
}




/**
 * [lo, hi] such that the mean of n independent copies of f(X), X from `pmf`, is >= hi, and <= lo, each with
 * probability at most alpha: the Chernoff bound e^(-n sup_λ (λa - log E e^(λ f(X)))) with the moment generating
 * function summed from the pmf. λ is searched over |λ| <= lambdaMax only, which can only weaken the bound (so keeps
 * it valid) and keeps e^(λ f) from reaching the cut-off tails of the pmf.
 */
function chernoffAcceptance(pmf: Pmf, f: (x: number) => number, n: number, alpha: number, lambdaMax: number): [number, number] {
  const logP = Array.from(pmf.p, (p) => Math.log(p));
  const fx = Array.from(pmf.p, (_, i) => f(pmf.low + i));
  const logMgf = (l: number) => logSumExp(logP.map((lp, i) => lp + l * fx[i]!));
  const mean = pmf.p.reduce((s, p, i) => s + p * fx[i]!, 0);
  /** sup over λ between 0 and `end` of λa - log M(λ): concave in λ, so a golden-section search finds it. */
  const rate = (a: number, end: number) => {
    const g = (l: number) => l * a - logMgf(l);
    let [lo, hi] = end > 0 ? [0, end] : [end, 0];
    const k = (Math.sqrt(5) - 1) / 2;
    for (let i = 0; i < 60; i++) {
      const x1 = hi - k * (hi - lo);
      const x2 = lo + k * (hi - lo);
      if (g(x1) < g(x2)) lo = x1;
      else hi = x2;
    }
    return g((lo + hi) / 2);
  };
  const need = Math.log(1 / alpha) / n;
  const solve = (end: number, far: number) => {
    let inside = mean;
    let outside = far;
    for (let i = 0; i < 60; i++) {
      const mid = (inside + outside) / 2;
      if (rate(mid, end) >= need) outside = mid;
      else inside = mid;
    }
    return outside;
  };
  const spread = Math.sqrt(pmf.p.reduce((s, p, i) => s + p * (fx[i]! - mean) ** 2, 0));
  return [solve(-lambdaMax, mean - 100 * spread), solve(lambdaMax, mean + 100 * spread)];
}

/** Contiguous bins of the pmf, each of probability >= minP (the last one merged into its neighbour if short). */
function bins(pmf: Pmf, minP: number): Array<{ from: number; to: number; p: number }> {
  const out: Array<{ from: number; to: number; p: number }> = [];
  let from = pmf.low;
  let p = 0;
  pmf.p.forEach((q, i) => {
    p += q;
    if (p >= minP) {
      out.push({ from, to: pmf.low + i, p });
      from = pmf.low + i + 1;
      p = 0;
    }
  });
  out.at(-1)!.to = pmf.low + pmf.p.length - 1;
  out.at(-1)!.p += p;
  return out;
}

const CASES: Array<{ label: string; sigma2: Rational; x: number }> = [
  { label: '1/2', sigma2: rational(1n, 2n), x: 0.5 },
  { label: '2', sigma2: rational(2n), x: 2 },
  { label: '30', sigma2: rational(30n), x: 30 },
  { label: '1000', sigma2: rational(1000n), x: 1000 },
];
const N = 200_000;
/**
 * The false-failure budget of one run, 1e-9, split evenly over the four σ² (2.5e-10 each), and within each between
 * the cell counts (1e-10, union over cells and both sides), the CDF (5e-11), the mean (5e-11) and the second
 * moment (5e-11).
 */
const PER_SIGMA = 2.5e-10;

const fits = CASES.map(({ label, sigma2, x }) => {
  const rnd = seededRandom(`cleanroom-dgauss-fit-${label}`);
  return { label, x, samples: Int32Array.from({ length: N }, () => Number(sampleDiscreteGaussian(sigma2, rnd))) };
});

/** Every cell count within its Chernoff band; returns the cells outside it (empty when the fit holds). */
function cellMisfits(samples: Int32Array, pmf: Pmf, alphaTotal: number): string[] {
  const cells = bins(pmf, 0.01);
  const counts = new Array<number>(cells.length).fill(0);
  for (const s of samples) {
    let i = 0;
    while (i < cells.length - 1 && s > cells[i]!.to) i++;
    counts[i]!++;
  }
  const alpha = alphaTotal / (2 * cells.length);
  const bad: string[] = [];
  cells.forEach((c, i) => {
    const [lo, hi] = binomialAcceptance(samples.length, c.p, alpha);
    const f = counts[i]! / samples.length;
    if (!(f > lo && f < hi)) bad.push(`[${c.from}, ${c.to}]: ${f} not in (${lo}, ${hi})`);
  });
  return bad;
}

/** sup_x |F_n(x) - F(x)| over the integers, and the DKW–Massart threshold: P(sup > t) <= 2e^(-2nt²) = alpha. */
function cdfDistance(samples: Int32Array, pmf: Pmf, alpha: number): { distance: number; threshold: number } {
  const counts = new Float64Array(pmf.p.length);
  for (const s of samples) counts[s - pmf.low]!++;
  let f = 0;
  let fn = 0;
  let distance = 0;
  for (let i = 0; i < pmf.p.length; i++) {
    f += pmf.p[i]!;
    fn += counts[i]! / samples.length;
    distance = Math.max(distance, Math.abs(fn - f));
  }
  return { distance, threshold: Math.sqrt(Math.log(2 / alpha) / (2 * samples.length)) };
}

describe('sampleDiscreteGaussian (CKS 2020 Algorithm 3) against the exact pmf', () => {
  it.each(fits)('σ² = $label: every cell count of 200,000 draws is within its exact-binomial Chernoff band', ({ x, samples }) => {
    // Cells of probability >= 0.01 (1 to 100 of them); false failure <= 1e-10 by the union bound.
    expect(cellMisfits(samples, exactPmf(x), 0.4 * PER_SIGMA)).toEqual([]);
  });

  it.each(fits)('σ² = $label: the empirical CDF is within the DKW–Massart band of the exact CDF', ({ x, samples }) => {
    // Discrete laws only make sup |F_n - F| smaller than the continuous case the inequality is proved for.
    const { distance, threshold } = cdfDistance(samples, exactPmf(x), 0.2 * PER_SIGMA);
    expect(distance).toBeLessThan(threshold);
  });

  it.each(fits)('σ² = $label: the mean is 0 and the mean square is the exact E X² (Chernoff bands)', ({ x, samples }) => {
    const pmf = exactPmf(x);
    let sum = 0;
    let sumSq = 0;
    for (const s of samples) {
      sum += s;
      sumSq += s * s;
    }
    const sigma = Math.sqrt(x);
    const [meanLo, meanHi] = chernoffAcceptance(pmf, (v) => v, N, 0.1 * PER_SIGMA, 1 / sigma);
    const [sqLo, sqHi] = chernoffAcceptance(pmf, (v) => v * v, N, 0.1 * PER_SIGMA, 1 / (4 * x));
    expect(sum / N).toBeGreaterThan(meanLo);
    expect(sum / N).toBeLessThan(meanHi);
    expect(sumSq / N).toBeGreaterThan(sqLo);
    expect(sumSq / N).toBeLessThan(sqHi);
    // The bands are narrow: within 3% of E X² (which is itself within 1e-6 of σ² once σ² >= 2, by Poisson summation).
    const second = pmf.p.reduce((s, p, i) => s + p * (pmf.low + i) ** 2, 0);
    expect(sqHi / second).toBeLessThan(1.03);
    expect(sqLo / second).toBeGreaterThan(0.97);
    if (x >= 2) expect(Math.abs(second / x - 1)).toBeLessThan(1e-6);
  });

  // Power: the same checks, on the same samples, refuse σ² ten per cent too large. Deterministic (seeded samples).
  it.each(fits)('σ² = $label: the same samples fail the checks against 1.1 σ²', ({ x, samples }) => {
    const wrong = exactPmf(1.1 * x);
    // Measured: 3 to 5 cells out of band, and CDF distances 0.0115 to 0.0138 against a threshold of 0.0078.
    const { distance, threshold } = cdfDistance(samples, wrong, 0.2 * PER_SIGMA);
    expect(distance).toBeGreaterThan(threshold);
    expect(cellMisfits(samples, wrong, 0.4 * PER_SIGMA).length).toBeGreaterThan(0);
  });

  it('is symmetric and takes unreduced rationals and huge σ², returning bigints', () => {
    const rnd = seededRandom('dgauss-shapes');
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 30n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (num, den) => {
        const x = sampleDiscreteGaussian({ num, den }, rnd);
        return typeof x === 'bigint';
      }),
      { numRuns: 300 },
    );
    // σ² = 10^30 (σ = 10^15): each of 2,000 draws exceeds 8σ with probability 1.2e-15 (2.4e-12 for all, by the union
    // bound), and their mean square leaves [σ²/1.3, 1.3σ²] with probability below 1e-13 (Chernoff for a chi-square with
    // 2,000 degrees of freedom, e^(-1000 (x - 1 - ln x)); at this σ the law is the continuous one to within e^(-10^31)).
    const big = rational(10n ** 30n);
    let sq = 0;
    for (let i = 0; i < 2000; i++) {
      const v = sampleDiscreteGaussian(big, rnd);
      expect(v < 8n * 10n ** 15n && v > -8n * 10n ** 15n).toBe(true);
      sq += (Number(v) / 1e15) ** 2;
    }
    expect(sq / 2000).toBeGreaterThan(1 / 1.3);
    expect(sq / 2000).toBeLessThan(1.3);
  });

  it('refuses a sigma2 that is not a positive rational, naming itself', () => {
    const rnd = seededRandom('checks');
    for (const bad of [{ num: 0n, den: 1n }, { num: -3n, den: 2n }, { num: 1n, den: 0n }, { num: 1, den: 1 }, null, undefined]) {
      expect(() => sampleDiscreteGaussian(bad as unknown as Rational, rnd)).toThrow(RangeError);
      expect(() => sampleDiscreteGaussian(bad as unknown as Rational, rnd)).toThrow(/^sampleDiscreteGaussian:/);
    }
  });
});

describe('discreteGaussianPmf and discreteGaussianNormaliser (reports and tests only)', () => {
  it('match the direct sum to 1e-13, on both sides of the switch to Poisson summation at σ² = 1', () => {
    for (const x of [0.01, 0.3, 0.5, 1, 1.0001, 2, 7.5, 30, 1000, 123456]) {
      const pmf = exactPmf(x);
      for (const v of [0, 1, 2, 5, Math.round(Math.sqrt(x)), Math.round(3 * Math.sqrt(x))]) {
        const want = pmf.p[v - pmf.low]!;
        if (want < 1e-300) continue;
        expect(Math.abs(discreteGaussianPmf(x, v) / want - 1), `σ²=${x} x=${v}`).toBeLessThan(1e-13);
        expect(discreteGaussianPmf(x, -v)).toBe(discreteGaussianPmf(x, v));
      }
    }
    // σ² = 1/2: Σ_y e^(-y²) = θ₃(0, e^-1) = 1.7726372048266521 (mpmath jtheta(3, 0, exp(-1))).
    expect(discreteGaussianNormaliser(0.5)).toBeCloseTo(1.7726372048266521, 14);
  });

  it('refuses a non-positive σ² or a non-integer x', () => {
    expect(() => discreteGaussianPmf(0, 1)).toThrow(RangeError);
    expect(() => discreteGaussianPmf(-1, 1)).toThrow(RangeError);
    expect(() => discreteGaussianPmf(Number.POSITIVE_INFINITY, 1)).toThrow(RangeError);
    expect(() => discreteGaussianPmf(1, 0.5)).toThrow(RangeError);
    expect(() => discreteGaussianNormaliser(0)).toThrow(/^discreteGaussianNormaliser:/);
  });
});

describe('no floating point on the sampling path', () => {
  const MARKER = '// ---- Reports and tests only below this line';
  const FORBIDDEN = /Math\.|Number\(|parseFloat/;

  it('discrete-gaussian.ts keeps its floats below the marker, after the sampler', () => {
    const text = readFileSync(new URL('../../src/dp/discrete-gaussian.ts', import.meta.url), 'utf8');
    const cut = text.indexOf(MARKER);
    expect(cut).toBeGreaterThan(0);
    const sampling = text.slice(0, cut);
    expect(sampling).toContain('export function sampleDiscreteGaussian');
    expect(sampling).not.toMatch(FORBIDDEN);
    expect(text.slice(cut)).toMatch(FORBIDDEN);
  });
});
