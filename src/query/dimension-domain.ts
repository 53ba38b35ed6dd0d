import { RuleViolation, CleanroomError } from '../errors.js';
import { MAX_GROUPS } from '../limits.js';
import { everyRowHasValue, type Column, type Table } from '../manifest/schema.js';
import { dateText, daysOf, dayOfInstant, instantOf } from '../manifest/time-value.js';
import type { Cell, Dimension, TruncUnit } from './ast.js';
import { dimensionText } from './dimension.js';

/**
 * Every label a dimension can take, from what the manifest declares, in the order result rows take (NULL last): a
 * string column's declared values, a boolean's two, an integer's or a date's every value between its bounds, a
 * truncated date's every period between them, an extracted field's range, a CASE's labels. Under a privacy policy and
 * on a federated table every group is dealt, zeros included (SPEC §4.3, §10.2), so the domain must be known without
 * reading the data; `why` says which of the two needs it, for the refusal that says what to declare.
 */
export function dimensionDomain(d: Dimension, table: Table, why: string): Cell[] {
  if (d.kind === 'case') {
    const labels = [...new Set([...d.branches.map((b) => b.then), ...(d.otherwise !== null ? [d.otherwise] : [])])].sort(byUtf8);
    return d.otherwise === null ? [...labels, null] : labels;
  }
  const c = table.columns.find((x) => x.name === d.column.column)!;
  const values = d.kind === 'column' ? columnValues(c) : d.kind === 'extract' ? fieldValues(d.field, c) : periods(d.unit, c);
  if (values === undefined) {
    throw new RuleViolation(`${table.name}.columns.${c.name}${c.type === 'string' ? '.values' : ''}`, `GROUP BY ${dimensionText(d)} ${why} needs every group known from the manifest`, whatToDeclare(d, c));
  }
  return everyRowHasValue(c) ? values : [...values, null];
}

/** The product of the dimensions' domains, in result order, or LIMIT_EXCEEDED past MAX_GROUPS. */
export function groupDomain(dimensions: readonly Dimension[], table: Table, why: string): Cell[][] {
  const domains = dimensions.map((d) => dimensionDomain(d, table, why));
  const size = domains.reduce((n, vs) => n * vs.length, 1);
  if (size > MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY over ${size} possible groups; at most ${MAX_GROUPS}`);
  return domains.reduce<Cell[][]>((acc, vs) => acc.flatMap((prefix) => vs.map((v) => [...prefix, v])), [[]]);
}

/** Whether every dimension's domain is known from the manifest (then the groups are dealt even without a policy). */
export function domainDeclared(dimensions: readonly Dimension[], table: Table): boolean {
  return dimensions.every((d) => {
    if (d.kind !== 'column') return false;
    const c = table.columns.find((x) => x.name === d.column.column);
    return c?.type === 'string' && c.values !== undefined;
  });
}

function columnValues(c: Column): Cell[] | undefined {
  switch (c.type) {
    case 'string':
      return c.values ? [...new Set(c.values)].sort(byUtf8) : undefined;
    case 'boolean':
      return ['false', 'true'];
    case 'integer':
      return range(c.min, c.max);
    case 'date':
      return c.min !== undefined && c.max !== undefined ? days(daysOf(c.min), daysOf(c.max)) : undefined;
    default:
      return undefined;
  }
}

function fieldValues(field: Extract<Dimension, { kind: 'extract' }>['field'], c: Column): Cell[] | undefined {
  switch (field) {
    case 'quarter':
      return range(1, 4);
    case 'month':
      return range(1, 12);
    case 'dow':
      return range(0, 6);
    case 'hour':
      return range(0, 23);
    case 'year': {
      const span = daySpan(c);
      return span && range(Number(dateText(span[0]).slice(0, 4)), Number(dateText(span[1]).slice(0, 4)));
    }
  }
}

/** The start of every period from the one holding min to the one holding max. */
function periods(unit: TruncUnit, c: Column): Cell[] | undefined {
  const span = daySpan(c);
  if (!span) return undefined;
  const out: Cell[] = [];
  for (let day = truncDay(unit, span[0]); day <= span[1]; day = nextPeriod(unit, day)) {
    if (out.length === MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY date_trunc('${unit}', ${c.name}) spans more than ${MAX_GROUPS} periods between its bounds; at most ${MAX_GROUPS}`);
    out.push(dateText(day));
  }
  return out;
}

/** The first and last day a date or timestamp column's bounds allow (UTC). */
function daySpan(c: Column): readonly [number, number] | undefined {
  if ((c.type !== 'date' && c.type !== 'timestamp') || c.min === undefined || c.max === undefined) return undefined;
  return c.type === 'date' ? [daysOf(c.min), daysOf(c.max)] : [dayOfInstant(instantOf(c.min)), dayOfInstant(instantOf(c.max))];
}

/** The first day of the period holding `day`: ISO weeks start on Monday, quarters in January, April, July, October. */
export function truncDay(unit: TruncUnit, day: number): number {
  if (unit === 'day') return day;
  if (unit === 'week') return day - ((((day + 3) % 7) + 7) % 7); // 1970-01-01 was a Thursday
  const t = dateText(day);
  const [y, m] = [t.slice(0, 4), Number(t.slice(5, 7))];
  const month = unit === 'month' ? m : unit === 'quarter' ? m - ((m - 1) % 3) : 1;
  return daysOf(`${y}-${String(month).padStart(2, '0')}-01`);
}

function nextPeriod(unit: TruncUnit, start: number): number {
  if (unit === 'day') return start + 1;
  if (unit === 'week') return start + 7;
  const t = dateText(start);
  const [y, m] = [Number(t.slice(0, 4)), Number(t.slice(5, 7))];
  const months = unit === 'month' ? 1 : unit === 'quarter' ? 3 : 12;
  const next = y * 12 + (m - 1) + months;
  // Past 9999-12 no date exists (SPEC §1): the period after the last one ends the walk.
  if (next >= 10_000 * 12) return Number.POSITIVE_INFINITY;
  return daysOf(`${String(Math.floor(next / 12)).padStart(4, '0')}-${String((next % 12) + 1).padStart(2, '0')}-01`);
}

function whatToDeclare(d: Dimension, c: Column): string {
  if (d.kind === 'column' && c.type === 'string') return `values for ${c.name} in the manifest`;
  if (c.type === 'date' || c.type === 'timestamp') return `min and max for ${c.name} in the manifest (the groups are then every ${d.kind === 'date-trunc' ? d.unit : d.kind === 'extract' ? d.field : 'day'} between them)`;
  return 'GROUP BY string columns with declared values, booleans, integers, dates with min and max, date_trunc or extract of them, or CASE labels';
}

/** from..to; past MAX_GROUPS values, LIMIT_EXCEEDED with their number (an integer's bounds can span billions). */
function range(from: number, to: number): number[] {
  const n = to - from + 1;
  if (n > MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY over ${n} possible values of one dimension; at most ${MAX_GROUPS}`);
  return Array.from({ length: Math.max(0, n) }, (_, i) => from + i);
}

function days(from: number, to: number): string[] {
  return range(from, to).map(dateText);
}

/** Text in the order the result rows take, by UTF-8 bytes (src/query/result.ts compareLabelCells). */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
