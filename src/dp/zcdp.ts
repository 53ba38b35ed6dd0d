import { rational, type Rational } from './rational.js';

/**
 * Zero-concentrated differential privacy accounting (Bun & Steinke 2016, "Concentrated Differential Privacy:
 * Simplifications, Extensions, and Lower Bounds", arXiv:1605.02065): ρ-zCDP composes by adding ρ, and converts to
 * (ε, δ)-DP at the end. This module converts in both directions and calibrates the discrete Gaussian.
 *
 * Composing with the Laplace-based pieces: a pure ε-DP mechanism (the discrete Laplace noise of a value) is
 * (ε²/2)-zCDP, and an (ε, δ)-DP mechanism (one whose noise is clamped, spending δ) is δ-approximately (ε²/2)-zCDP
 * (Bun & Steinke, their approximate zCDP). Approximately zCDP pieces compose by adding both their ρ and their δ, and
 * δ_a-approximately ρ-zCDP converts to (epsilonOfRho(ρ, δ'), δ' + δ_a)-DP.
 *
 * Accounting is floating point; every result is rounded towards the safe side: a probability computed here is taken
 * as (1 + 1e-9) times its computed value (its rounding error is below 1e-13), ε is rounded up and ρ down.
 */

const SAFETY = Math.log1p(1e-9);

function checkDelta(label: string, delta: number): void {
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) throw new RangeError(`${label}: delta must be in (0, 1), got ${delta}`);
}

/**
 * log δ(ρ, ε) = log inf_{α>1} exp((α-1)(αρ - ε)) (1 - 1/α)^α / (α - 1), the tight conversion of Canonne, Kamath,
 * Steinke 2020 ("The Discrete Gaussian for Differential Privacy", arXiv:2004.00010), Corollary 13. The exponent is
 * convex in α, with derivative (2α - 1)ρ - ε + log(1 - 1/α), increasing from -∞ at α = 1 to > 0 at
 * α = (ε + 1)/(2ρ) + 2; its root is found by bisection. Any α gives a valid δ, so an α slightly off the root can
 * only make δ larger (safe), never smaller.
 */
function logDeltaOf(rho: number, epsilon: number): number {
  const logDelta = (a: number) => (a - 1) * (a * rho - epsilon) + a * Math.log1p(-1 / a) - Math.log(a - 1);
  let lo = 1;
  let hi = (epsilon + 1) / (2 * rho) + 2;
  for (let i = 0; i < 200; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) break;
    if ((2 * mid - 1) * rho - epsilon + Math.log1p(-1 / mid) < 0) lo = mid;
    else hi = mid;
  }
  // Both ends bracket the root to rounding; the smaller value is the better (still valid) δ. Capped at δ = 1.
  return Math.min(0, logDelta(hi), lo > 1 ? logDelta(lo) : Infinity);
}

/** ε of the simple conversion, ρ + 2√(ρ ln(1/δ)) (Bun & Steinke 2016, Proposition 1.3): a valid ceiling. */
function simpleEpsilon(rho: number, delta: number): number {
  return rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
}

/**
 * The least ε (to the last bit, rounded up) such that ρ-zCDP implies (ε, δ)-DP by the tight CKS conversion; never
 * more than the simple ρ + 2√(ρ ln(1/δ)), which is itself valid and is returned if the search cannot beat it.
 */
export function epsilonOfRho(rho: number, delta: number): number {
  if (typeof rho !== 'number' || !(rho >= 0) || !Number.isFinite(rho)) throw new RangeError(`epsilonOfRho: rho must be a finite number >= 0, got ${rho}`);
  checkDelta('epsilonOfRho', delta);
  if (rho === 0) return 0; // 0-zCDP: the output's law does not depend on the data
  const target = Math.log(delta);
  const holds = (eps: number) => logDeltaOf(rho, eps) + SAFETY <= target;
  let hi = simpleEpsilon(rho, delta);
  if (!holds(hi)) return hi;
  let lo = 0;
  if (holds(lo)) return 0;
  // δ(ε) falls as ε grows (an infimum of functions that fall): bisect to adjacent doubles, keeping hi valid.
  for (;;) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) return hi;
    if (holds(mid)) hi = mid;
    else lo = mid;
  }
}

/** x rounded down to 12 significant digits, so that fromDecimal reads it as a short rational no larger than x. */
function roundDown12(x: number): number {
  const y = Number(x.toPrecision(12));
  if (y <= x) return y;
  const unit = 10 ** (Math.floor(Math.log10(y)) - 11);
  return Number((y - unit).toPrecision(12));
}

/**
 * The largest ρ (rounded down, to 12 significant digits) whose CKS conversion gives (ε, δ)-DP with at most the given
 * ε: the budget a zCDP mechanism may spend for an (ε, δ) target.
 */
export function rhoForEpsilon(epsilon: number, delta: number): number {
  if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) {
    throw new RangeError(`rhoForEpsilon: epsilon must be a finite number >= 0, got ${epsilon}`);
  }
  checkDelta('rhoForEpsilon', delta);
  if (epsilon === 0) return 0;
  const target = Math.log(delta);
  // δ(ρ, ε) grows with ρ for every α, so the valid ρ form an interval [0, ρ*].
  const holds = (rho: number) => logDeltaOf(rho, epsilon) + SAFETY <= target;
  let lo = 0;
  let hi = epsilon;
  while (holds(hi)) [lo, hi] = [hi, 2 * hi];
  for (;;) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) break;
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  return roundDown12(lo);
}

/**
 * σ² = Δ²/(2ρ), exactly: the discrete Gaussian N_Z(0, σ²) added to a query of L2 sensitivity Δ is ρ-zCDP (CKS 2020,
 * Theorem 4). Takes Δ² (an L2 sensitivity may be irrational, its square is not: √r for a count of r groups), and
 * rationals in and out, as the sampler takes σ².
 */
export function gaussianSigma2(l2Squared: Rational, rho: Rational): Rational {
  for (const [label, r] of [['l2Squared', l2Squared], ['rho', rho]] as const) {
    if (typeof r?.num !== 'bigint' || typeof r?.den !== 'bigint' || r.num <= 0n || r.den <= 0n) {
      throw new RangeError(`gaussianSigma2: ${label} must be a positive rational`);
    }
  }
  return rational(l2Squared.num * rho.den, 2n * l2Squared.den * rho.num);
}
