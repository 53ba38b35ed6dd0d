import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromDecimal, rational, type Rational } from '../../src/dp/rational.js';
import { epsilonOfRho, gaussianSigma2, rhoForEpsilon } from '../../src/dp/zcdp.js';

const simple = (rho: number, delta: number) => rho + 2 * Math.sqrt(rho * Math.log(1 / delta));

/**
 * Reference values of the CKS 2020 Corollary 13 conversion, computed independently with mpmath at 50 digits: δ(ε) by
 * bisection on α for the root of (2α-1)ρ - ε + log(1-1/α), then 400 bisection steps on ε (resp. ρ). They are the
 * exact least ε (largest ρ) to the digits shown, so a valid answer is never below (above) them.
 */
const EPSILONS: Array<[rho: number, delta: number, epsilon: number]> = [
  [1e-4, 1e-6, 0.05372712063485987],
  [0.01, 1e-5, 0.5457255482740024],
  [0.1, 1e-6, 2.1419389283854737],
  [0.5, 1e-6, 5.2215344445301691],
  [1, 1e-9, 9.5214636717922322],
  [5, 1e-3, 15.458183166005558],
  [100, 1e-6, 172.17755147589941],
];
const RHOS: Array<[epsilon: number, delta: number, rho: number]> = [
  [0.1, 1e-6, 0.00032104769034574013],
  [1, 1e-6, 0.024355970359538373],
  [1, 1e-9, 0.014973057673588526],
  [3, 1e-5, 0.22424916824634534],
  [10, 1e-10, 0.99389139889954048],
];

describe('epsilonOfRho (CKS 2020 Corollary 13)', () => {
  it.each(EPSILONS)('ρ = %s, δ = %s: ε = %s, rounded up by at most 1e-8 relative', (rho, delta, want) => {
    const got = epsilonOfRho(rho, delta);
    expect(got).toBeGreaterThanOrEqual(want);
    expect(got / want - 1).toBeLessThan(1e-8);
  });

  it('beats the simple ρ + 2√(ρ ln(1/δ)) of Bun–Steinke by 9% at ρ = 0.5, δ = 1e-6 (5.22 against 5.76)', () => {
    expect(simple(0.5, 1e-6)).toBeCloseTo(5.7565, 4);
    expect(epsilonOfRho(0.5, 1e-6) / simple(0.5, 1e-6)).toBeLessThan(0.91);
  });

  it('is 0 at ρ = 0, and 0 when δ is so large that ε = 0 already holds', () => {
    expect(epsilonOfRho(0, 1e-9)).toBe(0);
    // ρ = 0.1, δ = 1/2: already at ε = 0 the conversion gives δ <= e^(0.2)/4 = 0.31 (take α = 2).
    expect(epsilonOfRho(0.1, 0.5)).toBe(0);
  });

  it('refuses ρ < 0, a non-finite ρ and δ outside (0, 1), naming itself', () => {
    for (const [rho, delta] of [[-1, 1e-6], [Number.NaN, 1e-6], [Number.POSITIVE_INFINITY, 1e-6], [1, 0], [1, 1], [1, -1], [1, Number.NaN]]) {
      expect(() => epsilonOfRho(rho!, delta!), `${rho}, ${delta}`).toThrow(/^epsilonOfRho:/);
      expect(() => epsilonOfRho(rho!, delta!)).toThrow(RangeError);
    }
  });
});

describe('rhoForEpsilon', () => {
  it.each(RHOS)('ε = %s, δ = %s: ρ = %s, rounded down by at most 1e-8 relative', (epsilon, delta, want) => {
    const got = rhoForEpsilon(epsilon, delta);
    expect(got).toBeLessThanOrEqual(want);
    expect(1 - got / want).toBeLessThan(1e-8);
  });

  it('returns a number whose shortest decimal has at most 12 significant digits, for fromDecimal', () => {
    for (const [epsilon, delta] of RHOS) {
      const rho = rhoForEpsilon(epsilon, delta);
      expect(String(rho).replace(/^0\.0*|\.|e.*$/g, '').length).toBeLessThanOrEqual(12);
      const exact = fromDecimal(rho);
      expect(Number(exact.num) / Number(exact.den)).toBe(rho);
    }
  });

  it('is 0 at ε = 0 and refuses ε < 0 or δ outside (0, 1), naming itself', () => {
    expect(rhoForEpsilon(0, 1e-6)).toBe(0);
    for (const [epsilon, delta] of [[-1, 1e-6], [Number.NaN, 1e-6], [Number.POSITIVE_INFINITY, 1e-6], [1, 0], [1, 1]]) {
      expect(() => rhoForEpsilon(epsilon!, delta!), `${epsilon}, ${delta}`).toThrow(/^rhoForEpsilon:/);
    }
  });
});

describe('properties (fast-check)', () => {
  const rho = fc.double({ min: 1e-8, max: 1e3, noNaN: true });
  const epsilon = fc.double({ min: 1e-4, max: 50, noNaN: true });
  const delta = fc.double({ min: 1e-15, max: 0.5, noNaN: true });

  it('epsilonOfRho never exceeds the simple conversion ρ + 2√(ρ ln(1/δ))', () => {
    fc.assert(
      fc.property(rho, delta, (r, d) => {
        expect(epsilonOfRho(r, d)).toBeLessThanOrEqual(simple(r, d));
      }),
    );
  });

  it('epsilonOfRho grows with ρ and falls as δ grows', () => {
    fc.assert(
      fc.property(rho, rho, delta, delta, (r1, r2, d1, d2) => {
        const [rl, rh] = r1 <= r2 ? [r1, r2] : [r2, r1];
        const [dl, dh] = d1 <= d2 ? [d1, d2] : [d2, d1];
        expect(epsilonOfRho(rh, dl)).toBeGreaterThanOrEqual(epsilonOfRho(rl, dl));
        expect(epsilonOfRho(rl, dh)).toBeLessThanOrEqual(epsilonOfRho(rl, dl));
      }),
    );
  });

  it('rhoForEpsilon grows with ε and with δ', () => {
    fc.assert(
      fc.property(epsilon, epsilon, delta, delta, (e1, e2, d1, d2) => {
        const [el, eh] = e1 <= e2 ? [e1, e2] : [e2, e1];
        const [dl, dh] = d1 <= d2 ? [d1, d2] : [d2, d1];
        expect(rhoForEpsilon(eh, dl)).toBeGreaterThanOrEqual(rhoForEpsilon(el, dl));
        expect(rhoForEpsilon(el, dh)).toBeGreaterThanOrEqual(rhoForEpsilon(el, dl));
      }),
      { numRuns: 50 },
    );
  });

  it('round trips: ε of the ρ for ε is at most ε (and within 1e-7 of it); ρ for the ε of ρ is within 1e-7 of ρ', () => {
    fc.assert(
      fc.property(epsilon, delta, (e, d) => {
        const r = rhoForEpsilon(e, d);
        if (r === 0) return;
        const back = epsilonOfRho(r, d);
        expect(back).toBeLessThanOrEqual(e);
        expect(back / e).toBeGreaterThan(1 - 1e-7);
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(rho, delta, (r, d) => {
        const e = epsilonOfRho(r, d);
        if (e === 0) return;
        expect(Math.abs(rhoForEpsilon(e, d) / r - 1)).toBeLessThan(1e-7);
      }),
      { numRuns: 50 },
    );
  });
});

describe('gaussianSigma2 (CKS 2020 Theorem 4: σ² = Δ²/(2ρ) is ρ-zCDP)', () => {
  it('is Δ²/(2ρ) exactly, reduced, from the squared sensitivity', () => {
    expect(gaussianSigma2(rational(1n), rational(1n, 2n))).toEqual(rational(1n));
    expect(gaussianSigma2(rational(9n), rational(1n, 8n))).toEqual(rational(36n));
    expect(gaussianSigma2(rational(9n, 4n), fromDecimal(0.0243559703595))).toEqual(rational(9n * 10n ** 13n, 2n * 4n * 243559703595n));
    expect(gaussianSigma2({ num: 16n, den: 4n }, { num: 6n, den: 4n })).toEqual(rational(4n, 3n));
    // Δ = √2 (a person in two groups of a count): Δ² = 2 is what the caller has.
    expect(gaussianSigma2(rational(2n), rational(1n, 4n))).toEqual(rational(4n));
  });

  it('refuses a sensitivity or ρ that is not a positive rational, naming itself', () => {
    const bad: unknown[] = [{ num: 0n, den: 1n }, { num: -1n, den: 1n }, { num: 1n, den: 0n }, { num: 1, den: 1 }, undefined];
    for (const b of bad) {
      expect(() => gaussianSigma2(b as Rational, rational(1n))).toThrow(/^gaussianSigma2: l2Squared/);
      expect(() => gaussianSigma2(rational(1n), b as Rational)).toThrow(/^gaussianSigma2: rho/);
    }
  });
});
