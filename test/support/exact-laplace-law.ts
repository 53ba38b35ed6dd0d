/**
 * The exact law of a sum of iid discrete Laplace variables, for tests that judge the noise against the mathematics:
 * the pmf (1-p)/(1+p) p^|x|, p = e^(-1/b), written out here rather than imported, so that a wrong pmf in src cannot
 * vouch for itself. Each variable is cut at |x| <= 60b + 2, which drops at most e^-60 of mass per term: nothing next
 * to the smallest tail or δ the tests judge (1e-12). Convolution adds positive terms only, so small tails keep their
 * relative precision.
 */
export interface Law {
  /** The value of p[0]. */
  readonly low: number;
  readonly p: Float64Array;
}

export function discreteLaplace(b: number): Law {
  const cut = Math.ceil(60 * b) + 2;
  const p = Math.exp(-1 / b);
  const c = (1 - p) / (1 + p);
  return { low: -cut, p: Float64Array.from({ length: 2 * cut + 1 }, (_, i) => c * p ** Math.abs(i - cut)) };
}

export function convolve(x: Law, y: Law): Law {
  const out = new Float64Array(x.p.length + y.p.length - 1);
  for (let i = 0; i < x.p.length; i++) {
    const xi = x.p[i]!;
    for (let j = 0; j < y.p.length; j++) out[i + j]! += xi * y.p[j]!;
  }
  return { low: x.low + y.low, p: out };
}

/** The law of the sum of `terms` independent variables of scale b. */
export function sumOf(b: number, terms: number): Law {
  const one = discreteLaplace(b);
  let law = one;
  for (let t = 1; t < terms; t++) law = convolve(law, one);
  return law;
}
