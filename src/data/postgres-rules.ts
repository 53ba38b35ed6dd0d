import { isTime, type Column, type TimeColumn } from '../manifest/schema.js';
import { instantOf, timestampText } from '../manifest/time-value.js';
import { BOOLEAN_DETAIL, DATE_PATTERN, requiredRule, TIME_EXISTS_DETAIL, TIME_FORM_DETAIL, timeBoundsDetail, TIMESTAMP_PATTERN, type ColumnRule } from './column-rules.js';

/**
 * The manifest's column rules (column-rules.ts) as PostgreSQL SQL over a column's text, for the check a query of a
 * database table runs over every row before it reads the rows its filters keep. A refusal must not depend on the
 * filters: otherwise whether a query is refused would tell the querier whether some row it singled out breaks a
 * rule. The patterns are column-rules.ts's, anchored (PostgreSQL's `~` searches, DuckDB's full match does not).
 * `param` binds the declared `values` of a string column, and bounds. `stored`, for a column PostgreSQL stores in a
 * type of its own rather than as text, is the column (quoted) and that type: a date, timestamp or boolean is then
 * checked as a value, not as text (its text is PostgreSQL's ISO text, which the rules accept for years 0001 to 9999).
 */
export function postgresRules(c: Column, text: string, param: (value: unknown) => string, stored?: { readonly column: string; readonly type: string }): ColumnRule[] {
  if (c.type === 'boolean' && stored !== undefined) return requiredRule(c, text);
  if (isTime(c) && stored !== undefined) return storedTimeRules(c, stored.column, stored.type, text, param);
  if (c.type === 'string') {
    if (!c.values) return [];
    return [{ rule: 'values', detail: `is not among the values the manifest declares (${c.values.join(', ')})`, bad: `${text} IS NOT NULL AND NOT (${text} = ANY(${param(c.values)}::text[]))` }];
  }
  const t = `btrim(${text})`;
  if (c.type === 'boolean') return [{ rule: 'boolean', detail: BOOLEAN_DETAIL, bad: `${t} IS NOT NULL AND lower(${t}) NOT IN ('true', 'false')` }, ...requiredRule(c, text)];
  if (isTime(c)) return timeRules(c, text, t, param);
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

/**
 * A date or timestamp column's rules, with column-rules.ts's details. PostgreSQL has no TRY_CAST: a cast of a text that
 * is not a day stops the whole check, so whether the day exists is computed from its fields, and every cast is under
 * a CASE that has checked its text first. A text without an offset is read as UTC, as column-rules.ts does, so that the
 * session's TimeZone plays no part.
 */
function timeRules(c: TimeColumn, text: string, t: string, param: (value: unknown) => string): ColumnRule[] {
  const isForm = `(${t} ~ '^${c.type === 'date' ? DATE_PATTERN : TIMESTAMP_PATTERN}$')`;
  const exists = dayExists(`substr(${t}, 1, 4)`, `substr(${t}, 6, 2)`, `substr(${t}, 9, 2)`);
  let valid: string, value: string, literal: (b: string) => string;
  if (c.type === 'date') {
    valid = exists;
    value = `${t}::date`;
    literal = (b) => `${param(b)}::date`;
  } else {
    // Without an offset (nothing left once the minutes, seconds and fraction are taken off), Z: the session's TimeZone
    // would apply. PostgreSQL reads every form the pattern allows, offsets up to its limit of 15:59.
    const zoned = `CASE WHEN ltrim(substr(${t}, 17), '0123456789:.') = '' THEN ${t} || 'Z' ELSE ${t} END`;
    value = `((${zoned})::timestamptz AT TIME ZONE 'UTC')`;
    valid = `CASE WHEN ${exists} THEN ${value} BETWEEN '0001-01-01 00:00:00'::timestamp AND '9999-12-31 23:59:59.999999'::timestamp ELSE false END`;
    literal = (b) => `${param(timestampText(instantOf(b)))}::timestamp`;
  }
  const tests = [...(c.min === undefined ? [] : [`${value} >= ${literal(c.min)}`]), ...(c.max === undefined ? [] : [`${value} <= ${literal(c.max)}`])];
  return [
    { rule: c.type, detail: TIME_FORM_DETAIL[c.type], bad: `${t} IS NOT NULL AND NOT ${isForm}` },
    { rule: c.type, detail: TIME_EXISTS_DETAIL[c.type], bad: `CASE WHEN ${isForm} THEN NOT (${valid}) ELSE false END` },
    ...(tests.length === 0 ? [] : [{ rule: 'bounds' as const, detail: timeBoundsDetail(c), bad: `CASE WHEN ${isForm} THEN CASE WHEN ${valid} THEN NOT (${tests.join(' AND ')}) ELSE false END ELSE false END` }]),
    ...requiredRule(c, text),
  ];
}

/** Whether the fields (texts of digits) make a day of the calendar, years 0001 to 9999, without a cast that could fail. */
function dayExists(y: string, m: string, d: string): string {
  return `CASE WHEN ${y}::int >= 1 AND ${m}::int BETWEEN 1 AND 12 THEN ${d}::int BETWEEN 1 AND extract(day FROM make_date(${y}::int, ${m}::int, 1) + interval '1 month - 1 day')::int ELSE false END`;
}

/**
 * A date or timestamp column stored as a date or a timestamp with or without time zone (what holds() of
 * postgres-snapshot.ts allows besides text): the rules over its value, as fast as a number's. Its text is
 * ISO (DateStyle ISO, TimeZone UTC, postgres-client.ts), which column-rules.ts refuses for a year beyond 0001 to 9999
 * (BC, five digits, infinity) under the rule of the form: so the same verdict here, and no day that does not exist.
 */
function storedTimeRules(c: TimeColumn, column: string, type: string, text: string, param: (value: unknown) => string): ColumnRule[] {
  const literal = (b: string) => {
    if (c.type === 'date') return `${param(b)}::date`;
    const utc = `${param(timestampText(instantOf(b)))}::timestamp`;
    return type.endsWith('with time zone') ? `(${utc} AT TIME ZONE 'UTC')` : utc;
  };
  const inYears = `${column} BETWEEN ${literal(c.type === 'date' ? '0001-01-01' : '0001-01-01 00:00')} AND ${literal(c.type === 'date' ? '9999-12-31' : '9999-12-31 23:59:59.999999')}`;
  const tests = [...(c.min === undefined ? [] : [`${column} >= ${literal(c.min)}`]), ...(c.max === undefined ? [] : [`${column} <= ${literal(c.max)}`])];
  return [
    { rule: c.type, detail: TIME_FORM_DETAIL[c.type], bad: `${column} IS NOT NULL AND NOT (${inYears})` },
    ...(tests.length === 0 ? [] : [{ rule: 'bounds' as const, detail: timeBoundsDetail(c), bad: `${inYears} AND NOT (${tests.join(' AND ')})` }]),
    ...requiredRule(c, text),
  ];
}
