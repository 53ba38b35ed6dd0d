import type { Table } from '../../src/manifest/schema.js';
import type { Literal, OrderTerm, OutputRef, OutputTest, Query, SelectItem } from '../../src/query/ast.js';
import { compareLabel, dimensionTableOf, labelOrder, sameDimension, type LabelOrder } from './dimensions.js';
import type { Cell } from './values.js';

/**
 * HAVING, ORDER BY, LIMIT and OFFSET over the released rows, read from the syntax tree apart from the node's planner
 * (SPEC §5): the indices of the rows a receiver shows, in the order it shows them. `rows` come in label order, which
 * rows tied under ORDER BY (or all of them, without it) keep.
 */
export function shownRows(query: Query, tables: readonly Table[], rows: readonly (readonly Cell[])[]): number[] {
  const clauses = query.afterRelease;
  if (!clauses) return rows.map((_, i) => i);
  const outputs = query.select.map((item) => ({ item, column: item.kind === 'dimension' ? orderOf(tables, item) : undefined }));
  const at = (ref: OutputRef) => {
    const i = query.select.findIndex((item) => refers(ref, item));
    if (i < 0) throw new Error(`the oracle finds no output for ${JSON.stringify(ref)}`);
    return i;
  };
  const having = clauses.having.map((h) => ({ i: at(h.output), test: h.test }));
  const kept = rows.flatMap((row, r) => (having.every(({ i, test }) => passes(row[i] ?? null, test, outputs[i]!.column)) ? [r] : []));
  const order = clauses.orderBy.map((o) => ({ i: at(o.output), term: o }));
  kept.sort((a, b) => {
    for (const { i, term } of order) {
      const c = ordered(rows[a]![i] ?? null, rows[b]![i] ?? null, term, outputs[i]!.column);
      if (c !== 0) return c;
    }
    return 0;
  });
  return kept.slice(clauses.offset, clauses.limit === null ? undefined : clauses.offset + clauses.limit);
}

/** A name matches an output's name ignoring case; a dimension the same dimension output, an aggregate an aggregate output. */
function refers(ref: OutputRef, item: SelectItem): boolean {
  switch (ref.kind) {
    case 'name':
      return item.name.toLowerCase() === ref.name.toLowerCase();
    case 'dimension':
      return item.kind === 'dimension' && sameDimension(item.dimension, ref.dimension);
    case 'aggregate':
      return item.kind === 'aggregate' && JSON.stringify(item.aggregate) === JSON.stringify(ref.aggregate);
  }
}

/** How a dimension output's labels compare: by exact value, or as text (dates, timestamps and booleans included). */
function orderOf(tables: readonly Table[], item: Extract<SelectItem, { kind: 'dimension' }>): LabelOrder {
  const name = dimensionTableOf(item.dimension);
  const t = tables.find((x) => x.name === name);
  if (!t) throw new Error(`no table ${name}`);
  return labelOrder(item.dimension, t);
}

/**
 * SQL's three-valued HAVING: NULL compared with anything is unknown, which drops the row; IS [NOT] NULL decides. A
 * DATE or TIMESTAMP literal (canonical text) compares with a label as text, a boolean as 'true' or 'false'.
 */
function passes(cell: Cell, test: OutputTest, column: LabelOrder | undefined): boolean {
  if (test.kind === 'null') return (cell === null) === test.isNull;
  if (cell === null) return false;
  const vs = (lit: Literal) => compareCell(cell, String(lit.value), column);
  switch (test.kind) {
    case 'compare': {
      const c = vs(test.value);
      return { '=': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[test.op];
    }
    case 'in':
      return test.values.some((v) => vs(v) === 0);
    case 'between':
      return vs(test.low) >= 0 && vs(test.high) <= 0;
  }
}

function ordered(a: Cell, b: Cell, term: OrderTerm, column: LabelOrder | undefined): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === term.nullsFirst ? -1 : 1;
  }
  const c = compareCell(a, b, column);
  return term.descending ? -c : c;
}

/** A label as its dimension compares (the oracle's label order); an aggregate (a count, or SUM and AVG as decimal text) by exact value. */
function compareCell(a: string | number, b: string | number, column: LabelOrder | undefined): number {
  if (column) return compareLabel(a, b, column);
  const [x, y] = [exactDecimal(a), exactDecimal(b)];
  const scale = Math.max(x.scale, y.scale);
  const [u, v] = [x.n * 10n ** BigInt(scale - x.scale), y.n * 10n ** BigInt(scale - y.scale)];
  return u < v ? -1 : u > v ? 1 : 0;
}

function exactDecimal(v: string | number): { n: bigint; scale: number } {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(v));
  if (!m) throw new Error(`the oracle cannot read ${JSON.stringify(v)} as a decimal`);
  const n = BigInt(m[2]! + (m[3] ?? ''));
  return { n: m[1] === '-' ? -n : n, scale: (m[3] ?? '').length };
}
