/** Rigorous acceptance bands for sampling tests: each bound fails for a correct sampler with at most its stated chance. */

/** KL(a || p) between Bernoulli laws. */
export function kl(a: number, p: number): number {
  const part = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(x / y));
  return part(a, p) + part(1 - a, 1 - p);
}

/**
 * [lo, hi] such that a Binomial(n, p) count X has X/n >= hi, and X/n <= lo, each with probability at most alpha: the
 * Chernoff–Hoeffding bound P(X >= na) <= e^(-n KL(a || p)) for a > p, and its mirror. Rigorous for every n, not an
 * approximation.
 */
export function binomialAcceptance(n: number, p: number, alpha: number): [number, number] {
  const need = Math.log(1 / alpha) / n;
  const solve = (inside: number, outside: number) => {
    // KL(· || p) grows from the inside (p) outwards: keep `outside` on the side where it reaches `need`.
    if (kl(outside, p) < need) return outside;
    for (let i = 0; i < 200; i++) {
      const mid = (inside + outside) / 2;
      if (kl(mid, p) >= need) outside = mid;
      else inside = mid;
    }
    return outside;
  };
  return [solve(p, 0), solve(p, 1)];
}
