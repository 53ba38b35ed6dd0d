import { isTime, type Column, type NumericColumn, type TimeColumn } from '../manifest/schema.js';
import { instantOf, timestampText } from '../manifest/time-value.js';
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
  if (c.type === 'boolean') return [{ rule: 'boolean', detail: BOOLEAN_DETAIL, bad: `${text} IS NOT NULL AND lower(${text}) NOT IN ('true', 'false')` }, ...requiredRule(c, raw)];
  if (isTime(c)) {
    const t = timeSql(c, 't');
    const exists = `coalesce(${t.value} BETWEEN ${t.first} AND ${t.last}, false)`;
    const bounds: ColumnRule[] = c.min === undefined && c.max === undefined ? [] : [{ rule: 'bounds', detail: timeBoundsDetail(c), bad: overText(text, `${t.form} AND ${exists} AND NOT coalesce(${t.value} BETWEEN ${t.min} AND ${t.max}, false)`) }];
    return [
      { rule: c.type, detail: TIME_FORM_DETAIL[c.type], bad: `${raw} IS NOT NULL AND ${overText(text, `NOT ${t.form}`)}` },
      { rule: c.type, detail: TIME_EXISTS_DETAIL[c.type], bad: overText(text, `${t.form} AND NOT ${exists}`) },
      ...bounds,
      ...requiredRule(c, raw),
    ];
  }
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
  const absent = c.required ? fail : 'NULL';
  if (c.type === 'boolean') return `CASE WHEN ${raw} IS NULL THEN ${absent} WHEN lower(${text}) = 'true' THEN true WHEN lower(${text}) = 'false' THEN false ELSE ${fail} END`;
  if (isTime(c)) {
    // The value is computed once (a lambda's argument), then checked: a timestamp costs several string functions.
    const t = timeSql(c, 't');
    const checked = `CASE WHEN v BETWEEN ${t.first} AND ${t.last} AND v BETWEEN ${t.min} AND ${t.max} THEN v ELSE ${fail} END`;
    return `CASE WHEN ${raw} IS NULL THEN ${absent} ELSE ${overText(text, `CASE WHEN ${t.form} THEN list_transform([${t.value}], lambda v: ${checked})[1] ELSE ${fail} END`)} END`;
  }
  const valid = c.type === 'integer' ? `regexp_full_match(${text}, '${INTEGER_PATTERN}')` : `regexp_full_match(${text}, '${DECIMAL_PATTERN}') AND ${withinScale(text, c.scale)}`;
  return `CASE WHEN ${raw} IS NULL THEN ${absent} WHEN ${valid} AND coalesce(${boundsSql(c, text)}, false) THEN CAST(${text} AS ${sqlType(c)}) ELSE ${fail} END`;
}

const INTEGER_PATTERN = '[+-]?[0-9]+';
const DECIMAL_PATTERN = '[+-]?[0-9]+(\\.[0-9]*)?';

/** Trailing zeros past the scale are allowed: 1.500 is exactly 1.50. */
function withinScale(text: string, scale: number): string {
  return `regexp_full_match(${text}, '[+-]?[0-9]+(\\.[0-9]{0,${scale}}0*)?')`;
}

/** NULL when the text does not fit the type (too many digits): the caller counts that as out of bounds. */
function boundsSql(c: NumericColumn, text: string): string {
  return `TRY_CAST(${text} AS ${sqlType(c)}) BETWEEN ${sqlNumber(c.min)} AND ${sqlNumber(c.max)}`;
}

function sqlType(c: NumericColumn): string {
  if (c.type === 'integer') return 'BIGINT';
  const widest = Math.max(Math.abs(c.min), Math.abs(c.max));
  return `DECIMAL(${widest < 10 ** (NARROW_DECIMAL_DIGITS - c.scale) ? NARROW_DECIMAL_DIGITS : 38}, ${c.scale})`;
}

/** A bound as an exact decimal literal (JS prints large and tiny numbers with an exponent, which SQL reads as DOUBLE). */
function sqlNumber(n: number): string {
  const s = String(n);
  if (!s.includes('e')) return s;
  return Number.isInteger(n) ? BigInt(n).toString() : n.toFixed(20);
}

export const BOOLEAN_DETAIL = 'is not true or false (written true or false, in any case; not t, 1 or yes)';

export const TIME_FORM_DETAIL = {
  date: 'is not a date written YYYY-MM-DD',
  timestamp: 'is not a timestamp written YYYY-MM-DD HH:MM[:SS[.ffffff]], T or a space between day and time, with an optional offset Z, ±HH, ±HH:MM or ±HHMM of at most 15:59',
} as const;

export const TIME_EXISTS_DETAIL = {
  date: 'is not a day that exists in the calendar (years 0001 to 9999)',
  timestamp: 'is not an instant that exists in the calendar (its day must exist, and in UTC it must fall in years 0001 to 9999)',
} as const;

/**
 * A date's text: DuckDB's TRY_CAST alone would also take 2021-1-1, or 2021-01-01T10:00 as that day. The same form
 * as the manifest's ISO_DATE (src/manifest/schema.ts).
 */
export const DATE_PATTERN = '[0-9]{4}-[0-9]{2}-[0-9]{2}';

/**
 * A timestamp's text: ISO_TIMESTAMP of src/manifest/schema.ts with its fields in range. Hours stop at 23 (DuckDB reads
 * 24:00 as the next midnight), and an offset at 15:59, as PostgreSQL's (DuckDB takes +25:00, and minutes past 59).
 */
export const TIMESTAMP_PATTERN = '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{1,6})?)?(?:Z|[+-](?:0[0-9]|1[0-5])(?::?[0-5][0-9])?)?';

/**
 * A date or timestamp column's trimmed text (timeSql's `text`, an SQL name) as SQL: whether it has the form; its value
 * (DATE, or TIMESTAMP in UTC), NULL where the day does not exist, meaningful where the form is right; the first and
 * last values a column holds (years 0001 to 9999, which DuckDB writes as ISO text); and the declared bounds (or the
 * first and last values).
 */
interface TimeSql {
  readonly form: string;
  readonly value: string;
  readonly first: string;
  readonly last: string;
  readonly min: string;
  readonly max: string;
}

/**
 * `body` over the trimmed text `text`, named `t` in it, a lambda's argument: DuckDB computes it once, where it would
 * trim the field again for every use of `t` (which makes a timestamp's check several times slower).
 */
function overText(text: string, body: string): string {
  return `list_transform([${text}], lambda t: ${body})[1]`;
}

function timeSql(c: TimeColumn, text: string): TimeSql {
  if (c.type === 'date') {
    const day = (d: string) => `DATE ${quoteLiteral(d)}`;
    const [first, last] = [day('0001-01-01'), day('9999-12-31')];
    return { form: `regexp_full_match(${text}, '${DATE_PATTERN}')`, value: `TRY_CAST(${text} AS DATE)`, first, last, min: c.min === undefined ? first : day(c.min), max: c.max === undefined ? last : day(c.max) };
  }
  // Past the minutes (where the form has put them): seconds and a fraction, then an offset, which starts with Z, + or
  // -. DuckDB reads an offset only after seconds, and a text without one in its TimeZone setting: the text is given
  // seconds and Z where it has none, and epoch_us of the TIMESTAMPTZ is UTC whatever the setting.
  const rest = `substr(${text}, 17)`;
  const withSeconds = `CASE WHEN starts_with(${rest}, ':') THEN ${text} ELSE left(${text}, 16) || ':00' || ${rest} END`;
  const zoned = `${withSeconds} || CASE WHEN regexp_matches(${rest}, '[Z+-]') THEN '' ELSE 'Z' END`;
  const instant = (t: string) => `TIMESTAMP ${quoteLiteral(timestampText(instantOf(t)))}`;
  const [first, last] = [instant('0001-01-01'), instant('9999-12-31 23:59:59.999999')];
  return {
    form: `regexp_full_match(${text}, '${TIMESTAMP_PATTERN}')`,
    value: `make_timestamp(epoch_us(TRY_CAST(${zoned} AS TIMESTAMPTZ)))`,
    first,
    last,
    min: c.min === undefined ? first : instant(c.min),
    max: c.max === undefined ? last : instant(c.max),
  };
}

/** The problem of a date or timestamp out of bounds: "… (from 2024-01-01 to 2024-12-31)", "(from …)", "(up to …)". */
export function timeBoundsDetail(c: TimeColumn): string {
  const words = [...(c.min === undefined ? [] : [`from ${c.min}`]), ...(c.max === undefined ? [] : [`${c.min === undefined ? 'up ' : ''}to ${c.max}`])];
  return `is outside the declared bounds (${words.join(' ')})`;
}
