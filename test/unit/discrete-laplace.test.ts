import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bernoulli, bernoulliExpNeg } from '../../src/dp/bernoulli.js';
import { discreteLaplacePmf, sampleDiscreteLaplace } from '../../src/dp/discrete-laplace.js';
import { osRandom, seededRandom, type RandomSource } from '../../src/dp/random-source.js';
import { rational, type Rational } from '../../src/dp/rational.js';

// ---- Chi-square harness (floating point is fine here: it judges samples, it does not make them). ----

function logGamma(x: number): number {
  // Lanczos approximation (Numerical Recipes gammln), relative error < 2e-10 for x > 0.
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const t = x + 5.5;
  let ser = 1.000000000190015;
  for (const cj of c) ser += cj / ++y;
  return -(t - (x + 0.5) * Math.log(t)) + Math.log((2.5066282746310005 * ser) / x);
}

/** Q(a, x), the regularised upper incomplete gamma function (series below a + 1, Lentz continued fraction above). */
function upperGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    while (Math.abs(del) > Math.abs(sum) * 1e-16) sum += del *= x / ++ap;
    return 1 - sum * front;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return front * h;
}

/** The statistic a chi-square with `df` degrees of freedom exceeds with probability alpha (bisection on the tail). */
function chiSquareCritical(df: number, alpha: number): number {
  let lo = 0;
  let hi = df + 100 * Math.sqrt(2 * df) + 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (upperGamma(df / 2, mid / 2) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Significance of every seeded goodness-of-fit test below. */
const ALPHA = 0.001;
/** For osRandom, which is not reproducible: a test that fails once in a million runs does not flake in CI. */
const ALPHA_UNSEEDED = 1e-6;

interface Bin {
  /** Inclusive; the first bin also takes everything below, the last everything above. */
  from: number;
  to: number;
  p: number;
}

/**
 * Contiguous integer bins over [lo, hi], each with expected count >= minExpected (the usual validity rule for the
 * chi-square approximation is >= 5), built greedily from the left; a short last bin is merged into its neighbour.
 */
function binsFor(pmf: (x: number) => number, lo: number, hi: number, n: number, minExpected: number): Bin[] {
  const bins: Bin[] = [];
  let from = lo;
  let p = 0;
  for (let x = lo; x <= hi; x++) {
    p += pmf(x);
    if (p * n >= minExpected) {
      bins.push({ from, to: x, p });
      from = x + 1;
      p = 0;
    }
  }
  const last = bins.at(-1)!;
  last.to = hi;
  last.p += p;
  return bins;
}

function binIndex(bins: readonly Bin[], x: number): number {
  let lo = 0;
  let hi = bins.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > bins[mid]!.to) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Pearson's statistic of `samples` against the bins' probabilities, with its degrees of freedom. */
function chiSquare(samples: readonly number[], bins: readonly Bin[]): { stat: number; df: number } {
  const counts = new Array<number>(bins.length).fill(0);
  for (const x of samples) counts[binIndex(bins, x)]!++;
  let stat = 0;
  bins.forEach((b, i) => {
    const expected = b.p * samples.length;
    stat += (counts[i]! - expected) ** 2 / expected;
  });
  return { stat, df: bins.length - 1 };
}

/** Bins of the discrete Laplace pmf at `scale` out to ±40 scales (beyond which the mass is below e^-40). */
function laplaceFit(samples: readonly number[], scale: number, minExpected = 5): { stat: number; df: number; critical: number } {
  const reach = Math.ceil(40 * scale) + 2;
  const bins = binsFor((x) => discreteLaplacePmf(scale, x), -reach, reach, samples.length, Math.max(minExpected, samples.length / 200));
  const { stat, df } = chiSquare(samples, bins);
  return { stat, df, critical: chiSquareCritical(df, ALPHA) };
}

function draw(scale: Rational, n: number, rnd: RandomSource): number[] {
  return Array.from({ length: n }, () => Number(sampleDiscreteLaplace(scale, rnd)));
}

describe('chi-square harness', () => {
  it('has the critical values of scipy.stats.chi2.isf(0.001, df)', () => {
    const scipy: Array<[number, number]> = [
      [1, 10.827566170662733],
      [9, 27.877164871256575],
      [30, 59.703064304429944],
      [60, 99.60723306984946],
    ];
    for (const [df, want] of scipy) expect(chiSquareCritical(df, ALPHA)).toBeCloseTo(want, 6);
  });
});

const SCALES: Array<[string, Rational, number]> = [
  ['1/2', rational(1n, 2n), 0.5],
  ['1', rational(1n), 1],
  ['3/2', rational(3n, 2n), 1.5],
  ['10', rational(10n), 10],
  ['1000', rational(1000n), 1000],
];
const FIT_SAMPLES = 60_000;

describe('sampleDiscreteLaplace', () => {
  // One fixed seed per scale makes the verdict reproducible. The critical value is chi2.isf(0.001, df) for the bins'
  // df (18.47 at df 4 for scale 1/2 ... 260.61 at df 194 for scale 1000). A correct sampler fails a given seed with
  // probability 0.001, so after a change to the algorithm or the stream a failure here means: look, then try other
  // seeds; a wrong distribution (scale off by 10%) fails with statistics of 500 and more against critical values
  // of 18 to 261.
  const fits = SCALES.map(([label, scale, x]) => ({ label, x, samples: draw(scale, FIT_SAMPLES, seededRandom(`cleanroom-dlap-fit-${label}`)) }));

  it.each(fits)('fits the exact pmf at scale $label (chi-square, p = 0.001)', ({ x, samples }) => {
    const { stat, df, critical } = laplaceFit(samples, x);
    expect(df).toBeGreaterThanOrEqual(2);
    expect(stat).toBeLessThan(critical);
  });

  it.each(fits)('rejects the pmf of scale 1.1 x $label for the same samples', ({ x, samples }) => {
    const { stat, critical } = laplaceFit(samples, x * 1.1);
    expect(stat).toBeGreaterThan(critical);
  });

  it.each([
    ['3/2', rational(3n, 2n), 1.5],
    ['1000', rational(1000n), 1000],
  ] as const)('is symmetric at scale %s: P(X = k) = P(X = -k)', (label, scale, x) => {
    const samples = draw(scale, FIT_SAMPLES, seededRandom(`symmetry-${label}`));
    // Magnitude bins; given the count m in a bin, the positives are Binomial(m, 1/2) under symmetry, so
    // (n+ - n-)^2 / m is chi-square with one degree of freedom per bin.
    const bins = binsFor((k) => 2 * discreteLaplacePmf(x, k), 1, Math.ceil(40 * x) + 2, samples.length, samples.length / 40);
    const plus = new Array<number>(bins.length).fill(0);
    const minus = new Array<number>(bins.length).fill(0);
    for (const s of samples) {
      if (s > 0) plus[binIndex(bins, s)]!++;
      if (s < 0) minus[binIndex(bins, -s)]!++;
    }
    let stat = 0;
    for (let i = 0; i < bins.length; i++) stat += (plus[i]! - minus[i]!) ** 2 / (plus[i]! + minus[i]!);
    expect(stat).toBeLessThan(chiSquareCritical(bins.length, ALPHA));
  });

  it('has the variance 2p/(1-p)^2 and mean |X| 2p/(1-p^2) at scale 1e6 (p = e^-1/scale)', () => {
    // Laplace-like tails: the sample mean of X^2 has relative sd sqrt(5/n) (1.1% here), of |X| 1/sqrt(n) (0.5%);
    // the tolerances, 5% and 2.5%, are about 4.5 and 5 standard deviations.
    const n = 40_000;
    const scale = 1e6;
    const rnd = seededRandom('moments-1e6');
    let sum = 0n;
    let sumAbs = 0n;
    let sumSq = 0n;
    for (let i = 0; i < n; i++) {
      const x = sampleDiscreteLaplace(rational(1_000_000n), rnd);
      sum += x;
      sumAbs += x < 0n ? -x : x;
      sumSq += x * x;
    }
    const q = -Math.expm1(-1 / scale); // 1 - p without cancellation
    const p = 1 - q;
    const variance = (2 * p) / (q * q);
    const meanAbs = (2 * p) / (q * (2 - q));
    expect(Number(sumSq) / n / variance).toBeGreaterThan(0.95);
    expect(Number(sumSq) / n / variance).toBeLessThan(1.05);
    expect(Number(sumAbs) / n / meanAbs).toBeGreaterThan(0.975);
    expect(Number(sumAbs) / n / meanAbs).toBeLessThan(1.025);
    expect(Math.abs(Number(sum) / n)).toBeLessThan(5 * Math.sqrt(variance / n));
  });

  it('takes any positive rational scale, reduced or not, and returns bigints', () => {
    const rnd = seededRandom('shapes');
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (num, den) => {
        const x = sampleDiscreteLaplace({ num, den }, rnd);
        return typeof x === 'bigint';
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a scale that is not a positive rational', () => {
    const rnd = seededRandom('checks');
    for (const bad of [{ num: 0n, den: 1n }, { num: -3n, den: 2n }, { num: 1n, den: 0n }, { num: 1, den: 1 }]) {
      expect(() => sampleDiscreteLaplace(bad as unknown as Rational, rnd)).toThrow(RangeError);
    }
    expect(() => sampleDiscreteLaplace(undefined as unknown as Rational, rnd)).toThrow(/sampleDiscreteLaplace/);
  });
});

describe('discreteLaplacePmf', () => {
  it('sums to 1 and refuses a non-positive scale or a non-integer x', () => {
    let total = 0;
    for (let x = -200; x <= 200; x++) total += discreteLaplacePmf(3, x);
    expect(total).toBeCloseTo(1, 12);
    expect(discreteLaplacePmf(0.5, 0)).toBeCloseTo((1 - Math.exp(-2)) / (1 + Math.exp(-2)), 15);
    expect(() => discreteLaplacePmf(0, 1)).toThrow(RangeError);
    expect(() => discreteLaplacePmf(-1, 1)).toThrow(RangeError);
    expect(() => discreteLaplacePmf(1, 0.5)).toThrow(RangeError);
  });
});

describe('bernoulliExpNeg (CKS Algorithm 1)', () => {
  it('is always true at gamma = 0', () => {
    const rnd = seededRandom('exp-0');
    for (let i = 0; i < 2000; i++) expect(bernoulliExpNeg(rational(0n), rnd)).toBe(true);
  });

  it.each([
    ['1/3', rational(1n, 3n), 1 / 3],
    ['1', rational(1n), 1],
    ['5/2', rational(5n, 2n), 2.5],
    ['7', rational(7n), 7],
  ] as const)('is true with frequency exp(-%s)', (label, gamma, g) => {
    // Within 4.5 binomial standard deviations (two-sided p < 1e-5): a wrong branch misses by far more.
    const n = 200_000;
    const rnd = seededRandom(`exp-${label}`);
    let hits = 0;
    for (let i = 0; i < n; i++) if (bernoulliExpNeg(gamma, rnd)) hits++;
    const p = Math.exp(-g);
    expect(Math.abs(hits - n * p)).toBeLessThan(4.5 * Math.sqrt(n * p * (1 - p)));
  });

  it('refuses gamma < 0 and malformed rationals', () => {
    expect(() => bernoulliExpNeg(rational(-1n, 2n), osRandom)).toThrow(RangeError);
    expect(() => bernoulliExpNeg({ num: 1n, den: 0n }, osRandom)).toThrow(/bernoulliExpNeg/);
  });
});

describe('bernoulli', () => {
  it('is never true at p = 0 and always true at p = 1', () => {
    for (let i = 0; i < 2000; i++) {
      expect(bernoulli(rational(0n), osRandom)).toBe(false);
      expect(bernoulli(rational(1n), osRandom)).toBe(true);
      expect(bernoulli({ num: 7n, den: 7n }, osRandom)).toBe(true);
    }
  });

  it('is true with frequency 1/3 at p = 1/3', () => {
    const n = 60_000;
    const rnd = seededRandom('bernoulli-1/3');
    let hits = 0;
    for (let i = 0; i < n; i++) if (bernoulli(rational(1n, 3n), rnd)) hits++;
    expect(Math.abs(hits - n / 3)).toBeLessThan(4.5 * Math.sqrt((n * 2) / 9));
  });

  it('refuses p outside [0, 1]', () => {
    expect(() => bernoulli(rational(4n, 3n), osRandom)).toThrow(RangeError);
    expect(() => bernoulli(rational(-1n, 3n), osRandom)).toThrow(RangeError);
    expect(() => bernoulli({ num: 1n, den: -2n }, osRandom)).toThrow(/bernoulli/);
  });
});

describe('RandomSource.below', () => {
  // 3·2^70/7 needs 9 bytes, and 2^72 is 9.33 times it: reducing 9 bytes mod n without rejection would make the lowest
  // third of [0, n) 10/9 times as likely as the rest, which deciles show at once.
  const odd = (3n * 2n ** 70n) / 7n;

  function deciles(values: Iterable<bigint>, n: bigint): number[] {
    const counts = new Array<number>(10).fill(0);
    for (const v of values) counts[Number((v * 10n) / n)]!++;
    return counts;
  }

  function uniformStat(counts: readonly number[], probs: readonly number[]): number {
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.reduce((s, c, i) => s + (c - total * probs[i]!) ** 2 / (total * probs[i]!), 0);
  }

  /** The exact probability of each decile of [0, n): its share of the integers. */
  function decileProbs(n: bigint): number[] {
    return Array.from({ length: 10 }, (_, i) => {
      const first = (BigInt(i) * n + 9n) / 10n;
      const next = (BigInt(i + 1) * n + 9n) / 10n;
      return Number(next - first) / Number(n);
    });
  }

  it('osRandom.below(10n) is uniform (chi-square, df 9, p = 1e-6)', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[Number(osRandom.below(10n))]!++;
    expect(uniformStat(counts, new Array(10).fill(0.1))).toBeLessThan(chiSquareCritical(9, ALPHA_UNSEEDED));
  });

  it('osRandom.below(3·2^70/7) is uniform over deciles (chi-square, df 9, p = 1e-6)', () => {
    const values = Array.from({ length: 100_000 }, () => osRandom.below(odd));
    expect(uniformStat(deciles(values, odd), decileProbs(odd))).toBeLessThan(chiSquareCritical(9, ALPHA_UNSEEDED));
  });

  it('the same check rejects 9 seeded bytes reduced mod 3·2^70/7 without rejection (modulo bias)', () => {
    const bytes = seededRandom('naive');
    const naive = Array.from({ length: 100_000 }, () => {
      let r = 0n;
      for (let i = 0; i < 9; i++) r = (r << 8n) | bytes.below(256n);
      return r % odd;
    });
    expect(uniformStat(deciles(naive, odd), decileProbs(odd))).toBeGreaterThan(chiSquareCritical(9, ALPHA_UNSEEDED));
    const fair = Array.from({ length: 100_000 }, () => bytes.below(odd));
    expect(uniformStat(deciles(fair, odd), decileProbs(odd))).toBeLessThan(chiSquareCritical(9, ALPHA));
  });

  it('stays in [0, n) for any n, and below(1n) is 0', () => {
    const rnd = seededRandom('range');
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 200n }), (n) => {
        const a = rnd.below(n);
        const b = osRandom.below(n);
        return a >= 0n && a < n && b >= 0n && b < n;
      }),
      { numRuns: 500 },
    );
    expect(osRandom.below(1n)).toBe(0n);
  });

  it('refuses a bound below 1n or not a bigint', () => {
    for (const rnd of [osRandom, seededRandom('checks')]) {
      expect(() => rnd.below(0n)).toThrow(RangeError);
      expect(() => rnd.below(-5n)).toThrow(RangeError);
      expect(() => rnd.below(10 as unknown as bigint)).toThrow(/below/);
    }
  });
});

describe('no floating point on the sampling path', () => {
  const source = (file: string) => readFileSync(new URL(`../../src/dp/${file}`, import.meta.url), 'utf8');
  const MARKER = '// ---- Reports and tests only below this line';
  // Math.random is not a CSPRNG; Math.exp/log/floor and Number() put a double between the bits and the noise.
  const FORBIDDEN = /Math\.|Number\(|parseFloat/;

  it('random-source.ts and bernoulli.ts use no Math.* and no Number()', () => {
    expect(source('random-source.ts')).not.toMatch(FORBIDDEN);
    expect(source('bernoulli.ts')).not.toMatch(FORBIDDEN);
  });

  it('discrete-laplace.ts keeps its floats below the marker, after the sampler', () => {
    const text = source('discrete-laplace.ts');
    const cut = text.indexOf(MARKER);
    expect(cut).toBeGreaterThan(0);
    const sampling = text.slice(0, cut);
    const reports = text.slice(cut);
    expect(sampling).toContain('export function sampleDiscreteLaplace');
    expect(sampling).not.toMatch(FORBIDDEN);
    // The scan sees what it is looking for: the pmf helper below the marker does use Math.exp.
    expect(reports).toContain('export function discreteLaplacePmf');
    expect(reports).toMatch(FORBIDDEN);
  });
});
