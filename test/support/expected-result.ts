import { answerQuery } from '../../scripts/plaintext/answer.js';
import type { JoinCondition, Query } from '../../src/query/ast.js';
import type { QueryPlan } from '../../src/query/plan.js';
import type { Cell } from '../../src/query/result.js';
import type { Dataset } from './datasets.js';

/** What the scenario tests compare a result with: the plaintext oracle's answer, rows in sortRows order. */
export interface ExpectedResult {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
}

/**
 * The oracle's answer to the query a plan was made from. Only the query's own content is taken from the plan
 * (tables, filters, outputs, GROUP BY): the oracle decides roles, mode and minimum by itself.
 */
export function expectedResult(plan: QueryPlan, data: Dataset): ExpectedResult {
  const sides = [plan.aggregator, ...plan.others];
  // The ON of a two-table query when the plan names each side's key (SPEC §4.7): the oracle keys the rows by it.
  const [p, q] = sides;
  const joins: JoinCondition[] =
    sides.length === 2 && p!.key && q!.key ? [{ pairs: p!.key.columns.map((k, i) => ({ left: { table: p!.table.name, column: k.column }, right: { table: q!.table.name, column: q!.key!.columns[i]!.column } })), combine: p!.key.combine }] : [];
  const query: Query = {
    select: plan.outputs,
    tables: sides.map((s) => s.table.name),
    joins,
    where: sides.flatMap((s) => s.filters),
    groupBy: plan.groupBy,
  };
  const answer = answerQuery(query, sides.map((s) => s.table), data);
  return { columns: answer.columns, rows: sortRows(answer.rows) };
}

/** Rows in a fixed order, whatever order they came in. */
export function sortRows(rows: readonly (readonly Cell[])[]): (readonly Cell[])[] {
  return [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
}
