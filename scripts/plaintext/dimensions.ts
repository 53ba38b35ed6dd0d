import type { Column, Table } from '../../src/manifest/schema.js';
import { dateText, dayOfInstant, daysOf, instantOf } from '../../src/manifest/time-value.js';
import type { Dimension } from '../../src/query/ast.js';
import { conditionTruth, leavesOf } from './conditions.js';
import { labelOf, type Cell } from './values.js';

/**
 * The label a row gets under a dimension (SPEC §5), written for the plaintext oracle apart from the node's planner
 * and DuckDB SQL: a column's value as a result shows it, date_trunc and extract of a date or timestamp column in UTC,
 * or the label of a CASE's first branch whose condition is true. A NULL value gives a NULL label.
 */

/** A row as rows.ts reads it (written out here: rows.ts filters with conditions.ts, which this file reads). */
type Row = Readonly<Record<string, Cell>>;

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

export function dimensionLabel(row: Row, d: Dimension, table: Table): Cell {
  if (d.kind === 'case') {
    // SQL's CASE: the first WHEN that is true wins; false and unknown (NULL) both fall through.
    for (const b of d.branches) if (conditionTruth(row, b.when, table) === true) return b.then;
    return d.otherwise;
  }
  const column = columnOf(table, d.column.column);
  const v: Cell = row[column.name] ?? null;
  if (v === null) return null;
  if (d.kind === 'column') return columnLabel(v, column);
  const { days, micros } = timeOf(v, column);
  if (d.kind === 'date-trunc') return dateText(truncatedDay(days, d.unit));
  const [y, m] = [Number(dateText(days).slice(0, 4)), Number(dateText(days).slice(5, 7))];
  switch (d.field) {
    case 'year':
      return y;
    case 'quarter':
      return Math.floor((m - 1) / 3) + 1;
    case 'month':
      return m;
    case 'dow':
      return dayOfWeek(days);
    case 'hour':
      return Number((micros - BigInt(days) * MICROS_PER_DAY) / MICROS_PER_HOUR);
  }
}

/**
 * A column's value as a label (values.ts): numbers and text as a result shows them, a date `YYYY-MM-DD`, a timestamp
 * in UTC as DuckDB writes it, a boolean 'true' or 'false'.
 */
export function columnLabel(v: Cell, column: Column): Cell {
  return labelOf(v, column);
}

/**
 * The day (since 1970-01-01) and the instant (µs since the epoch, UTC) of a date or timestamp value, read through its
 * label (values.ts checks its form); a date's instant is its midnight.
 */
function timeOf(v: string | number, column: Column): { days: number; micros: bigint } {
  if (column.type !== 'date' && column.type !== 'timestamp') throw new Error(`${column.name} is a ${column.type} column, not a date or timestamp`);
  const text = String(labelOf(v, column));
  if (column.type === 'date') {
    const days = daysOf(text);
    return { days, micros: BigInt(days) * MICROS_PER_DAY };
  }
  const micros = instantOf(text);
  return { days: dayOfInstant(micros), micros };
}

/** 0 for Sunday to 6 for Saturday: 1970-01-01 was a Thursday. */
function dayOfWeek(days: number): number {
  return (((days + 4) % 7) + 7) % 7;
}

/** The first day of the unit holding `days`: itself, its ISO week's Monday, the 1st of its month, quarter (Jan, Apr, Jul, Oct) or year. */
function truncatedDay(days: number, unit: Extract<Dimension, { kind: 'date-trunc' }>['unit']): number {
  const text = dateText(days);
  const [y, m] = [text.slice(0, 4), Number(text.slice(5, 7))];
  switch (unit) {
    case 'day':
      return days;
    case 'week':
      return days - ((dayOfWeek(days) + 6) % 7);
    case 'month':
      return daysOf(`${y}-${String(m).padStart(2, '0')}-01`);
    case 'quarter':
      return daysOf(`${y}-${String(m - ((m - 1) % 3)).padStart(2, '0')}-01`);
    case 'year':
      return daysOf(`${y}-01-01`);
  }
}

/**
 * How a dimension's labels order and compare: 'number' (integer and decimal columns, extract's fields) by exact
 * value; 'text' (strings, CASE labels, dates, timestamps and booleans as their text) by UTF-8 bytes, which orders
 * the date and timestamp texts by time and false before true.
 */
export type LabelOrder = 'number' | 'text';

export function labelOrder(d: Dimension, table: Table): LabelOrder {
  if (d.kind === 'extract') return 'number';
  if (d.kind !== 'column') return 'text';
  const type = columnOf(table, d.column.column).type;
  return type === 'integer' || type === 'decimal' ? 'number' : 'text';
}

/** Two labels of one dimension, neither NULL. */
export function compareLabel(a: string | number, b: string | number, order: LabelOrder): number {
  if (order === 'text') return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
  const [x, y] = [exactDecimal(a), exactDecimal(b)];
  const scale = Math.max(x.scale, y.scale);
  const [u, v] = [x.n * 10n ** BigInt(scale - x.scale), y.n * 10n ** BigInt(scale - y.scale)];
  return u < v ? -1 : u > v ? 1 : 0;
}

/** ORDER BY every label, NULLs last. */
export function compareLabelRows(a: readonly Cell[], b: readonly Cell[], orders: readonly LabelOrder[]): number {
  for (let i = 0; i < orders.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
      continue;
    }
    const c = compareLabel(x, y, orders[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

/** The one table a dimension reads. */
export function dimensionTableOf(d: Dimension): string {
  if (d.kind !== 'case') return d.column.table;
  const tables = new Set(d.branches.flatMap((b) => leavesOf(b.when).map((p) => p.column.table)));
  if (tables.size !== 1) throw new Error(`a CASE dimension reads ${[...tables].join(' and ')}: the clean room refuses it`);
  return [...tables][0]!;
}

/** Whether two dimensions are the same, field by field. */
export function sameDimension(a: Dimension, b: Dimension): boolean {
  return deepEqual(a, b);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}


function columnOf(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw new Error(`${table.name} has no column ${name}`);
  return c;
}

function exactDecimal(v: string | number): { n: bigint; scale: number } {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(v));
  if (!m) throw new Error(`the oracle cannot read ${JSON.stringify(v)} as a decimal`);
  const n = BigInt(m[2]! + (m[3] ?? ''));
  return { n: m[1] === '-' ? -n : n, scale: (m[3] ?? '').length };
}
