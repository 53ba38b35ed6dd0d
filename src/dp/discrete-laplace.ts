import { bernoulliExpNeg } from './bernoulli.js';
import type { Rational } from './rational.js';
import type { RandomSource } from './random-source.js';

// Built as literals, not with rational(): the parts are already in lowest terms or need not be, and a gcd per draw
// would cost more than the draw.
const ONE: Rational = { num: 1n, den: 1n };

/**
 * P(x) ∝ exp(-|x| / scale) over all integers x; scale > 0. Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for
 * Differential Privacy" (arXiv:2004.00010), Algorithm 2 with t/s = scale, bigint arithmetic only. Each round succeeds
 * with probability bounded below independently of the scale, so the expected running time is O(1) in the scale.
 */
export function sampleDiscreteLaplace(scale: Rational, rnd: RandomSource): bigint {
  const t = scale?.num;
  const s = scale?.den;
  if (typeof t !== 'bigint' || typeof s !== 'bigint' || t <= 0n || s <= 0n) {
    throw new RangeError('sampleDiscreteLaplace: scale must be a positive rational');
  }
  for (;;) {
    // X = U + t·V is geometric with parameter 1 - exp(-1/t): U is its remainder mod t (accepted with weight
    // exp(-U/t)), V its quotient, geometric with parameter 1 - exp(-1).
    const u = rnd.below(t);
    if (!bernoulliExpNeg({ num: u, den: t }, rnd)) continue;
    let v = 0n;
    while (bernoulliExpNeg(ONE, rnd)) v++;
    // Y = ⌊X/s⌋ is geometric with parameter 1 - exp(-s/t); a random sign, rejecting -0 so 0 is not counted twice.
    const y = (u + t * v) / s;
    const negative = rnd.below(2n) === 1n;
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

// ---- Reports and tests only below this line: floating point, never on a path that samples noise. ----

/** The exact pmf for tests and reports only (floats): (1-p)/(1+p) p^|x|, p = exp(-1/scale). */
export function discreteLaplacePmf(scale: number, x: number): number {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`discreteLaplacePmf: scale must be > 0, got ${scale}`);
  if (!Number.isInteger(x)) throw new RangeError(`discreteLaplacePmf: x must be an integer, got ${x}`);
  // expm1 keeps 1 - p accurate when the scale is large and p is within rounding of 1.
  const oneMinusP = -Math.expm1(-1 / scale);
  return (oneMinusP / (2 - oneMinusP)) * Math.exp(-Math.abs(x) / scale);
}
