import type { Table } from '../../src/manifest/schema.js';
import type { ColumnRef, Query, ValueFunction } from '../../src/query/ast.js';
import { parseQuery } from '../../src/query/parse.js';
import type { QueryResult } from '../../src/query/result.js';
import { aggregateCell, aggregateTable, computedHere, type ValueAggregate } from './aggregates.js';
import { shownRows } from './after-release.js';
import { conditionTable } from './conditions.js';
import { compareLabelRows, dimensionLabel, dimensionTableOf, labelOrder, sameDimension } from './dimensions.js';
import { groupTotals, type GroupTotals } from './groups.js';
import { keyedRows, keySet, type JoinedOn, type KeyedRow, type Row } from './rows.js';
import { averageText, decimalText, type Cell } from './values.js';

/**
 * The plaintext oracle: what the clean room must answer, computed from every member's rows pooled in one place.
 * It reads the query's meaning from its syntax tree and the manifest (SPEC §4.3-§4.5, §5) by itself, apart from
 * the node's planner and SQL, so the tests and the demos can catch either being wrong.
 */

/** A federated table's rows, per holder. */
export type HolderParts = Readonly<Record<string, readonly Row[]>>;
/** Every table's rows by table name; a federated table's per holder. */
export type TableData = Readonly<Record<string, readonly Row[] | HolderParts>>;

export type OutputKind = 'dimension' | 'count' | ValueFunction;

export interface PlaintextGroup {
  readonly labels: readonly Cell[];
  /** Distinct matched keys: what the minimum is checked against (a federated table's holders' counts added up). */
  readonly keys: number;
  readonly rows: number;
}

export interface PlaintextAnswer {
  readonly mode: 'count-only' | 'aggregate' | 'federated';
  readonly columns: readonly string[];
  readonly outputs: readonly OutputKind[];
  readonly minDistinctKeys: number;
  /**
   * The rows a receiver shows: the released groups ordered by their labels (NULLs last), then as HAVING, ORDER BY,
   * LIMIT and OFFSET pick and order them.
   */
  readonly rows: readonly (readonly Cell[])[];
  /** How many groups are released (opened to the receivers), whatever HAVING and LIMIT show of them. */
  readonly released: number;
  /** Every group of matched rows, released or not; count-only has exactly one. */
  readonly groups: readonly PlaintextGroup[];
  /** Per released row and output: AVG as a plain double (null elsewhere), to check the exact rounding against. */
  readonly avgDoubles: readonly (readonly (number | null)[])[];
}

/** The answer to `sql` over `data`, under the collaboration's `tables`. */
export async function plaintextAnswer(sql: string, tables: readonly Table[], data: TableData): Promise<PlaintextAnswer> {
  return answerQuery(await parseQuery(sql), tables, data);
}

export function answerQuery(query: Query, tables: readonly Table[], data: TableData): PlaintextAnswer {
  const answer = releasedAnswer(query, tables, data);
  const shown = shownRows(query, tables, answer.rows);
  return { ...answer, rows: shown.map((i) => answer.rows[i]!), released: answer.rows.length, avgDoubles: shown.map((i) => answer.avgDoubles[i]!) };
}

/** The answer before HAVING, ORDER BY and LIMIT: every released group, in label order. */
function releasedAnswer(query: Query, tables: readonly Table[], data: TableData): Omit<PlaintextAnswer, 'released'> {
  const table = (name: string): Table => {
    const t = tables.find((x) => x.name === name);
    if (!t) throw new Error(`no table ${name}`);
    return t;
  };
  const joined = query.tables.map(table);
  const filters = (t: Table) => query.where.filter((c) => conditionTable(c) === t.name);
  const summed = query.select.flatMap((i) => (i.kind === 'aggregate' && (i.aggregate.fn === 'sum' || i.aggregate.fn === 'avg') && 'column' in i.aggregate ? [i.aggregate.column] : []));
  // SUM and AVG of an expression, and the variance family, are computed from each group's rows (aggregates.ts).
  const computed = query.select.flatMap((i) => (i.kind === 'aggregate' && computedHere(i.aggregate) ? [i.aggregate as ValueAggregate] : []));
  // COUNT(t.c) reads t.c's values (whether each row has one); COUNT(DISTINCT key) only the matched keys.
  const counted = query.select.flatMap((i) => (i.kind === 'aggregate' && i.aggregate.fn === 'count-values' ? [i.aggregate.column] : []));
  // Every SUM, AVG and COUNT(t.c) column is of one table, whose rows are counted (with COUNT alone, the first GROUP BY
  // dimension's); a federated table is always that one. GROUP BY may name the other table of two (SPEC §4.6).
  const firstValue = [...summed.map((c) => c.table), ...counted.map((c) => c.table), ...computed.map(aggregateTable), ...query.groupBy.map(dimensionTableOf)][0];
  // SPEC §4.7: a join on alternative keys counts the first table's rows, each once when any of its keys matches.
  const alternatives = query.joins.some((j) => j.combine === 'or' && j.pairs.length > 1);
  const valued = joined.find((t) => t.holders) ?? (firstValue !== undefined ? table(firstValue) : alternatives ? joined[0] : undefined);
  const mode = valued?.holders ? 'federated' : valued ? 'aggregate' : 'count-only';
  const minDistinctKeys = Math.max(...joined.map((t) => t.rules.minDistinctKeys));
  const columns = query.select.map((i) => i.name);
  const outputs = query.select.map((i): OutputKind => (i.kind === 'dimension' ? 'dimension' : i.aggregate.fn === 'count-values' || i.aggregate.fn === 'count-distinct' ? 'count' : i.aggregate.fn));
  // How the query's one ON keys each table; a join of three or more, or none, uses each table's first join key.
  const onOf = (t: Table): JoinedOn | undefined => {
    const [j] = query.joins;
    if (query.joins.length !== 1 || !j) return undefined;
    return { columns: j.pairs.map((p) => (p.left.table === t.name ? p.left : p.right).column), combine: j.combine };
  };
  const keysOf = (t: Table) => keySet(t, partsOf(t, data).flat(), filters(t), onOf(t));

  if (!valued) {
    const [first, ...rest] = joined.map(keysOf);
    const n = [...first!].filter((k) => rest.every((s) => s.has(k))).length;
    const released = n >= minDistinctKeys;
    return { mode, columns, outputs, minDistinctKeys, rows: released ? [outputs.map(() => n)] : [], groups: [{ labels: [], keys: n, rows: n }], avgDoubles: released ? [outputs.map(() => null)] : [] };
  }

  // A row counts once when its key is in every other table's filtered key set (a semi-join), and a federated
  // table's holders each group their own part: their distinct keys add up, a person at two holders counts twice.
  const others = joined.filter((t) => t !== valued).map(keysOf);
  const groupBy = query.groupBy;
  const tableOf = (d: (typeof groupBy)[number]) => table(dimensionTableOf(d));
  // SPEC §4.6: a matched row counts once in each group of the partner's labels its key has among the partner's
  // filtered rows; P's own dimensions group it as usual.
  const partnerAt = groupBy.flatMap((d, i) => (dimensionTableOf(d) !== valued.name ? [i] : []));
  const ownDims = groupBy.filter((_, i) => !partnerAt.includes(i));
  const partner = partnerAt.length > 0 ? tableOf(groupBy[partnerAt[0]!]!) : undefined;
  const partnerLabels = partner && labelsByKey(partner, partsOf(partner, data).flat(), filters(partner), partnerAt.map((i) => groupBy[i]!), onOf(partner));
  const withPartner = (own: readonly Cell[], partner: readonly Cell[]) => {
    let [o, q] = [0, 0];
    return groupBy.map((_, i) => (partnerAt.includes(i) ? partner[q++]! : own[o++]!));
  };
  /** The totals of matched rows: by P's labels, and by the partner's label tuples of each row's key. */
  const totalsOf = (matched: readonly KeyedRow[]): GroupTotals[] => {
    if (!partnerLabels) return groupTotals(valued, matched, groupBy, sumColumns, countColumns);
    const byPartner = new Map<string, { labels: Cell[]; rows: KeyedRow[] }>();
    for (const r of matched) {
      for (const [id, labels] of partnerLabels.get(r.key) ?? []) {
        const e = byPartner.get(id) ?? { labels, rows: [] };
        e.rows.push(r);
        byPartner.set(id, e);
      }
    }
    return [...byPartner.values()].flatMap((e) => groupTotals(valued, e.rows, ownDims, sumColumns, countColumns).map((g) => ({ ...g, labels: withPartner(g.labels, e.labels) })));
  };
  const sumColumns = [...new Set(summed.map((ref) => ref.column))];
  const countColumns = [...new Set(counted.map((ref) => ref.column))];
  // Each group's matched rows, by its labels (all holders' parts together), for the aggregates computed from rows.
  const groupRows = new Map<string, Row[]>();
  const perPart = partsOf(valued, data).map((rows) => {
    const matched = keyedRows(valued, rows, filters(valued), onOf(valued)).filter((r) => others.every((s) => r.keys.some((k) => s.has(k))));
    if (computed.length > 0) {
      for (const r of matched) {
        for (const g of totalsOf([r])) {
          const id = JSON.stringify(g.labels);
          groupRows.set(id, [...(groupRows.get(id) ?? []), r.row]);
        }
      }
    }
    return totalsOf(matched);
  });
  const orders = groupBy.map((d) => labelOrder(d, tableOf(d)));
  const totals = merge(perPart).sort((a, b) => compareLabelRows(a.labels, b.labels, orders));

  // A federated group is released only when every holder's own part of it is empty or meets the minimum (SPEC §4.5).
  const partKeys = (g: Merged, part: readonly GroupTotals[]) => part.find((p) => JSON.stringify(p.labels) === JSON.stringify(g.labels))?.keys.size ?? 0;
  const partsOk = (g: Merged) => perPart.length < 2 || perPart.every((part) => partKeys(g, part) === 0 || partKeys(g, part) >= minDistinctKeys);
  const released = totals.filter((g) => g.keys >= minDistinctKeys && partsOk(g));
  const at = (ref: ColumnRef) => sumColumns.indexOf(ref.column);
  const scale = (ref: ColumnRef) => {
    const c = valued.columns.find((x) => x.name === ref.column);
    return c?.type === 'decimal' ? c.scale : 0;
  };
  return {
    mode,
    columns,
    outputs,
    minDistinctKeys,
    rows: released.map((g) =>
      query.select.map((item): Cell => {
        if (item.kind === 'dimension') return g.labels[groupBy.findIndex((d) => sameDimension(d, item.dimension))] ?? null;
        const a = item.aggregate;
        if (a.fn === 'count') return g.rows;
        if (a.fn === 'count-values') return g.nonNull[countColumns.indexOf(a.column.column)]!;
        if (a.fn === 'count-distinct') return g.keys;
        if (computedHere(a) || !('column' in a)) return aggregateCell(a as ValueAggregate, valued, groupRows.get(JSON.stringify(g.labels)) ?? []);
        const i = at(a.column);
        if (g.counts[i] === 0) return null;
        return a.fn === 'sum' ? decimalText(g.sums[i]!, scale(a.column)) : averageText(g.sums[i]!, g.counts[i]!, scale(a.column));
      }),
    ),
    groups: totals.map((g) => ({ labels: g.labels, keys: g.keys, rows: g.rows })),
    avgDoubles: released.map((g) =>
      query.select.map((item) => {
        if (item.kind !== 'aggregate' || item.aggregate.fn !== 'avg' || !('column' in item.aggregate)) return null;
        const i = at(item.aggregate.column);
        return g.counts[i] === 0 ? null : g.doubles[i]! / g.counts[i]!;
      }),
    ),
  };
}

/** Whether a clean-room result is exactly this answer: mode, columns, and every cell in order, AVG included. */
export function sameAnswer(result: Pick<QueryResult, 'mode' | 'columns' | 'rows'>, answer: PlaintextAnswer): boolean {
  return JSON.stringify([result.mode, result.columns, result.rows]) === JSON.stringify([answer.mode, answer.columns, answer.rows]);
}

/** A table's rows as the parts its holders keep: one part for an ordinary table. */
function partsOf(t: Table, data: TableData): (readonly Row[])[] {
  const d = data[t.name];
  if (d === undefined) throw new Error(`no rows for table ${t.name}`);
  if (Array.isArray(d)) {
    if (t.holders) throw new Error(`${t.name} is federated: give its rows per holder`);
    return [d];
  }
  return (t.holders ?? []).map((h) => {
    const part = (d as HolderParts)[h];
    if (!part) throw new Error(`no rows of ${t.name} held by ${h}`);
    return part;
  });
}

type Merged = Omit<GroupTotals, 'keys'> & { keys: number };

/** The holders' groups added up, label by label. */
function merge(parts: readonly GroupTotals[][]): Merged[] {
  const out = new Map<string, Merged>();
  for (const g of parts.flat()) {
    const id = JSON.stringify(g.labels);
    const m = out.get(id);
    if (!m) {
      out.set(id, { ...g, keys: g.keys.size, sums: [...g.sums], counts: [...g.counts], doubles: [...g.doubles], nonNull: [...g.nonNull] });
      continue;
    }
    m.rows += g.rows;
    m.keys += g.keys.size;
    g.sums.forEach((s, i) => (m.sums[i]! += s));
    g.counts.forEach((c, i) => (m.counts[i]! += c));
    g.doubles.forEach((d, i) => (m.doubles[i]! += d));
    g.nonNull.forEach((c, i) => (m.nonNull[i]! += c));
  }
  return [...out.values()];
}

/** Per key of `t`'s filtered rows, its distinct label tuples under `dims`, by their JSON. */
function labelsByKey(t: Table, rows: readonly Row[], filters: Query['where'], dims: Query['groupBy'], on: JoinedOn | undefined): Map<string, Map<string, Cell[]>> {
  const out = new Map<string, Map<string, Cell[]>>();
  for (const { row, key } of keyedRows(t, rows, filters, on)) {
    const labels = dims.map((d) => dimensionLabel(row, d, t));
    const m = out.get(key) ?? new Map<string, Cell[]>();
    m.set(JSON.stringify(labels), labels);
    out.set(key, m);
  }
  return out;
}
