import { amountText, type Cost } from '../dp/accounting.js';
import type { Rational } from '../dp/rational.js';
import type { Table } from '../manifest/schema.js';
import { privacyOf } from './privacy-plan.js';

/** How many more queries a table's remaining budget pays for, each at the table's own ε (ρ, under zCDP). */
export interface QueriesLeft {
  /** What one query at the table's own ε and δ costs it, in its budget's unit: what privacyOf charges such a query. */
  readonly perQuery: Cost;
  /** ⌊remaining / perQuery⌋. */
  readonly queries: bigint;
}

/**
 * What the remaining budget of `table` (which has a policy) still buys: the queries the table's own policy would be
 * charged for, its ε each (the ρ of that ε under zCDP), exactly as the node charges them. A query that also touches
 * a table of a stricter policy runs at a smaller ε and costs less: the count is then a floor.
 */
export function queriesLeft(table: Table, remaining: Rational): QueriesLeft {
  const charge = privacyOf([table], { mode: 'aggregate', tables: 1 })?.charges[0];
  if (!charge) throw new RangeError(`queriesLeft: table ${table.name} has no privacy policy`);
  const perQuery = charge.cost;
  return { perQuery, queries: (remaining.num * perQuery.amount.den) / (remaining.den * perQuery.amount.num) };
}

/** `the remaining ε = 9 buys 9 more queries at ε = 1 each`, as `cleanroom budget` and the console's gauge say it. */
export function queriesLeftText(table: Table, left: QueriesLeft, remaining: Rational): string {
  const n = left.queries;
  const { unit, amount } = left.perQuery;
  // Under zCDP a query's ρ is the price of the policy's ε: both are worth stating.
  const epsilon = unit === 'rho' ? ` (ε = ${table.rules.privacy?.epsilon} a query)` : '';
  return `the remaining ${amountText(unit, remaining)} buys ${n} more quer${n === 1n ? 'y' : 'ies'} at ${amountText(unit, amount)} each${epsilon}`;
}
