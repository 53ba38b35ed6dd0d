import { discreteGaussianNormaliser } from './discrete-gaussian.js';
import { checkLaw, leastHalfWidth, logSumExp, symmetric } from './symmetric-tail.js';

/**
 * How far S, the sum of `terms` = H independent discrete Gaussians N_Z(0, σ²), strays: the half-width of the stated
 * interval of a value that carries H holders' Gaussian noise. It sizes intervals and never samples, so floating
 * point is allowed; every path errs on the wide side.
 *
 * Exact where cheap: the pmf cut at |y| <= K, convolved H - 1 times and summed against the one-term tail. The cut
 * drops P(|X| > K) <= 2Φ̄(K/σ) <= e^(-K²/2σ²) per term (Σ_{y>K} e^(-y²/2σ²) <= ∫_K^∞ and Z >= σ√(2π), below), which
 * is added back, H times, with K chosen so that this is 1e-10 of the miss.
 *
 * Bounded where not (σ large): with s² = Hσ², g_s(x) = e^(-x²/2s²)/(s√(2π)) and Z = Σ_y e^(-y²/2σ²) =
 * σ√(2π)(1 + 2Σ_{k>=1} e^(-2π²σ²k²)) (Poisson summation),
 *
 *   P(S = n) = g_s(n) Θ(n) / (1 + 2Σ_k e^(-2π²σ²k²))^H,   Θ(n) = Σ_{k ∈ Z^H/(1,…,1)Z} e^(-2π²σ²|Pk|²) e^(2πi k̄ n),
 *
 * by Poisson summation over the lattice {y ∈ Z^H : Σy = n} (P projects onto Σ = 0, k̄ is the mean of k). So
 * P(S = n) <= (1 + η) g_s(n) with η = Θ(0) - 1, and P(S >= q) <= (1 + η) Σ_{n>=q} g_s(n). Two bounds make that
 * computable:
 *
 * η: Θ(0) = s√(2π) · (1/2π)∫_{-π}^{π} θ(t)^H dt with θ(t) = Σ_k e^(-σ²(t+2πk)²/2) = e^(-σ²t²/2)(1 + r(t)), and for
 * |t| <= π, r(t) <= e^(-2πσ²(π-|t|)) + ε', ε' = Σ_{k>=1} e^(-2π²σ²k²) + Σ_{j>=2} e^(-2π²σ²j(j-1)) <= 2x/(1-x),
 * x = e^(-2π²σ²). Splitting the integral at |t| = π/2 and using (1+r)^H <= e^(Hr):
 *   η <= e^(H(e^(-π²σ²) + ε')) - 1 + s√(π/2) e^(H(1 + ε' - π²σ²/8)),
 * below 1e-15 for σ² >= 4 and any H <= 64.
 *
 * Σ_{n>=q} g_s(n), q >= 1: Euler–Maclaurin to first order, = ∫_q^∞ g_s + g_s(q)/2 - g_s'(q)/12 + R with
 * |R| <= (1/12)∫_q^∞|g_s''|, and ∫_q^∞|g_s''| = -g_s'(q) = q g_s(q)/s² for q >= s (g_s is convex there), else
 * 2g_s(s)/s - q g_s(q)/s². So the sum is at most Φ̄(q/s) + g_s(q)/2 + q g_s(q)/(6s²) for q >= s, and
 * Φ̄(q/s) + g_s(q)/2 + g_s(s)/(6s) below; the remainder is relatively O(q²/s⁴), under 0.4% at q = 2s for s >= 10.
 *
 * Φ̄ is from erfc, by its positive series below 2 and its continued fraction above, good to 1e-13 relative; all
 * computed probabilities are compared with the miss as (1 + 1e-9) times their value, which covers the rounding of
 * both paths (sums of at most a million positive terms: relative error below 1.1e-10), so w is never too narrow.
 */

/** Holders per value are few; the exact path's cost grows as H², and the η bound is checked (tests) up to 64. */
export const MAX_GAUSSIAN_TERMS = 64;

/** The truncated pmf of the exact path loses at most this fraction of the miss (added back as a bound). */
const CUT = 1e-10;
/** Multiply-adds the exact path may spend; above it the Poisson/Euler–Maclaurin bound, tight there, is used. */
const EXACT_BUDGET = 1e6;

function checkSigmaTerms(label: string, sigma2: number, terms: number): void {
  checkLaw(label, 'sigma2', sigma2, terms, MAX_GAUSSIAN_TERMS);
}

/** log erfc(x) for x >= 0, relative error of erfc below 1e-13. */
function logErfc(x: number): number {
  if (x < 2) {
    // erf(x) = (2/√π) e^(-x²) Σ_n 2^n x^(2n+1) / (2n+1)!!: positive terms, no cancellation inside the sum; 1 - erf
    // loses at most a factor 1/erfc(2) = 214 of relative precision.
    let term = x;
    let sum = x;
    for (let n = 1; term > 1e-17 * sum; n++) sum += term *= (2 * x * x) / (2 * n + 1);
    return Math.log1p(-(2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum);
  }
  // erfc(x) = e^(-x²) / (√π D), D = x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...))), by the modified Lentz method.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(f);
}

/** log Φ̄(x) = log P(N(0,1) >= x), x >= 0. */
function logNormalTail(x: number): number {
  return logErfc(x / Math.SQRT2) - Math.LN2;
}

/** The bound on η = Θ(0) - 1 above (possibly Infinity when σ is small, where the exact path is used). */
function etaBound(sigma2: number, terms: number): number {
  const x = Math.exp(-2 * Math.PI * Math.PI * sigma2);
  const epsPrime = (2 * x) / (1 - x);
  const s = Math.sqrt(terms * sigma2);
  const near = Math.expm1(terms * (Math.exp(-Math.PI * Math.PI * sigma2) + epsPrime));
  const far = s * Math.sqrt(Math.PI / 2) * Math.exp(terms * (1 + epsPrime - (Math.PI * Math.PI * sigma2) / 8));
  return near + far;
}

/** q -> an upper bound on log P(S >= q) for integer q >= 1, by the Poisson and Euler–Maclaurin bounds above. */
function logTailBound(sigma2: number, terms: number): (q: number) => number {
  const s2 = terms * sigma2;
  const s = Math.sqrt(s2);
  const logEta = Math.log1p(etaBound(sigma2, terms));
  const logG = (x: number) => (-x * x) / (2 * s2) - Math.log(s * Math.sqrt(2 * Math.PI));
  return (q) => {
    const correction = q >= s ? Math.log(q / (6 * s2)) + logG(q) : logG(s) - Math.log(6 * s);
    return logEta + logSumExp([logNormalTail(q / s), logG(q) - Math.LN2, correction]);
  };
}

/**
 * A rigorous upper bound on P(S >= q), integer q >= 1, for S the sum of `terms` independent N_Z(0, sigma2), by
 * Poisson summation and Euler–Maclaurin (see the head of this file): valid for every σ, within a relative
 * O(q²/(Hσ²)²) + O(H e^(-π²σ²)) of the truth, so tight once σ² is a few units. Exported for tests and reports.
 */
export function gaussianSumTailBound(sigma2: number, terms: number, q: number): number {
  checkSigmaTerms('gaussianSumTailBound', sigma2, terms);
  if (!Number.isSafeInteger(q) || q < 1) throw new RangeError(`gaussianSumTailBound: q must be a safe integer >= 1, got ${q}`);
  return Math.min(1, Math.exp(logTailBound(sigma2, terms)(q)));
}

/**
 * The tail that sizes the smallest probability any caller here compares with: exact conditional intervals
 * (selective-interval.ts) divide tails, so the exact path is cut where its dropped mass is below this.
 */
const SMALLEST_TAIL = 1e-12;

/**
 * q -> log P(S >= q) for every integer q (below 1 through the symmetry of S): exact where the exact path is cheap,
 * else the Poisson-summation bound, which never falls below the tail and exceeds it by a factor below
 * 1 + 3.5/(Hσ²) (test/unit/gaussian-sum.test.ts); `slack` says by how much at most, for callers that divide tails.
 */
export function gaussianSumLogTail(sigma2: number, terms: number): { readonly logTail: (q: number) => number; readonly slack: number } {
  checkSigmaTerms('gaussianSumLogTail', sigma2, terms);
  const cut = cutFor(sigma2, terms, SMALLEST_TAIL);
  return exactCost(terms, cut) <= EXACT_BUDGET
    ? { logTail: symmetric(logTailExact(sigma2, terms, cut)), slack: 0 }
    : { logTail: symmetric(logTailBound(sigma2, terms)), slack: 4 / (terms * sigma2) };
}

/** The cut K of the exact path: H e^(-K²/2σ²) <= CUT · miss. */
function cutFor(sigma2: number, terms: number, miss: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(2 * sigma2 * Math.log(terms / (CUT * miss)))));
}

/**
 * Multiply-adds of the exact path: the one-term table and its tails (2K+1 points each, even for one term: a single
 * holder's noise, SPEC §10.1, has no convolution but still its table), H - 2 convolutions growing to (H-1)(2K+1)
 * points, then ~64 tail evaluations.
 */
function exactCost(terms: number, cut: number): number {
  const width = 2 * cut + 1;
  return 2 * width + (width * width * (terms - 1) * (terms - 2)) / 2 + 64 * (terms - 1) * width;
}

/**
 * q -> an upper bound on log P(S >= q), integer q >= 1, from the pmf cut at |y| <= K: the truncated convolution
 * (at most the truth) plus H e^(-K²/2σ²) for the mass the cut dropped.
 */
function logTailExact(sigma2: number, terms: number, cut: number): (q: number) => number {
  const width = 2 * cut + 1;
  const z = discreteGaussianNormaliser(sigma2);
  const one = Float64Array.from({ length: width }, (_, i) => Math.exp(-((i - cut) ** 2) / (2 * sigma2)) / z);
  // oneTail[i] = P(i - K <= X <= K) under the cut pmf, summed from the small end; oneTail[width] = 0.
  const oneTail = new Float64Array(width + 1);
  for (let i = width - 1; i >= 0; i--) oneTail[i] = oneTail[i + 1]! + one[i]!;
  // law = the truncated pmf of the first H - 1 terms; law[0] is the value -(H-1)K.
  let law = Float64Array.of(1);
  for (let h = 1; h < terms; h++) {
    const next = new Float64Array(law.length + width - 1);
    for (let i = 0; i < law.length; i++) {
      const li = law[i]!;
      for (let j = 0; j < width; j++) next[i + j]! += li * one[j]!;
    }
    law = next;
  }
  const low = -(terms - 1) * cut;
  const logDropped = Math.log(terms) - (cut * cut) / (2 * sigma2);
  return (q) => {
    // P(S >= q) = Σ_x P(S_{H-1} = x) P(X >= q - x); the one-term tail is 0 above K and at most 1 below -K.
    let sum = 0;
    for (let i = 0; i < law.length; i++) {
      const m = q - (low + i) + cut; // index of q - x in oneTail
      if (m >= width) continue;
      sum += law[i]! * oneTail[Math.max(0, m)]!;
    }
    return logSumExp([Math.log(sum), logDropped]);
  };
}

/**
 * The least integer w >= 0 with P(|S| > w) <= miss, S the sum of `terms` independent discrete Gaussians N_Z(0, sigma2):
 * the interval value ± w holds the exact value with probability at least 1 - miss. Exact (the least such w, up to
 * 1e-9 relative in the probability) when the convolution is cheap, else from the Poisson/Euler–Maclaurin bound,
 * never narrower than the truth and within a unit or two of it there (see the head of this file).
 */
export function gaussianSumHalfWidth(sigma2: number, terms: number, miss: number): bigint {
  checkSigmaTerms('gaussianSumHalfWidth', sigma2, terms);
  if (typeof miss !== 'number' || !(miss > 0 && miss < 1)) throw new RangeError(`gaussianSumHalfWidth: miss must be in (0, 1), got ${miss}`);
  const cut = cutFor(sigma2, terms, miss);
  return leastHalfWidth('gaussianSumHalfWidth', exactCost(terms, cut) <= EXACT_BUDGET ? logTailExact(sigma2, terms, cut) : logTailBound(sigma2, terms), miss);
}
