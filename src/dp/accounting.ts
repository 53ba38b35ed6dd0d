import { fromFloat, mul, rational, toNumber, toText, type Rational } from './rational.js';
import { epsilonOfRho } from './zcdp.js';

/**
 * What a table's budget is counted in (SPEC §10.4): ε under basic composition (`pure` accounting, discrete Laplace
 * noise), or ρ under zero-concentrated DP (`zcdp` accounting, discrete Gaussian noise: ρ adds up across queries and
 * converts to (ε, δ) once, for the whole budget).
 */
export type BudgetUnit = 'epsilon' | 'rho';

/** A table's budget as its owner's node keeps it (src/budget/ledger.ts). */
export interface TableBudget {
  readonly unit: BudgetUnit;
  /** The budget per period, in `unit`. */
  readonly amount: Rational;
  readonly refresh: 'month' | 'never';
  /** The policy's δ: a ρ charge counts against an ε budget through the conversion at this δ. */
  readonly delta: number;
}

/** How a unit is written in messages. */
export function unitSymbol(unit: BudgetUnit): string {
  return unit === 'rho' ? 'ρ' : 'ε';
}

/** A cost or budget amount in words: `ε = 1`, `ρ = 0.0152`. */
export function amountText(unit: BudgetUnit, amount: Rational): string {
  return `${unitSymbol(unit)} = ${toText(amount)}`;
}

/** One query's cost to one table. */
export interface Cost {
  readonly unit: BudgetUnit;
  readonly amount: Rational;
}

/**
 * What a charge counts against a budget counted in `unit`, when a table's accounting changed within a period (a new
 * manifest): each conversion is valid for the charge alone, so their sum bounds what the period spent. A query under
 * pure accounting is ε-DP but for its clamps (each δ-approximately), hence δ-approximately (ε²/2)-zCDP (Bun and
 * Steinke 2016, Proposition 1.4); a ρ-zCDP query is (ε(ρ, δ), δ)-DP (src/dp/zcdp.ts), rounded up.
 */
export function costIn(c: Cost, unit: BudgetUnit, delta: number): Rational {
  if (c.unit === unit) return c.amount;
  if (unit === 'rho') return mul(mul(c.amount, c.amount), rational(1n, 2n));
  return fromFloat(epsilonOfRho(toNumber(c.amount), delta), 'up');
}
