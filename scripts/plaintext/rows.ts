import { joinKeysOf, type Normalization, type Table } from '../../src/manifest/schema.js';
import type { Condition } from '../../src/query/ast.js';
import { conditionTruth } from './conditions.js';
import { lowerText } from './text-functions.js';
import type { Cell } from './values.js';

/**
 * Rows and their join keys under the clean room's semantics (SPEC §3, §5), written for the plaintext oracle apart
 * from src/data/normalize.ts and the node's SQL, so that a difference between the two shows up as a wrong answer.
 */
export type Row = Readonly<Record<string, Cell>>;

export interface KeyedRow {
  readonly row: Row;
  /** The normalised join key (a compound's encoding; with alternatives, the first present): never NULL, never empty. */
  readonly key: string;
  /** The keys the row matches on: its key, or with alternatives each one present, tagged with its position. */
  readonly keys: readonly string[];
}

/**
 * How a query joins a table (SPEC §4.7): its key columns in the order of the ON's equalities, one compound key or
 * alternatives; its first join key when the query names none.
 */
export interface JoinedOn {
  readonly columns: readonly string[];
  readonly combine: 'and' | 'or';
}

const ASCII_WHITESPACE_AT_ENDS = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;

/**
 * SPEC §3: exact keeps the value; email strips ASCII whitespace at both ends then lowercases each code point by the
 * same simple mapping as the WHERE clause's lower() (one code point into one: İ is i, not i̇ as toLowerCase has it);
 * phone keeps the ASCII digits (not full-width or other scripts' digits).
 */
export function normalizeKey(v: Cell, normalization: Normalization): string | null {
  if (v === null) return null;
  const s = String(v);
  switch (normalization) {
    case 'exact':
      return s;
    case 'email':
      return lowerText(s.replace(ASCII_WHITESPACE_AT_ENDS, ''));
    case 'phone':
      return s.replace(/[^0-9]/g, '');
  }
}

/**
 * The rows for which every filter is true and with a usable key (not NULL, not empty once normalised), with that key.
 * A compound key is its parts, each `<UTF-8 bytes>:<value>`, and unusable when one part is; alternative i is
 * `<i>:<value>`, a row usable when one is.
 */
export function keyedRows(table: Table, rows: readonly Row[], filters: readonly Condition[], on?: JoinedOn): KeyedRow[] {
  const specs = (on?.columns ?? [joinKeysOf(table)[0]!.column]).map((c) => joinKeysOf(table).find((k) => k.column === c)!);
  return rows.flatMap((row) => {
    if (!filters.every((f) => conditionTruth(row, f, table) === true)) return [];
    const parts = specs.map((k) => normalizeKey(row[k.column] ?? null, k.normalization) ?? '');
    if (parts.length === 1) return parts[0] === '' ? [] : [{ row, key: parts[0]!, keys: [parts[0]!] }];
    if (on?.combine !== 'or') {
      if (parts.some((p) => p === '')) return [];
      const key = parts.map((p) => `${Buffer.byteLength(p, 'utf8')}:${p}`).join('');
      return [{ row, key, keys: [key] }];
    }
    const keys = parts.flatMap((p, i) => (p === '' ? [] : [`${i}:${p}`]));
    return keys.length === 0 ? [] : [{ row, key: keys[0]!, keys }];
  });
}

/** The distinct normalised keys the filtered rows match on, in the order they first appear. */
export function keySet(table: Table, rows: readonly Row[], filters: readonly Condition[] = [], on?: JoinedOn): Set<string> {
  return new Set(keyedRows(table, rows, filters, on).flatMap((r) => r.keys));
}
