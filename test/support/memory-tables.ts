import { groupTotals } from '../../scripts/plaintext/groups.js';
import type { Dimension, NumericExpression } from '../../src/query/ast.js';
import { valueTotals } from '../../scripts/plaintext/aggregates.js';
import { keyedRows, type JoinedOn } from '../../scripts/plaintext/rows.js';
import { vectorOf, type VectorShape } from '../../src/query/group-vector.js';
import { interleaveLabels, type PartnerGroups, type TableSide } from '../../src/query/plan.js';
import { dimensionLabel } from '../../scripts/plaintext/dimensions.js';
import type { GroupAggregate } from '../../src/query/result.js';
import type { Dataset, Row } from './datasets.js';

/**
 * What a node's TableStore answers, from tables in memory: the in-memory driver feeds a machine its own keys and
 * answers its `aggregate` request from here, with the plaintext oracle's semantics instead of DuckDB's SQL.
 */

/** Distinct normalised keys of the filtered side, in first-seen order: what the machine is fed. */
export function distinctKeys(side: TableSide, data: Dataset): string[] {
  return [...new Set(keyedRows(side.table, data[side.table.name] ?? [], side.filters, joinedOn(side)).flatMap((r) => r.keys))];
}

/**
 * TableStore.hashedPartKeys's parts (SPEC §4.6), without a policy's cap: part i holds the distinct keys of the
 * partner's filtered rows whose dimensions' labels are `labels[i]`, in first-seen order.
 */
export function partKeys(side: TableSide, dimensions: readonly Dimension[], labels: readonly (readonly unknown[])[], data: Dataset): string[][] {
  const parts = labels.map(() => new Set<string>());
  const index = new Map(labels.map((l, i) => [JSON.stringify(l), i]));
  for (const { row, key } of keyedRows(side.table, data[side.table.name] ?? [], side.filters, joinedOn(side))) {
    const at = index.get(JSON.stringify(dimensions.map((d) => dimensionLabel(row, d, side.table))));
    if (at !== undefined) parts[at]!.add(key);
  }
  return parts.map((p) => [...p]);
}

/** TableStore.aggregateMatched with the partner's parts (SPEC §4.6): each part's matched keys grouped on their own. */
export function aggregateMatchedParts(side: TableSide, own: readonly Dimension[], columns: readonly string[] | VectorShape, matched: readonly (readonly [string, number])[], partner: PartnerGroups, data: Dataset): GroupAggregate[] {
  const width = own.length + partner.positions.length;
  return partner.labels.flatMap((labels, part) => {
    const keys = matched.filter(([, p]) => p === part).map(([k]) => k);
    if (keys.length === 0) return [];
    return aggregateMatched(side, own, columns, keys, data).map((g) => ({ labels: interleaveLabels(g.labels, labels, partner.positions, width), values: g.values }));
  });
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
  // A row counts once when any of its keys matched (alternatives, SPEC §4.7); its person is its first key.
  const rows = keyedRows(side.table, data[side.table.name] ?? [], side.filters, joinedOn(side)).filter((r) => r.keys.some((k) => keys.has(k)));
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

/** The side's key as the oracle reads a join (SPEC §4.7): its columns and how they combine, the first key when unnamed. */
function joinedOn(side: TableSide): JoinedOn | undefined {
  return side.key && { columns: side.key.columns.map((k) => k.column), combine: side.key.combine };
}
