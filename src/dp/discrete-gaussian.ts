import { bernoulliExpNeg } from './bernoulli.js';
import { sampleDiscreteLaplace } from './discrete-laplace.js';
import type { Rational } from './rational.js';
import type { RandomSource } from './random-source.js';

/** floor(sqrt(n)) for n >= 0, by Newton's iteration on bigints (decreasing from above, so it stops at the floor). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1); // >= sqrt(n)
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/**
 * P(x) ∝ exp(-x^2 / (2 sigma2)) over all integers x; sigma2 > 0. Canonne, Kamath, Steinke 2020, "The Discrete Gaussian
 * for Differential Privacy" (arXiv:2004.00010), Algorithm 3, bigint arithmetic only: propose Y from the discrete
 * Laplace distribution of scale t = floor(σ) + 1 and accept it with probability exp(-(|Y| - σ²/t)² / (2σ²)). With
 * this t a round accepts with probability bounded below independently of σ (CKS's analysis of Algorithm 3), so the
 * expected number of rounds is O(1) in σ.
 */
export function sampleDiscreteGaussian(sigma2: Rational, rnd: RandomSource): bigint {
  const n = sigma2?.num;
  const d = sigma2?.den;
  if (typeof n !== 'bigint' || typeof d !== 'bigint' || n <= 0n || d <= 0n) {
    throw new RangeError('sampleDiscreteGaussian: sigma2 must be a positive rational');
  }
  // floor(σ) = floor(sqrt(n/d)) = isqrt(floor(n/d)): k^2 <= n/d exactly when k^2 <= floor(n/d), for integer k.
  const t = isqrt(n / d) + 1n;
  const scale: Rational = { num: t, den: 1n };
  // With σ² = n/d: (|Y| - σ²/t)² / (2σ²) = (|Y|·d·t - n)² / (2·n·d·t²), an exact rational.
  const den = 2n * n * d * t * t;
  for (;;) {
    const y = sampleDiscreteLaplace(scale, rnd);
    const dev = (y < 0n ? -y : y) * d * t - n;
    if (bernoulliExpNeg({ num: dev * dev, den }, rnd)) return y;
  }
}

// ---- Reports and tests only below this line: floating point, never on a path that samples noise. ----

/**
 * Σ_{y ∈ Z} exp(-y^2 / (2 sigma2)), the normaliser of the discrete Gaussian, for tests and reports only. Directly for
 * sigma2 <= 1 (the terms fall below 1e-17 of the first by |y| = 9); above, by Poisson summation,
 * σ√(2π) Σ_k exp(-2π²σ²k²), whose terms after k = 0 are below e^-19.7 and fall faster.
 */
export function discreteGaussianNormaliser(sigma2: number): number {
  if (typeof sigma2 !== 'number' || !(sigma2 > 0) || !Number.isFinite(sigma2)) {
    throw new RangeError(`discreteGaussianNormaliser: sigma2 must be a finite number > 0, got ${sigma2}`);
  }
  let sum = 1;
  if (sigma2 <= 1) {
    for (let y = 1; ; y++) {
      const term = Math.exp((-y * y) / (2 * sigma2));
      sum += 2 * term;
      if (term < 1e-17) return sum;
    }
  }
  for (let k = 1; ; k++) {
    const term = Math.exp(-2 * Math.PI * Math.PI * sigma2 * k * k);
    sum += 2 * term;
    if (term < 1e-17) return Math.sqrt(2 * Math.PI * sigma2) * sum;
  }
}

/** The exact pmf for tests and reports only (floats): exp(-x^2 / (2 sigma2)) / Σ_y exp(-y^2 / (2 sigma2)). */
export function discreteGaussianPmf(sigma2: number, x: number): number {
  if (typeof sigma2 !== 'number' || !(sigma2 > 0) || !Number.isFinite(sigma2)) {
    throw new RangeError(`discreteGaussianPmf: sigma2 must be a finite number > 0, got ${sigma2}`);
  }
  if (!Number.isInteger(x)) throw new RangeError(`discreteGaussianPmf: x must be an integer, got ${x}`);
  return Math.exp((-x * x) / (2 * sigma2)) / discreteGaussianNormaliser(sigma2);
}
