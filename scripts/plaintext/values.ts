import { AVG_DECIMALS } from '../../src/limits.js';
import { ISO_DATE, ISO_TIMESTAMP, isNumeric, type Column } from '../../src/manifest/schema.js';
import { dateText, daysOf, instantOf, timestampText } from '../../src/manifest/time-value.js';
import type { Cell } from '../../src/query/result.js';
import { trimText } from './text-functions.js';

/**
 * Cells as the manifest types them, in exact arithmetic: a table's rows may hold numbers, or text as a CSV file
 * does ("  +12.5 "), and both read the same. Written for the plaintext oracle, apart from the node's DuckDB casts.
 */
export type { Cell };

/** A decimal written as text, as an integer `n` times 10^-scale. */
interface Exact {
  readonly n: bigint;
  readonly scale: number;
}

const NUMBER = /^([+-]?)(\d+)(?:\.(\d*))?$/;

function exact(v: Cell | boolean, what: string): Exact {
  const m = NUMBER.exec(String(v).trim());
  if (!m) throw new Error(`${what}: ${JSON.stringify(v)} is not a decimal number`);
  const frac = m[3] ?? '';
  const n = BigInt(m[2]! + frac);
  return { n: m[1] === '-' ? -n : n, scale: frac.length };
}

function compareExact(x: Exact, y: Exact): number {
  const scale = Math.max(x.scale, y.scale);
  const a = x.n * 10n ** BigInt(scale - x.scale);
  const b = y.n * 10n ** BigInt(scale - y.scale);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What the node's trim() takes off a field before it reads a day, an instant or a boolean (SPEC §5's trim). */
function trimmed(v: Cell | boolean): string {
  return trimText(String(v));
}

/** Days since 1970-01-01 of a date written YYYY-MM-DD, a day of the calendar in years 0001 to 9999. */
function day(v: Cell | boolean, what: string): number {
  const text = trimmed(v);
  const days = ISO_DATE.test(text) ? daysOf(text) : NaN;
  if (!(text >= '0001' && dateText(days) === text)) throw new Error(`${what}: ${JSON.stringify(v)} is not a date written YYYY-MM-DD that exists`);
  return days;
}

const FIRST_INSTANT = instantOf('0001-01-01');
const LAST_INSTANT = instantOf('9999-12-31 23:59:59.999999');

/**
 * Microseconds since the epoch, UTC, of a timestamp as SPEC §1 writes it: ISO_TIMESTAMP with hours below 24, minutes
 * and seconds below 60, an offset of at most 15:59, a day that exists, and in UTC years 0001 to 9999.
 */
function instant(v: Cell | boolean, what: string): bigint {
  const text = trimmed(v);
  const m = /^.{10}[T ](\d\d):(\d\d)(?::(\d\d))?[^Z+-]*(?:Z|[+-](\d\d):?(\d\d)?)?$/.exec(text);
  const fields = m === null ? [] : [m[1], m[2], m[3] ?? '0', m[4] ?? '0', m[5] ?? '0'].map(Number);
  const inRange = fields.length > 0 && fields[0]! < 24 && fields[1]! < 60 && fields[2]! < 60 && fields[3]! < 16 && fields[4]! < 60;
  const at = ISO_TIMESTAMP.test(text) && inRange && dateText(daysOf(text)) === text.slice(0, 10) ? instantOf(text) : undefined;
  if (at === undefined || at < FIRST_INSTANT || at > LAST_INSTANT) throw new Error(`${what}: ${JSON.stringify(v)} is not a timestamp as SPEC §1 writes it, at an instant that exists`);
  return at;
}

/** true or false, in any case, as text or a boolean; nothing else (not t, 1 or yes). */
function truth(v: Cell | boolean, what: string): boolean {
  if (typeof v === 'boolean') return v;
  const text = trimmed(v).toLowerCase();
  if (text !== 'true' && text !== 'false') throw new Error(`${what}: ${JSON.stringify(v)} is not true or false`);
  return text === 'true';
}

/**
 * SQL's comparison of two values of a column (or a value and a literal): exact for numbers, by UTF-8 bytes for text,
 * by day or instant (UTC) for dates and timestamps, false before true.
 */
export function compareValues(a: Cell | boolean, b: Cell | boolean, column: Column): number {
  const order = <T>(x: T, y: T) => (x < y ? -1 : x > y ? 1 : 0);
  switch (column.type) {
    case 'string':
      return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
    case 'date':
      return order(day(a, column.name), day(b, column.name));
    case 'timestamp':
      return order(instant(a, column.name), instant(b, column.name));
    case 'boolean':
      return order(Number(truth(a, column.name)), Number(truth(b, column.name)));
    default:
      return compareExact(exact(a, column.name), exact(b, column.name));
  }
}

/** A numeric value in units of 10^-scale of its column (integers: scale 0); NULL stays NULL. */
export function units(v: Cell, column: Column): bigint | null {
  if (v === null) return null;
  if (!isNumeric(column)) throw new Error(`${column.name} is not numeric`);
  const scale = column.type === 'decimal' ? column.scale : 0;
  const e = exact(v, column.name);
  const surplus = e.scale - scale;
  if (surplus > 0) {
    // Zeros past the declared scale are allowed (1.500 is 1.50); other digits are a value the node refuses.
    const unit = 10n ** BigInt(surplus);
    if (e.n % unit !== 0n) throw new Error(`${column.name}: ${JSON.stringify(v)} has more than ${scale} decimals`);
    return e.n / unit;
  }
  return e.n * 10n ** BigInt(-surplus);
}

/** Units of 10^-scale as exact decimal text: 1250n at scale 2 is "12.50". */
export function decimalText(v: bigint, scale: number): string {
  if (scale === 0) return v.toString();
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** sum / count (sum in units of 10^-scale) at AVG_DECIMALS decimals, halves rounded away from zero. */
export function averageText(sum: bigint, count: number, scale: number): string {
  const num = (sum < 0n ? -sum : sum) * 10n ** BigInt(AVG_DECIMALS);
  const den = BigInt(count) * 10n ** BigInt(scale);
  const q = num / den + ((num % den) * 2n >= den ? 1n : 0n);
  return decimalText(sum < 0n ? -q : q, AVG_DECIMALS);
}

/**
 * A group's label as a result shows it: integers as numbers, decimals at their declared scale, dates as YYYY-MM-DD,
 * timestamps in UTC as YYYY-MM-DD HH:MM:SS[.ffffff] (trailing zeros dropped), booleans as true or false, text as it is.
 */
export function labelOf(v: Cell, column: Column): Cell {
  if (v === null) return null;
  switch (column.type) {
    case 'integer':
      return Number(units(v, column));
    case 'decimal':
      return decimalText(units(v, column)!, column.scale);
    case 'date':
      return dateText(day(v, column.name));
    case 'timestamp':
      return timestampText(instant(v, column.name));
    case 'boolean':
      return String(truth(v, column.name));
    case 'string':
      return String(v);
  }
}
