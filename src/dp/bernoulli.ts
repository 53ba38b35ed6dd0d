import type { Rational } from './rational.js';
import type { RandomSource } from './random-source.js';

/*
 * Exact Bernoulli trials with bigint arithmetic only: floating-point noise leaks through the gaps and rounding of
 * doubles (Mironov 2012, "On significance of the least significant bits for differential privacy"), so no double
 * is ever computed here.
 */

function assertFraction(num: bigint, den: bigint, label: string): void {
  if (typeof num !== 'bigint' || typeof den !== 'bigint' || den <= 0n) {
    throw new RangeError(`${label}: expected a rational with bigint parts and a positive denominator`);
  }
}

/** true with probability num/den, for 0 <= num <= den. */
function bernoulliFraction(num: bigint, den: bigint, rnd: RandomSource): boolean {
  return rnd.below(den) < num;
}

/** CKS 2020 Algorithm 1, first branch: exp(-num/den) for num/den in [0, 1], by counting a run of Bernoulli(γ/K). */
function expNegAtMostOne(num: bigint, den: bigint, rnd: RandomSource): boolean {
  let k = 1n;
  while (bernoulliFraction(num, den * k, rnd)) k++;
  return k % 2n === 1n;
}

/** CKS 2020 Algorithm 1 on γ = num/den >= 0, both branches. */
function expNeg(num: bigint, den: bigint, rnd: RandomSource): boolean {
  if (num <= den) return expNegAtMostOne(num, den, rnd);
  // exp(-γ) = exp(-1)^⌊γ⌋ · exp(-(γ - ⌊γ⌋)): stop at the first failed factor, so the expected cost is O(1) in γ.
  const whole = num / den;
  for (let i = 0n; i < whole; i++) {
    if (!expNegAtMostOne(1n, 1n, rnd)) return false;
  }
  return expNegAtMostOne(num - whole * den, den, rnd);
}

/** true with probability p, p in [0, 1]. */
export function bernoulli(p: Rational, rnd: RandomSource): boolean {
  assertFraction(p?.num, p?.den, 'bernoulli');
  if (p.num < 0n || p.num > p.den) throw new RangeError(`bernoulli: p must be in [0, 1], got ${p.num}/${p.den}`);
  return bernoulliFraction(p.num, p.den, rnd);
}

/**
 * true with probability exp(-gamma), gamma >= 0: Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for
 * Differential Privacy" (arXiv:2004.00010), Algorithm 1, including its loop over ⌊gamma⌋ for gamma > 1.
 */
export function bernoulliExpNeg(gamma: Rational, rnd: RandomSource): boolean {
  assertFraction(gamma?.num, gamma?.den, 'bernoulliExpNeg');
  if (gamma.num < 0n) throw new RangeError(`bernoulliExpNeg: gamma must be >= 0, got ${gamma.num}/${gamma.den}`);
  return expNeg(gamma.num, gamma.den, rnd);
}
