import type { Normalization, Table } from '../../src/manifest/schema.js';
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
  /** The normalised join key: never NULL, never empty. */
  readonly key: string;
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

/** The rows for which every filter is true and with a usable key (not NULL, not empty once normalised), with that key. */
export function keyedRows(table: Table, rows: readonly Row[], filters: readonly Condition[]): KeyedRow[] {
  return rows.flatMap((row) => {
    if (!filters.every((f) => conditionTruth(row, f, table) === true)) return [];
    const key = normalizeKey(row[table.joinKey.column] ?? null, table.joinKey.normalization);
    return key === null || key === '' ? [] : [{ row, key }];
  });
}

/** The distinct normalised keys of the filtered rows, in the order they first appear. */
export function keySet(table: Table, rows: readonly Row[], filters: readonly Condition[] = []): Set<string> {
  return new Set(keyedRows(table, rows, filters).map((r) => r.key));
}
