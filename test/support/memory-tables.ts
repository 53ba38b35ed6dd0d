import { groupTotals } from '../../scripts/plaintext/groups.js';
import { keyedRows } from '../../scripts/plaintext/rows.js';
import { vectorOf, type VectorShape } from '../../src/query/group-vector.js';
import type { TableSide } from '../../src/query/plan.js';
import type { GroupAggregate } from '../../src/query/result.js';
import type { Dataset } from './datasets.js';

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
export function aggregateMatched(side: TableSide, groupBy: readonly string[], columns: readonly string[] | VectorShape, matched: Iterable<string>, data: Dataset): GroupAggregate[] {
  const shape: VectorShape = Array.isArray(columns) ? { sumColumns: columns } : (columns as VectorShape);
  const { sumColumns } = shape;
  const countColumns = shape.countColumns ?? [];
  const keys = new Set(matched);
  const rows = keyedRows(side.table, data[side.table.name] ?? [], side.filters).filter((r) => keys.has(r.key));
  return groupTotals(side.table, rows, groupBy, sumColumns, countColumns).map((g) => ({
    labels: g.labels,
    values: vectorOf(shape, (slot) => {
      if (slot.kind === 'rows') return BigInt(g.rows);
      if (slot.kind === 'keys') return BigInt(g.keys.size);
      const i = sumColumns.indexOf(slot.column);
      if (slot.kind === 'sum') return g.sums[i]!;
      return i >= 0 ? BigInt(g.counts[i]!) : BigInt(g.nonNull[countColumns.indexOf(slot.column)]!);
    }),
  }));
}
