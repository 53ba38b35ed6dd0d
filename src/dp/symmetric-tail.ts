/**
 * What the exact laws of noise sums (laplace-sum.ts, gaussian-sum.ts) share: log-space sums, their input checks, and
 * the search for the least half-width of a symmetric integer law from its upper tail.
 */

/**
 * The relative error a computed tail is allowed (the laws are good to ~1e-12): a half-width compares P·(1 + SAFETY)
 * with the miss, so rounding can only make an interval wider, never narrower.
 */
const SAFETY = 1e-9;

/** log Σ e^(x_i), without overflow. */
export function logSumExp(xs: readonly number[]): number {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - max);
  return max + Math.log(s);
}

/** A symmetric integer law's log P(S >= q) for every integer q, from its values at q >= 1: P(S >= q) = 1 - P(S >= 1 - q). */
export function symmetric(logTail: (q: number) => number): (q: number) => number {
  return (q) => (q >= 1 ? logTail(q) : Math.log(-Math.expm1(logTail(1 - q))));
}

/** Labelled checks of a law's parameter (`name` > 0, finite) and its number of terms (1 to `maxTerms`). */
export function checkLaw(label: string, name: string, value: number, terms: number, maxTerms: number): void {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) throw new RangeError(`${label}: ${name} must be a finite number > 0, got ${value}`);
  if (!Number.isInteger(terms) || terms < 1 || terms > maxTerms) {
    throw new RangeError(`${label}: terms must be an integer in [1, ${maxTerms}], got ${terms}`);
  }
}

/**
 * The least integer w >= 0 with P(|S| > w) <= miss for a symmetric integer S whose log P(S >= q) is `logTail`:
 * P(|S| > w) = 2 P(S >= w + 1). The tail falls with q: double to a w that holds, then bisect.
 */
export function leastHalfWidth(label: string, logTail: (q: number) => number, miss: number): bigint {
  if (typeof miss !== 'number' || !(miss > 0 && miss < 1)) throw new RangeError(`${label}: miss must be in (0, 1), got ${miss}`);
  const target = Math.log(miss);
  const holds = (w: number) => Math.LN2 + logTail(w + 1) + Math.log1p(SAFETY) <= target;
  if (holds(0)) return 0n;
  let hi = 1;
  while (!holds(hi)) {
    hi *= 2;
    if (hi > Number.MAX_SAFE_INTEGER) throw new RangeError(`${label}: the half-width exceeds 2^53 (miss ${miss})`);
  }
  let lo = Math.floor(hi / 2); // fails (or is 0, which failed above)
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (holds(mid)) hi = mid;
    else lo = mid;
  }
  return BigInt(hi);
}
