import type { Normalization } from '../manifest/schema.js';
import type { SideKey } from '../query/plan.js';
import { quoteIdent } from './sql-text.js';

/**
 * Key normalisation as DuckDB SQL over a VARCHAR expression. One definition, used by every query, so
 * both members of a join map "  Ann@Example.COM " to the same bytes before hashing (protocol/SPEC.md §Keys).
 * A key that is NULL or empty after normalisation never matches.
 */
const ASCII_WHITESPACE = `(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))`;

export function normalizedKeySql(column: string, normalization: Normalization): string {
  const c = quoteIdent(column);
  switch (normalization) {
    case 'exact':
      return c;
    case 'email':
      return `lower(trim(${c}, ${ASCII_WHITESPACE}))`;
    case 'phone':
      return `regexp_replace(${c}, '[^0-9]', '', 'g')`;
  }
}

/** The column of a row's key under alternative i (SPEC §4.7): a name no manifest column can have. */
export const alternativeColumn = (i: number): string => quoteIdent(`cleanroom key ${i}`);

/**
 * A side's key as DuckDB SQL (SPEC §4.7): `nk`, what its rows are matched on and counted by as people, and for
 * alternatives `alternatives`, each row's key under each. One key is its normalised value. A compound is its parts'
 * normalised values, each behind its length in UTF-8 bytes (`<bytes>:<value>`, so that no two lists of parts give one
 * string), NULL when a part is NULL or empty. Alternative i is `<i>:<value>` (the tag keeps an email from matching a
 * phone), and a row's person is its first alternative present.
 */
export function sideKeySql(key: SideKey): { nk: string; alternatives?: string[] } {
  const parts = key.columns.map((k) => normalizedKeySql(k.column, k.normalization));
  if (parts.length === 1) return { nk: parts[0]! };
  if (key.combine === 'and') {
    const missing = parts.map((p) => `coalesce(${p}, '') = ''`).join(' OR ');
    return { nk: `CASE WHEN ${missing} THEN NULL ELSE ${parts.map((p) => `CAST(strlen(${p}) AS VARCHAR) || ':' || ${p}`).join(' || ')} END` };
  }
  const tagged = parts.map((p, i) => `CASE WHEN coalesce(${p}, '') <> '' THEN '${i}:' || ${p} END`);
  return { nk: `coalesce(${tagged.join(', ')})`, alternatives: tagged };
}
