import type { Column, Table } from '../../src/manifest/schema.js';
import type { Dimension } from '../../src/query/ast.js';
import { compareLabelRows, dimensionLabel, labelOrder } from './dimensions.js';
import type { KeyedRow } from './rows.js';
import { units, type Cell } from './values.js';

/** What a set of rows adds up to in one group. */
export interface GroupTotals {
  readonly labels: readonly Cell[];
  rows: number;
  readonly keys: Set<string>;
  /** Per summed column: the sum of its non-NULL values in units of 10^-scale, their count, and their sum as plain doubles. */
  readonly sums: bigint[];
  readonly counts: number[];
  readonly doubles: number[];
  /** Per counted column (COUNT(t.c)): how many rows of the group have a value in it. */
  readonly nonNull: number[];
}

/**
 * The rows grouped by the labels of `groupBy` (dimensions of `table`; a bare name is that column), with their totals
 * over `sumColumns` and non-NULL counts over `countColumns`, ordered by label (NULLs last).
 */
export function groupTotals(table: Table, rows: Iterable<KeyedRow>, groupBy: readonly (Dimension | string)[], sumColumns: readonly string[], countColumns: readonly string[] = []): GroupTotals[] {
  const column = (name: string): Column => {
    const c = table.columns.find((x) => x.name === name);
    if (!c) throw new Error(`${table.name} has no column ${name}`);
    return c;
  };
  const dims = groupBy.map((d): Dimension => (typeof d === 'string' ? { kind: 'column', column: { table: table.name, column: column(d).name } } : d));
  const orders = dims.map((d) => labelOrder(d, table));
  const summed = sumColumns.map(column);
  const counted = countColumns.map(column);
  const groups = new Map<string, GroupTotals>();
  for (const { row, key } of rows) {
    const labels = dims.map((d) => dimensionLabel(row, d, table));
    const id = JSON.stringify(labels);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { labels, rows: 0, keys: new Set(), sums: summed.map(() => 0n), counts: summed.map(() => 0), doubles: summed.map(() => 0), nonNull: counted.map(() => 0) }));
    g.rows += 1;
    g.keys.add(key);
    counted.forEach((c, i) => {
      if ((row[c.name] ?? null) !== null) g.nonNull[i]! += 1;
    });
    summed.forEach((c, i) => {
      const u = units(row[c.name] ?? null, c);
      if (u === null) return;
      g.sums[i]! += u;
      g.counts[i]! += 1;
      g.doubles[i]! += Number(row[c.name]);
    });
  }
  return [...groups.values()].sort((a, b) => compareLabelRows(a.labels, b.labels, orders));
}
