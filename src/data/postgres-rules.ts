import type { Column } from '../manifest/schema.js';
import { requiredRule, type ColumnRule } from './column-rules.js';

/**
 * The manifest's column rules (column-rules.ts) as PostgreSQL SQL over a column's text, for the check a query of a
 * database table runs over every row before it reads the rows its filters keep. A refusal must not depend on the
 * filters: otherwise whether a query is refused would tell the querier whether some row it singled out breaks a
 * rule. The patterns are column-rules.ts's, anchored (PostgreSQL's `~` searches, DuckDB's full match does not).
 * `param` binds the declared `values` of a string column.
 */
export function postgresRules(c: Column, text: string, param: (value: unknown) => string): ColumnRule[] {
  if (c.type === 'string') {
    if (!c.values) return [];
    return [{ rule: 'values', detail: `is not among the values the manifest declares (${c.values.join(', ')})`, bad: `${text} IS NOT NULL AND NOT (${text} = ANY(${param(c.values)}::text[]))` }];
  }
  const t = `btrim(${text})`;
  const number = c.type === 'integer' ? '^[+-]?[0-9]+$' : '^[+-]?[0-9]+(\\.[0-9]*)?$';
  const isNumber = `(${t} ~ '${number}')`;
  const inScale = c.type === 'decimal' ? `(${t} ~ '^[+-]?[0-9]+(\\.[0-9]{0,${c.scale}}0*)?$')` : 'true';
  const bounds = `${t}::numeric BETWEEN ${param(String(c.min))}::numeric AND ${param(String(c.max))}::numeric`;
  const format: ColumnRule[] =
    c.type === 'integer'
      ? [{ rule: 'integer', detail: 'is not an integer', bad: `${t} IS NOT NULL AND NOT ${isNumber}` }]
      : [
          { rule: 'decimal', detail: 'is not a decimal number', bad: `${t} IS NOT NULL AND NOT ${isNumber}` },
          { rule: 'scale', detail: `has more than ${c.scale} decimals`, bad: `${isNumber} AND NOT ${inScale}` },
        ];
  // CASE keeps the cast from running on text that is not a number (PostgreSQL does not promise AND's order).
  return [...format, { rule: 'bounds', detail: `is outside the declared bounds [${c.min}, ${c.max}]`, bad: `CASE WHEN ${isNumber} AND ${inScale} THEN NOT (${bounds}) ELSE false END` }, ...requiredRule(c, text)];
}
