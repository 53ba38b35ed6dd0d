import { AVG_DECIMALS } from '../../src/limits.js';
import type { Column, Table } from '../../src/manifest/schema.js';
import type { Aggregate, NumericExpression, ValueFunction } from '../../src/query/ast.js';
import { conditionTruth } from './conditions.js';
import type { Row } from './rows.js';
import { averageText, decimalText, units, type Cell } from './values.js';

/**
 * SUM and AVG of an expression, and VAR_SAMP, VAR_POP, STDDEV_SAMP and STDDEV_POP of a column or an expression, as
 * SPEC §5 defines them, for the plaintext oracle: each row's value in exact decimal arithmetic, then the aggregate
 * over the group's rows. Written apart from the node's group vector (no sums of squares: the variance is the
 * two-pass Σ(x − mean)², exact), so that a slip in either shows up as a different answer.
 */

export type ValueAggregate = Extract<Aggregate, { fn: ValueFunction }>;

/** A decimal as an integer times 10^-scale. */
interface Exact {
  readonly n: bigint;
  readonly scale: number;
}

/** Whether the oracle computes this aggregate here rather than from a column's plain sums (groups.ts). */
export function computedHere(a: Aggregate): boolean {
  return a.fn !== 'count' && a.fn !== 'count-values' && a.fn !== 'count-distinct' && (!('column' in a) || (a.fn !== 'sum' && a.fn !== 'avg'));
}

/** The table whose rows a value aggregate reads. */
export function aggregateTable(a: ValueAggregate): string {
  return 'column' in a ? a.column.table : a.table;
}

/** The aggregate's cell over the group's matched rows (of its table). */
export function aggregateCell(a: ValueAggregate, table: Table, rows: readonly Row[]): Cell {
  const e: NumericExpression = 'column' in a ? { kind: 'column', column: a.column } : a.expression;
  const scale = scaleOf(e, table);
  const xs = rows.map((r) => valueOf(e, r, table)).flatMap((v) => (v === null ? [] : [at(v, scale)]));
  const n = BigInt(xs.length);
  const total = xs.reduce((s, x) => s + x, 0n);
  switch (a.fn) {
    case 'sum':
      return n === 0n ? null : decimalText(total, scale);
    case 'avg':
      return n === 0n ? null : averageText(total, xs.length, scale);
    default: {
      const sample = a.fn === 'var_samp' || a.fn === 'stddev_samp';
      if (n < (sample ? 2n : 1n)) return null;
      // Σ(x − S/n)² = Σ(n·x − S)² / n², in units of 10^-2·scale; the variance divides it by n or n − 1.
      const deviations = xs.reduce((s, x) => s + (n * x - total) ** 2n, 0n);
      const num = deviations;
      const den = n * n * (sample ? n - 1n : n) * 10n ** BigInt(2 * scale);
      return a.fn.startsWith('stddev') ? decimalText(roundedRoot(num * 10n ** BigInt(2 * AVG_DECIMALS), den), AVG_DECIMALS) : decimalText(roundedRatio(num * 10n ** BigInt(AVG_DECIMALS), den), AVG_DECIMALS);
    }
  }
}

/**
 * What a node's group vector holds for a value over these rows (test/support/memory-tables.ts stands in for DuckDB with
 * it): the sum, the count of non-NULL values and the sum of squares, in units of 10^-scale (squares 10^-2·scale).
 */
export function valueTotals(e: NumericExpression, table: Table, rows: readonly Row[]): { readonly sum: bigint; readonly count: bigint; readonly squares: bigint } {
  const scale = scaleOf(e, table);
  const xs = rows.map((r) => valueOf(e, r, table)).flatMap((v) => (v === null ? [] : [at(v, scale)]));
  return { sum: xs.reduce((s, x) => s + x, 0n), count: BigInt(xs.length), squares: xs.reduce((s, x) => s + x * x, 0n) };
}

/** num / den for num ≥ 0, den > 0, halves up. */
function roundedRatio(num: bigint, den: bigint): bigint {
  return (2n * num + den) / (2n * den);
}

/** √(num / den) for num ≥ 0, den > 0, rounded to the nearest integer, halves up: bisection on exact squares. */
function roundedRoot(num: bigint, den: bigint): bigint {
  let lo = 0n;
  let hi = 1n;
  while (hi * hi * den <= num) hi *= 2n;
  // lo² · den ≤ num < hi² · den
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (mid * mid * den <= num) lo = mid;
    else hi = mid;
  }
  // Round up when √(num/den) ≥ lo + 1/2, i.e. (2·lo + 1)² · den ≤ 4 · num.
  return (2n * lo + 1n) ** 2n * den <= 4n * num ? lo + 1n : lo;
}

function column(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw new Error(`${table.name} has no column ${name}`);
  return c;
}

/** SPEC §5's scale: a column's, a constant's decimals, the larger for + and -, the sum for *, the largest of a CASE's results. */
function scaleOf(e: NumericExpression, table: Table): number {
  switch (e.kind) {
    case 'column': {
      const c = column(table, e.column.column);
      return c.type === 'decimal' ? c.scale : 0;
    }
    case 'constant':
      return e.value.includes('.') ? e.value.length - e.value.indexOf('.') - 1 : 0;
    case 'null':
      return 0;
    case 'negate':
      return scaleOf(e.operand, table);
    case 'add':
    case 'subtract':
      return Math.max(scaleOf(e.left, table), scaleOf(e.right, table));
    case 'multiply':
      return scaleOf(e.left, table) + scaleOf(e.right, table);
    case 'case':
      return Math.max(0, ...[...e.branches.map((b) => b.then), e.otherwise].filter((x) => x.kind !== 'null').map((x) => scaleOf(x, table)));
  }
}

function at(x: Exact, scale: number): bigint {
  if (x.scale > scale) throw new Error(`a value at scale ${x.scale} where ${scale} was expected`);
  return x.n * 10n ** BigInt(scale - x.scale);
}

/** One row's value of the expression, exactly; NULL when an operand is (or when no CASE branch applies and no ELSE). */
function valueOf(e: NumericExpression, row: Row, table: Table): Exact | null {
  switch (e.kind) {
    case 'column': {
      const c = column(table, e.column.column);
      const n = units(row[c.name] ?? null, c);
      return n === null ? null : { n, scale: c.type === 'decimal' ? c.scale : 0 };
    }
    case 'constant': {
      const [whole, frac = ''] = e.value.split('.');
      const negative = whole!.startsWith('-');
      const digits = BigInt(whole!.replace('-', '') + frac);
      return { n: negative ? -digits : digits, scale: frac.length };
    }
    case 'null':
      return null;
    case 'negate': {
      const v = valueOf(e.operand, row, table);
      return v && { n: -v.n, scale: v.scale };
    }
    case 'add':
    case 'subtract':
    case 'multiply': {
      const l = valueOf(e.left, row, table);
      const r = valueOf(e.right, row, table);
      if (!l || !r) return null;
      if (e.kind === 'multiply') return { n: l.n * r.n, scale: l.scale + r.scale };
      const s = Math.max(l.scale, r.scale);
      return { n: e.kind === 'add' ? at(l, s) + at(r, s) : at(l, s) - at(r, s), scale: s };
    }
    case 'case': {
      const branch = e.branches.find((b) => conditionTruth(row, b.when, table) === true);
      return valueOf(branch ? branch.then : e.otherwise, row, table);
    }
  }
}
