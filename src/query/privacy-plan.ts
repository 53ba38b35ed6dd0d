import { RuleViolation } from '../errors.js';
import type { Cost, TableBudget } from '../dp/accounting.js';
import { fromDecimal, fromFloat, min, toNumber, type Rational } from '../dp/rational.js';
import { rhoForEpsilon } from '../dp/zcdp.js';
import type { PrivacyPolicy, Table } from '../manifest/schema.js';

/** What one table's owners charge for a query, to the budget of `table`. */
export interface BudgetCharge {
  readonly table: string;
  /** The members that keep this table's budget: its owner, or every holder of a federated table. */
  readonly owners: readonly string[];
  readonly budget: TableBudget;
  /** This query's cost, in the budget's unit. */
  readonly cost: Cost;
}

/**
 * The differential privacy of one query (SPEC §10): the strictest policy among its tables sets ε, δ and the rows
 * counted per person, because one person's presence in any of them can move what is released. Each policy protects
 * its own table only: what a table without a policy enforces is decided elsewhere (probe-guard.ts, the threshold
 * of noise.ts, the AVG rule of plan.ts), never lifted by another table's policy.
 */
export interface PrivacyPlan {
  readonly epsilon: Rational;
  readonly delta: Rational;
  readonly maxRowsPerKey: number;
  /**
   * Discrete Laplace noise when every policy of the query accounts in ε; discrete Gaussian when one accounts in ρ
   * (zCDP), since a Laplace query would cost such a table ε²/2, far more than a Gaussian one of the same (ε, δ).
   */
  readonly mechanism: 'laplace' | 'gaussian';
  /** Gaussian: the query's ρ, such that it is (ε, δ/2)-DP (the other half of δ goes to the clamps, SPEC §10.2). */
  readonly rho?: Rational;
  readonly charges: readonly BudgetCharge[];
}

/**
 * How a policy's budget adds up over queries (SPEC §10.4). Its own choice if it states one; otherwise the one under
 * which the budget buys the more precision in all: the number of queries of the policy's ε it pays for, times
 * 1 / the variance of the count such a query releases (one count per query, the case least kind to the Gaussian).
 * A budget of a few queries: Laplace's, tighter per answer; of many: ρ adds up as the square of ε, and the Gaussian's
 * many more answers win.
 */
export function accountingOf(p: PrivacyPolicy): 'pure' | 'zcdp' {
  if (p.accounting) return p.accounting;
  const epsilon = p.epsilon;
  const pureQueries = Math.floor(p.budget.epsilon / epsilon + 1e-9);
  const rho = rhoForEpsilon(epsilon, p.delta / 2);
  const zcdpQueries = Math.floor(rhoForEpsilon(p.budget.epsilon, p.delta) / rho + 1e-9);
  // Per holder, a count of sensitivity 1: Laplace of scale 1/ε has variance 2/ε²; a Gaussian with ρ, σ² = 1/(2ρ).
  const laplaceVariance = 2 / epsilon ** 2;
  const gaussianVariance = 1 / (2 * rho);
  return zcdpQueries / gaussianVariance > pureQueries / laplaceVariance ? 'zcdp' : 'pure';
}

/** A policy's budget in the unit of its accounting. */
export function tableBudget(p: PrivacyPolicy): TableBudget {
  const zcdp = accountingOf(p) === 'zcdp';
  return {
    unit: zcdp ? 'rho' : 'epsilon',
    // Rounded down: a budget never holds more than the policy grants.
    amount: zcdp ? fromFloat(rhoForEpsilon(p.budget.epsilon, p.delta), 'down') : fromDecimal(p.budget.epsilon),
    refresh: p.budget.refresh,
    delta: p.delta,
  };
}

export function privacyOf(tables: readonly Table[], flow: { mode: string; tables: number }): PrivacyPlan | undefined {
  const governed = tables.filter((t) => t.rules.privacy);
  if (governed.length === 0) return undefined;
  if (flow.mode !== 'federated' && flow.tables > 2) {
    const t = governed[0]!;
    throw new RuleViolation(
      `${t.name}.rules.privacy`,
      `a join of ${flow.tables} tables shows its members exact sizes of intersections of their key sets (the combiner holds them all), which ${t.name}'s privacy policy forbids`,
      'joins of two tables, or a federated table on its own or joined with one other table',
    );
  }
  const policies = governed.map((t) => t.rules.privacy!);
  const epsilon = policies.map((p) => fromDecimal(p.epsilon)).reduce(min);
  const delta = policies.map((p) => fromDecimal(p.delta)).reduce(min);
  const gaussian = policies.some((p) => accountingOf(p) === 'zcdp');
  // Rounded down: with less ρ than the bisection found, the query is at most (ε, δ/2)-DP.
  const rho = gaussian ? fromFloat(rhoForEpsilon(toNumber(epsilon), toNumber(delta) / 2), 'down') : undefined;
  return {
    epsilon,
    delta,
    maxRowsPerKey: Math.min(...policies.map((p) => p.maxRowsPerKey)),
    mechanism: gaussian ? 'gaussian' : 'laplace',
    ...(rho ? { rho } : {}),
    charges: governed.map((t) => {
      const budget = tableBudget(t.rules.privacy!);
      // A Gaussian query is (ε, δ)-DP too, so a table that counts ε is charged ε whatever the noise.
      const cost: Cost = budget.unit === 'rho' ? { unit: 'rho', amount: rho! } : { unit: 'epsilon', amount: epsilon };
      return { table: t.name, owners: t.holders ?? [t.owner], budget, cost };
    }),
  };
}
