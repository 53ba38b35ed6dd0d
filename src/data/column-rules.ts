import type { Column } from '../manifest/schema.js';
import type { DataRule } from './data-problem.js';
import { quoteLiteral } from './sql-text.js';

/**
 * What the manifest declares of a column, as SQL over its raw text (a VARCHAR expression): the check of a whole
 * file counts and locates the values that break a rule, and every query reads a column through `typedSql`,
 * which checks each value again as it is read, so a file that changed after its check fails loudly rather than
 * being rounded or read out of bounds.
 */
export interface ColumnRule {
  readonly rule: DataRule;
  /** Words for the problem that quote nothing from the file. */
  readonly detail: string;
  /** True for a non-NULL value that breaks this rule; a value breaks at most one rule of its column. */
  readonly bad: string;
}

/** Decimals whose bounds fit 18 digits are read as 64-bit DECIMAL: parsing text into 128-bit ones is ten times slower. */
const NARROW_DECIMAL_DIGITS = 18;

export function columnRules(c: Column, raw: string): ColumnRule[] {
  if (c.type === 'string') {
    if (!c.values) return [];
    return [{ rule: 'values', detail: `is not among the values the manifest declares (${c.values.join(', ')})`, bad: `${raw} IS NOT NULL AND ${raw} NOT IN (${c.values.map(quoteLiteral).join(', ')})` }];
  }
  const text = `trim(${raw})`;
  const number = c.type === 'integer' ? INTEGER_PATTERN : DECIMAL_PATTERN;
  const isNumber = `regexp_full_match(${text}, '${number}')`;
  const format: ColumnRule[] =
    c.type === 'integer'
      ? [{ rule: 'integer', detail: 'is not an integer', bad: `${text} IS NOT NULL AND NOT ${isNumber}` }]
      : [
          { rule: 'decimal', detail: 'is not a decimal number', bad: `${text} IS NOT NULL AND NOT ${isNumber}` },
          { rule: 'scale', detail: `has more than ${c.scale} decimals`, bad: `${isNumber} AND NOT ${withinScale(text, c.scale)}` },
        ];
  const inRange = boundsSql(c, text);
  return [
    ...format,
    { rule: 'bounds', detail: `is outside the declared bounds [${c.min}, ${c.max}]`, bad: `${isNumber}${c.type === 'decimal' ? ` AND ${withinScale(text, c.scale)}` : ''} AND NOT coalesce(${inRange}, false)` },
    ...requiredRule(c, raw),
  ];
}

/** A NULL where the manifest declares the column required: the only rule a NULL can break. */
export function requiredRule(c: Column, text: string): ColumnRule[] {
  return c.type !== 'string' && c.required ? [{ rule: 'required', detail: 'is empty, and the manifest declares the column required (no NULL)', bad: `${text} IS NULL` }] : [];
}

/** The column's value in its declared type; a value that breaks a rule stops the query with `failure`. */
export function typedSql(c: Column, raw: string, failure: string): string {
  const fail = `error(${quoteLiteral(failure)})`;
  if (c.type === 'string') return c.values ? `CASE WHEN ${raw} IS NULL OR ${raw} IN (${c.values.map(quoteLiteral).join(', ')}) THEN ${raw} ELSE ${fail} END` : raw;
  const text = `trim(${raw})`;
  const valid = c.type === 'integer' ? `regexp_full_match(${text}, '${INTEGER_PATTERN}')` : `regexp_full_match(${text}, '${DECIMAL_PATTERN}') AND ${withinScale(text, c.scale)}`;
  return `CASE WHEN ${raw} IS NULL THEN ${c.required ? fail : 'NULL'} WHEN ${valid} AND coalesce(${boundsSql(c, text)}, false) THEN CAST(${text} AS ${sqlType(c)}) ELSE ${fail} END`;
}

const INTEGER_PATTERN = '[+-]?[0-9]+';
const DECIMAL_PATTERN = '[+-]?[0-9]+(\\.[0-9]*)?';

/** Trailing zeros past the scale are allowed: 1.500 is exactly 1.50. */
function withinScale(text: string, scale: number): string {
  return `regexp_full_match(${text}, '[+-]?[0-9]+(\\.[0-9]{0,${scale}}0*)?')`;
}

/** NULL when the text does not fit the type (too many digits): the caller counts that as out of bounds. */
function boundsSql(c: Column & { type: 'integer' | 'decimal' }, text: string): string {
  return `TRY_CAST(${text} AS ${sqlType(c)}) BETWEEN ${sqlNumber(c.min)} AND ${sqlNumber(c.max)}`;
}

function sqlType(c: Column): string {
  if (c.type === 'integer') return 'BIGINT';
  if (c.type === 'string') return 'VARCHAR';
  const widest = Math.max(Math.abs(c.min), Math.abs(c.max));
  return `DECIMAL(${widest < 10 ** (NARROW_DECIMAL_DIGITS - c.scale) ? NARROW_DECIMAL_DIGITS : 38}, ${c.scale})`;
}

/** A bound as an exact decimal literal (JS prints large and tiny numbers with an exponent, which SQL reads as DOUBLE). */
function sqlNumber(n: number): string {
  const s = String(n);
  if (!s.includes('e')) return s;
  return Number.isInteger(n) ? BigInt(n).toString() : n.toFixed(20);
}
