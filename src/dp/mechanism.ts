import { sampleDiscreteGaussian } from './discrete-gaussian.js';
import { sampleDiscreteLaplace } from './discrete-laplace.js';
import { gaussianSumHalfWidth, gaussianSumLogTail } from './gaussian-sum.js';
import { laplaceSumHalfWidth, laplaceSumLogTail } from './laplace-sum.js';
import type { NoiseTail } from './selective-interval.js';
import type { RandomSource } from './random-source.js';
import { toNumber, type Rational } from './rational.js';

/**
 * The noise one holder adds to one value (SPEC §10.1): discrete Laplace of `scale` (P(x) ∝ e^(-|x|/scale), pure
 * accounting) or discrete Gaussian of parameter `sigma2` (P(x) ∝ e^(-x²/(2·sigma2)), zCDP accounting). Both are sampled
 * exactly from the CSPRNG (Canonne, Kamath, Steinke 2020, Algorithms 2 and 3).
 */
export type Mechanism = { readonly kind: 'laplace'; readonly scale: Rational } | { readonly kind: 'gaussian'; readonly sigma2: Rational };

export function sampleNoise(m: Mechanism, rnd: RandomSource): bigint {
  return m.kind === 'laplace' ? sampleDiscreteLaplace(m.scale, rnd) : sampleDiscreteGaussian(m.sigma2, rnd);
}

/**
 * The least w with P(|S| > w) <= miss, S the sum of `terms` independent draws: from the exact law of the sum
 * (src/dp/laplace-sum.ts, src/dp/gaussian-sum.ts), never narrower than the truth.
 */
export function noiseHalfWidth(m: Mechanism, terms: number, miss: number): bigint {
  return m.kind === 'laplace' ? laplaceSumHalfWidth(toNumber(m.scale), terms, miss) : gaussianSumHalfWidth(toNumber(m.sigma2), terms, miss);
}

/** The least q >= 1 with P(S >= q) <= alpha: S is symmetric, so P(S >= w + 1) = P(|S| > w) / 2. */
export function noiseUpperQuantile(m: Mechanism, terms: number, alpha: number): bigint {
  if (!(alpha > 0 && alpha < 0.5)) throw new RangeError(`noiseUpperQuantile: 0 < alpha < 1/2, got ${alpha}`);
  return noiseHalfWidth(m, terms, 2 * alpha) + 1n;
}

/** The upper tail of the sum of `terms` independent draws, for intervals conditional on a release (selective-interval.ts). */
export function noiseTail(m: Mechanism, terms: number): NoiseTail {
  return m.kind === 'laplace' ? { logTail: laplaceSumLogTail(toNumber(m.scale), terms), slack: 0 } : gaussianSumLogTail(toNumber(m.sigma2), terms);
}
