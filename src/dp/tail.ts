/**
 * Tail bounds of the noise: how far the sum of `terms` independent discrete Laplace variables of one scale can
 * stray. They size the release threshold and the stated 95% error of every value, never a sample, so floating
 * point is allowed here; every bound errs on the wide side (an upper bound on a probability, rounded up, plus one).
 *
 * Two valid bounds, the smaller wins: for one variable the exact tail P(X >= q) = p^q / (1 + p) with p = e^(-1/b);
 * for a sum, the Chernoff bound min_s e^(-sq) M(s)^terms with the moment generating function
 * M(s) = (1 - p)^2 / ((1 - p e^s)(1 - p e^-s)), 0 < s < 1/b, and the union bound terms * P(X >= ceil(q / terms)).
 */

/** log P(X >= q) for one discrete Laplace variable of scale b, q >= 1. */
function logTailOne(b: number, q: number): number {
  return -q / b - Math.log1p(Math.exp(-1 / b));
}

/** log of the Chernoff bound on P(S >= q), S the sum of `terms` variables of scale b. */
function logChernoff(b: number, terms: number, q: number): number {
  const logM = (s: number) => 2 * Math.log(-Math.expm1(-1 / b)) - Math.log(-Math.expm1(s - 1 / b)) - Math.log(-Math.expm1(-s - 1 / b));
  const f = (u: number) => -(u / b) * q + terms * logM(u / b);
  // Convex in s: a golden-section search over u = s·b in (0, 1).
  let lo = 1e-12;
  let hi = 1 - 1e-12;
  const g = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 80; i++) {
    const a = hi - g * (hi - lo);
    const c = lo + g * (hi - lo);
    if (f(a) < f(c)) hi = c;
    else lo = a;
  }
  return f((lo + hi) / 2);
}

/** An upper bound on log P(S >= q) for the sum S of `terms` discrete Laplace variables of scale b. */
export function logUpperTail(b: number, terms: number, q: number): number {
  if (q <= 0) return 0;
  const union = Math.log(terms) + logTailOne(b, Math.ceil(q / terms));
  return Math.min(0, union, terms === 1 ? logTailOne(b, q) : logChernoff(b, terms, q));
}

/**
 * The least integer q >= 1 with P(S >= q) <= alpha by the bounds above, plus one to absorb floating-point error in
 * the bound: noise reaches q with probability at most alpha.
 */
export function upperQuantile(b: number, terms: number, alpha: number): bigint {
  if (!(b > 0) || !Number.isInteger(terms) || terms < 1 || !(alpha > 0 && alpha < 1)) {
    throw new RangeError(`upperQuantile: scale > 0, terms >= 1 and 0 < alpha < 1, got ${b}, ${terms}, ${alpha}`);
  }
  const target = Math.log(alpha);
  let hi = 1;
  while (logUpperTail(b, terms, hi) > target) hi *= 2;
  let lo = hi / 2;
  while (hi - lo > Math.max(1, hi * 1e-12)) {
    const mid = (lo + hi) / 2;
    if (logUpperTail(b, terms, mid) > target) lo = mid;
    else hi = mid;
  }
  return BigInt(Math.ceil(hi)) + 1n;
}

/** The least q with P(|S| >= q) <= alpha: |S| < q, i.e. within q - 1, with probability at least 1 - alpha. */
export function halfWidth(b: number, terms: number, alpha: number): bigint {
  return upperQuantile(b, terms, alpha / 2) - 1n;
}
