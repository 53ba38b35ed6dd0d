import { AVG_DECIMALS } from '../../src/limits.js';
import type { Column } from '../../src/manifest/schema.js';
import type { Cell } from '../../src/query/result.js';

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

/** SQL's comparison of two values of a column (or a value and a literal): exact for numbers, by UTF-8 bytes for text. */
export function compareValues(a: Cell | boolean, b: Cell | boolean, column: Column): number {
  if (column.type === 'string') return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
  return compareExact(exact(a, column.name), exact(b, column.name));
}

/** A numeric value in units of 10^-scale of its column (integers: scale 0); NULL stays NULL. */
export function units(v: Cell, column: Column): bigint | null {
  if (v === null) return null;
  if (column.type === 'string') throw new Error(`${column.name} is not numeric`);
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

/** A group's label as a result shows it: integers as numbers, decimals at their declared scale, text as it is. */
export function labelOf(v: Cell, column: Column): Cell {
  if (v === null) return null;
  if (column.type === 'integer') return Number(units(v, column));
  if (column.type === 'decimal') return decimalText(units(v, column)!, column.scale);
  return String(v);
}

/** ORDER BY the labels, NULLs last. */
export function compareLabels(a: readonly Cell[], b: readonly Cell[], columns: readonly Column[]): number {
  for (let i = 0; i < columns.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
      continue;
    }
    const c = compareValues(x, y, columns[i]!);
    if (c !== 0) return c;
  }
  return 0;
}
