import { describe, expect, it } from 'vitest';
import { amountText, costIn, unitSymbol } from '../../src/dp/accounting.js';
import { fromDecimal, rational, toNumber } from '../../src/dp/rational.js';
import { epsilonOfRho } from '../../src/dp/zcdp.js';
import { tableBudget } from '../../src/query/privacy-plan.js';

/**
 * src/dp/accounting.ts: what a charge counts against a budget of the other unit (SPEC §10.4), exactly where the
 * mathematics is exact (pure ε-DP is ε²/2-zCDP) and rounded to the safe side where it is not (ρ to ε).
 */
describe('costIn: a charge in the budget\'s unit or converted to it', () => {
  it('is the charge itself in its own unit', () => {
    const eps = { unit: 'epsilon', amount: fromDecimal(0.3) } as const;
    const rho = { unit: 'rho', amount: fromDecimal(0.0123) } as const;
    expect(costIn(eps, 'epsilon', 1e-7)).toEqual(fromDecimal(0.3));
    expect(costIn(rho, 'rho', 1e-7)).toEqual(fromDecimal(0.0123));
  });

  it('ε to ρ: exactly ε²/2 (pure ε-DP is (ε²/2)-zCDP), whatever δ', () => {
    for (const [eps, half] of [[rational(3n, 10n), rational(9n, 200n)], [rational(1n), rational(1n, 2n)], [rational(7n, 4n), rational(49n, 32n)]] as const) {
      for (const delta of [1e-9, 1e-6]) expect(costIn({ unit: 'epsilon', amount: eps }, 'rho', delta)).toEqual(half);
    }
  });

  it('ρ to ε: epsilonOfRho(ρ, δ) rounded up to a decimal, a unit in its 12th digit above', () => {
    for (const [rho, delta] of [[0.0123, 1e-7], [0.5, 1e-6], [1e-6, 1e-9], [3, 1e-4]] as const) {
      const eps = costIn({ unit: 'rho', amount: fromDecimal(rho) }, 'epsilon', delta);
      const exact = epsilonOfRho(rho, delta);
      expect(toNumber(eps), `ρ=${rho}`).toBeGreaterThanOrEqual(exact);
      expect(toNumber(eps), `ρ=${rho}`).toBeLessThan(exact * (1 + 1e-10));
    }
  });

  it('a whole ρ budget of tableBudget counts, in ε, as the budget ε it was made from to 1e-9 relative', () => {
    for (const [epsilon, delta, budget] of [[1, 1e-7, 1000], [0.1, 1e-7, 10], [0.3, 1e-6, 6]] as const) {
      const b = tableBudget({ epsilon, delta, maxRowsPerKey: 1, budget: { epsilon: budget, refresh: 'month' }, accounting: 'zcdp' });
      const asEpsilon = costIn({ unit: 'rho', amount: b.amount }, 'epsilon', delta);
      expect(Math.abs(toNumber(asEpsilon) - budget), `budget ${budget}`).toBeLessThan(budget * 1e-9);
    }
  });
});

describe('unitSymbol and amountText', () => {
  it('write ε and ρ with the exact decimal', () => {
    expect(unitSymbol('epsilon')).toBe('ε');
    expect(unitSymbol('rho')).toBe('ρ');
    expect(amountText('epsilon', fromDecimal(2.5))).toBe('ε = 2.5');
    expect(amountText('rho', fromDecimal(0.0152))).toBe('ρ = 0.0152');
  });
});
