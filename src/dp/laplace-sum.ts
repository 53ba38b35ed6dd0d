/**
 * The exact law of S, the sum of `terms` = H independent discrete Laplace variables of one scale b
 * (P(x) = (1-p)/(1+p) p^|x|, p = e^(-1/b)), in closed form: it sizes the stated error interval of a value that
 * carries H holders' noise, where the Chernoff and union bounds of tail.ts are wide by a factor that grows with the
 * scale. It sizes intervals and is never on a path that samples noise, so floating point is allowed; everything is
 * computed in log space (b up to 1e9 and tails far below the smallest double work) and every sum is of positive
 * terms, so the relative error stays near the rounding of a few hundred operations (below 1e-12).
 *
 * Derivation. E[z^X] = (1-p)^2 z / ((1-pz)(z-p)) for p < |z| < 1/p, so S has G(z) = (1-p)^(2H) z^H / ((1-pz)(z-p))^H,
 * and summing its coefficients from q up on a circle 1 < |z| < 1/p gives P(S >= q) = (1/2πi)∮ G(z) z^-q / (z-1) dz.
 * For q >= 1-H the integrand is O(z^-2) at infinity, so the integral is minus the residue at the one pole outside,
 * z0 = 1/p, of order H. Leibniz over z^(H-q), (z-p)^-H and (z-1)^-1, with z0 - p = (1-p^2)/p and z0 - 1 = (1-p)/p,
 * and a + b + c = H - 1 collapsing the powers of p, gives for q >= H (m = q - H >= 0):
 *
 *   P(S >= q) = p^q (1+p)^-H Σ_{a+b <= H-1} C(m+a-1, a) (1-p)^a · C(H+b-1, b) (1+p)^-b        (all terms >= 0)
 *
 * (H = 1: p^q / (1+p), the known tail; C(m-1, a) with m = 0 is 1 at a = 0 and 0 beyond). Below q = H the residue's
 * terms alternate in sign, so that range is summed from the point masses instead: S = A - B with A, B independent
 * negative binomials NB(H, 1-p) (a discrete Laplace variable is the difference of two geometric ones), so
 * P(S = n) = (1-p)^(2H) p^n C(n+H-1, n) 2F1(H, n+H; n+1; p^2), and Euler's transformation turns the 2F1 into
 * (1-p^2)^(1-2H) times a polynomial of degree H-1-n with positive coefficients for 0 <= n <= H-1:
 *
 *   P(S = n) = (1-p) (1+p)^(1-2H) p^n C(n+H-1, n) Σ_{j=0}^{H-1-n} [(H-1-n)_j↓ (H-1)_j↓ / ((n+1)_j↑ j!)] p^(2j)
 *
 * Then P(S >= q) = P(S >= H) + Σ_{n=q}^{H-1} P(S = n) for 1 <= q < H, and P(S >= q) = 1 - P(S >= 1-q) for q <= 0
 * (S is symmetric). test/unit/laplace-sum.test.ts checks all of it against brute-force convolution.
 */

import { checkLaw, leastHalfWidth, logSumExp, symmetric } from './symmetric-tail.js';

/** Holders per value are few; the point masses below q = H cost O(H^2), so the number of terms is capped. */
export const MAX_LAPLACE_TERMS = 1024;

function checkScaleTerms(label: string, b: number, terms: number): void {
  checkLaw(label, 'scale', b, terms, MAX_LAPLACE_TERMS);
}

/** log p, log(1 - p) and log(1 + p) for p = e^(-1/b), without cancellation when b is large and p is near 1. */
interface Logs {
  readonly p: number;
  readonly oneMinusP: number;
  readonly onePlusP: number;
}

function logsOf(b: number): Logs {
  return { p: -1 / b, oneMinusP: Math.log(-Math.expm1(-1 / b)), onePlusP: Math.log1p(Math.exp(-1 / b)) };
}

/** log P(S >= q) for q >= H, by the residue formula (positive terms only). */
function logTailFromH(l: Logs, h: number, q: number): number {
  const m = q - h;
  // logB[b] = log Σ_{b' <= b} C(H+b'-1, b') (1+p)^-b': the inner sum, cumulated so the double sum costs O(H).
  const bTerms: number[] = [];
  const logB: number[] = [];
  let logTerm = 0;
  for (let j = 0; j < h; j++) {
    if (j > 0) logTerm += Math.log((h + j - 1) / j) - l.onePlusP;
    bTerms.push(logTerm);
    logB.push(logSumExp(bTerms));
  }
  const outer: number[] = [];
  let logA = 0; // log C(m+a-1, a) (1-p)^a
  for (let a = 0; a < h; a++) {
    if (a > 0) {
      if (m === 0) break; // C(a-1, a) = 0 for a >= 1
      logA += Math.log((m + a - 1) / a) + l.oneMinusP;
    }
    outer.push(logA + logB[h - 1 - a]!);
  }
  return q * l.p - h * l.onePlusP + logSumExp(outer);
}

/** log P(S = n) for 0 <= n <= H-1, by the terminating hypergeometric sum (positive terms only). */
function logPointMass(l: Logs, h: number, n: number): number {
  let logBinom = 0; // log C(n+H-1, n)
  for (let i = 1; i <= n; i++) logBinom += Math.log((h - 1 + i) / i);
  const terms: number[] = [];
  let logC = 0;
  for (let j = 0; j <= h - 1 - n; j++) {
    if (j > 0) logC += Math.log(((h - n - j) * (h - j)) / ((n + j) * j)) + 2 * l.p;
    terms.push(logC);
  }
  return l.oneMinusP + (1 - 2 * h) * l.onePlusP + n * l.p + logBinom + logSumExp(terms);
}

/**
 * q -> log P(S >= q) for q >= 1. The suffix sums of the point masses below H are computed once, on first need
 * (O(H^2)), so a search over q costs O(H) per step after that.
 */
function logUpperTail(b: number, h: number): (q: number) => number {
  const l = logsOf(b);
  let suffix: number[] | undefined; // suffix[n] = log P(S >= n) for 1 <= n <= H
  return (q) => {
    if (q >= h) return logTailFromH(l, h, q);
    if (!suffix) {
      suffix = new Array<number>(h + 1);
      suffix[h] = logTailFromH(l, h, h);
      for (let n = h - 1; n >= 1; n--) suffix[n] = logSumExp([suffix[n + 1]!, logPointMass(l, h, n)]);
    }
    return suffix[q]!;
  };
}

/**
 * P(S >= q) for an integer q, S the sum of `terms` independent discrete Laplace variables of scale b: exact up to
 * floating-point rounding (relative error below 1e-12; a probability too small for a double reads as 0).
 */
export function laplaceSumTail(b: number, terms: number, q: number): number {
  checkScaleTerms('laplaceSumTail', b, terms);
  if (!Number.isSafeInteger(q)) throw new RangeError(`laplaceSumTail: q must be a safe integer, got ${q}`);
  return Math.exp(symmetric(logUpperTail(b, terms))(q));
}

/** q -> log P(S >= q) for every integer q (below 1 through the symmetry of S), for callers that need many. */
export function laplaceSumLogTail(b: number, terms: number): (q: number) => number {
  checkScaleTerms('laplaceSumLogTail', b, terms);
  return symmetric(logUpperTail(b, terms));
}

/**
 * The least integer w >= 0 with P(|S| > w) <= miss: the interval value ± w holds the exact value with probability at
 * least 1 - miss. The contract of tail.ts's halfWidth, from the exact law instead of bounds: P(|S| > w) =
 * 2 P(S >= w + 1) is taken as (1 + 1e-9) times its computed value, far more than its rounding error, so w is never
 * too narrow (and is the least such w unless the true probability lies within 1e-9 relative of the miss).
 */
export function laplaceSumHalfWidth(b: number, terms: number, miss: number): bigint {
  checkScaleTerms('laplaceSumHalfWidth', b, terms);
  return leastHalfWidth('laplaceSumHalfWidth', logUpperTail(b, terms), miss);
}
