import type { Normalization } from '../manifest/schema.js';
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
