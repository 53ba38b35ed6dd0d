import { RuleViolation } from '../errors.js';
import { fromDecimal, min, type Rational } from '../dp/rational.js';
import type { Table } from '../manifest/schema.js';

/** A table's budget as its owner's node keeps it (src/budget/ledger.ts). */
export interface TableBudget {
  readonly epsilon: Rational;
  readonly refresh: 'month' | 'never';
}

/** What one table's owners charge for a query: `epsilon` of the plan, to the budget of `table`. */
export interface BudgetCharge {
  readonly table: string;
  /** The members that keep this table's budget: its owner, or every holder of a federated table. */
  readonly owners: readonly string[];
  readonly budget: TableBudget;
}

/**
 * The differential privacy of one query (SPEC §10): the strictest policy among its tables sets ε, δ and the rows
 * counted per person, because one person's presence in any of them can move what is released.
 */
export interface PrivacyPlan {
  readonly epsilon: Rational;
  readonly delta: Rational;
  readonly maxRowsPerKey: number;
  readonly charges: readonly BudgetCharge[];
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
  return {
    epsilon: policies.map((p) => fromDecimal(p.epsilon)).reduce(min),
    delta: policies.map((p) => fromDecimal(p.delta)).reduce(min),
    maxRowsPerKey: Math.min(...policies.map((p) => p.maxRowsPerKey)),
    charges: governed.map((t) => ({
      table: t.name,
      owners: t.holders ?? [t.owner],
      budget: { epsilon: fromDecimal(t.rules.privacy!.budget.epsilon), refresh: t.rules.privacy!.budget.refresh },
    })),
  };
}
