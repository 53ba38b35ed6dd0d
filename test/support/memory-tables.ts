import { groupTotals } from '../../scripts/plaintext/groups.js';
import type { Dimension, NumericExpression } from '../../src/query/ast.js';
import { valueTotals } from '../../scripts/plaintext/aggregates.js';
import { keyedRows } from '../../scripts/plaintext/rows.js';
import { vectorOf, type VectorShape } from '../../src/query/group-vector.js';
import type { TableSide } from '../../src/query/plan.js';
import type { GroupAggregate } from '../../src/query/result.js';
import type { Dataset, Row } from './datasets.js';

/**
 * What a node's TableStore answers, from tables in memory: the in-memory driver feeds a machine its own keys and
 * answers its `aggregate` request from here, with the plaintext oracle's semantics instead of DuckDB's SQL.
 */

/** Distinct normalised keys of the filtered side, in first-seen order: what the machine is fed. */
export function distinctKeys(side: TableSide, data: Dataset): string[] {
  return [...new Set(keyedRows(side.table, data[side.table.name] ?? [], side.filters).map((r) => r.key))];
}

/**
 * TableStore.aggregateMatched: per group of the filtered rows whose key is among `matched`, [rows, distinct keys,
 * then per sum column (sum in units, non-null count)], groups sorted by label with NULLs last.
 */
export function aggregateMatched(side: TableSide, groupBy: readonly (Dimension | string)[], columns: readonly string[] | VectorShape, matched: Iterable<string>, data: Dataset): GroupAggregate[] {
  const shape: VectorShape = Array.isArray(columns) ? { sumColumns: columns } : (columns as VectorShape);
  const { sumColumns } = shape;
  const countColumns = shape.countColumns ?? [];
  const keys = new Set(matched);
  const rows = keyedRows(side.table, data[side.table.name] ?? [], side.filters).filter((r) => keys.has(r.key));
  // Squares and expressions (VAR_*, STDDEV_*, SUM(t.a * t.b), …): from each group's rows, by the oracle's arithmetic.
  const members = new Map<string, Row[]>();
  if ((shape.squareColumns?.length ?? 0) + (shape.sumExpressions?.length ?? 0) > 0) {
    for (const r of rows) {
      const id = JSON.stringify(groupTotals(side.table, [r], groupBy, [], [])[0]!.labels);
      members.set(id, [...(members.get(id) ?? []), r.row]);
    }
  }
  return groupTotals(side.table, rows, groupBy, sumColumns, countColumns).map((g) => ({
    labels: g.labels,
    values: vectorOf(shape, (slot) => {
      if (slot.kind === 'rows') return BigInt(g.rows);
      if (slot.kind === 'keys') return BigInt(g.keys.size);
      if (slot.kind !== 'sum' && slot.kind !== 'non-null') {
        const e: NumericExpression = 'column' in slot ? { kind: 'column', column: { table: side.table.name, column: slot.column } } : slot.expression;
        const t = valueTotals(e, side.table, members.get(JSON.stringify(g.labels)) ?? []);
        return slot.kind === 'expression-sum' ? t.sum : slot.kind === 'expression-non-null' ? t.count : t.squares;
      }
      const i = sumColumns.indexOf(slot.column);
      if (slot.kind === 'sum') return g.sums[i]!;
      return i >= 0 ? BigInt(g.counts[i]!) : BigInt(g.nonNull[countColumns.indexOf(slot.column)]!);
    }),
  }));
}
