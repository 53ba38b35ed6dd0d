import { MAX_CASE_BRANCHES, MAX_LABEL_CHARS } from '../limits.js';
import type { Table } from '../manifest/schema.js';
import type { ColumnRef, Dimension, ExtractField, TruncUnit } from './ast.js';
import { columnRefsOf } from './condition.js';
import type { Scope } from './from.js';
import { child, children, describe, invalid, text, type Node } from './tree.js';
import { conditionClause } from './where.js';

export const DIMENSION_FORMS =
  "a column t.c, date_trunc('day'|'week'|'month'|'quarter'|'year', t.d), extract(year|quarter|month|dow|hour FROM t.d), " +
  "or CASE WHEN <condition> THEN 'label' ... [ELSE 'label'] END over one table's columns";

const TRUNC_UNITS: ReadonlySet<string> = new Set<TruncUnit>(['day', 'week', 'month', 'quarter', 'year']);
const EXTRACT_FIELDS: ReadonlySet<string> = new Set<ExtractField>(['year', 'quarter', 'month', 'dow', 'hour']);

/** A dimension as SELECT or GROUP BY writes it, or QUERY_INVALID naming what was found and what is allowed. */
export function dimensionOf(n: Node, scope: Scope, clause: 'SELECT' | 'GROUP BY'): Dimension {
  if (n.class === 'COLUMN_REF') return { kind: 'column', column: scope.column(n) };
  if (n.class === 'FUNCTION') return timeFunction(n, scope, clause);
  if (n.class === 'CASE') return caseDimension(n, scope);
  if (n.class === 'CONSTANT' && clause === 'GROUP BY') throw invalid('GROUP BY by position is not supported: name the column, e.g. GROUP BY t.c');
  throw invalid(`${describe(n)} is not supported in ${clause}: a dimension is ${DIMENSION_FORMS}`);
}

function timeFunction(n: Node, scope: Scope, clause: string): Dimension {
  const fn = text(n, 'function_name');
  // DuckDB writes extract(f FROM x) as date_part('f', x), in schema main.
  if ((fn !== 'date_trunc' && fn !== 'date_part') || text(n, 'catalog') !== '' || (text(n, 'schema') !== '' && text(n, 'schema') !== 'main')) {
    throw invalid(`${describe(n)} is not supported in ${clause}: a dimension is ${DIMENSION_FORMS}`);
  }
  const name = fn === 'date_trunc' ? 'date_trunc' : 'extract';
  if (n.distinct === true || n.filter !== null) throw invalid(`${name}(...) takes a field and a column, nothing else`);
  const args = children(n, 'children');
  const [part, arg] = args;
  const field = part?.class === 'CONSTANT' ? child(part, 'value').value : undefined;
  if (args.length !== 2 || typeof field !== 'string' || arg?.class !== 'COLUMN_REF') {
    throw invalid(fn === 'date_trunc' ? "date_trunc takes a unit and a column, e.g. date_trunc('week', t.d)" : 'extract takes a field and a column, e.g. extract(month FROM t.d)');
  }
  const column = scope.column(arg);
  const f = field.toLowerCase();
  if (fn === 'date_trunc') {
    if (!TRUNC_UNITS.has(f)) throw invalid(`date_trunc('${field}', ...) is not supported: the units are ${[...TRUNC_UNITS].map((u) => `'${u}'`).join(', ')}`);
    return { kind: 'date-trunc', unit: f as TruncUnit, column };
  }
  if (!EXTRACT_FIELDS.has(f)) throw invalid(`extract(${field} FROM ...) is not supported: the fields are ${[...EXTRACT_FIELDS].join(', ')}`);
  return { kind: 'extract', field: f as ExtractField, column };
}

function caseDimension(n: Node, scope: Scope): Dimension {
  const checks = children(n, 'case_checks');
  if (checks.length > MAX_CASE_BRANCHES) throw invalid(`a CASE dimension has ${checks.length} branches; at most ${MAX_CASE_BRANCHES}`);
  const branches = checks.map((c) => ({ when: conditionClause(child(c, 'when_expr'), scope), then: label(child(c, 'then_expr')) }));
  const otherwise = n.else_expr === null || isNull(child(n, 'else_expr')) ? null : label(child(n, 'else_expr'));
  const dimension: Dimension = { kind: 'case', branches, otherwise };
  const tables = new Set(dimensionColumns(dimension).map((c) => c.table));
  if (tables.size > 1) throw invalid(`a CASE dimension reads columns of ${[...tables].join(' and ')}: each dimension reads one table, whose owner computes it`);
  return dimension;
}

function isNull(n: Node): boolean {
  return n.class === 'CONSTANT' && child(n, 'value').is_null === true;
}

/** THEN and ELSE of a CASE dimension: string labels, each a label a result can carry. */
function label(n: Node): string {
  const v = n.class === 'CONSTANT' ? child(n, 'value') : null;
  if (v === null || text(child(v, 'type'), 'id') !== 'VARCHAR' || typeof v.value !== 'string') {
    throw invalid(`${describe(n)} is not supported after THEN or ELSE of a CASE dimension: write a string label, e.g. THEN 'high'`);
  }
  if (v.value.length === 0 || v.value.length > MAX_LABEL_CHARS) throw invalid(`a CASE label has 1 to ${MAX_LABEL_CHARS} characters`);
  return v.value;
}

/** The columns a dimension reads, each once, in the order written. */
export function dimensionColumns(d: Dimension): ColumnRef[] {
  if (d.kind !== 'case') return [d.column];
  const refs = d.branches.flatMap((b) => columnRefsOf(b.when));
  return refs.filter((r, i) => refs.findIndex((x) => x.table === r.table && x.column === r.column) === i);
}

/** The table whose owner computes a dimension. */
export function dimensionTable(d: Dimension): string {
  return dimensionColumns(d)[0]!.table;
}

/** Whether two dimensions are the same (GROUP BY and SELECT must list the same ones). */
export function sameDimension(a: Dimension, b: Dimension): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The output name of a dimension without an alias: the column, or the column and the unit or field. */
export function dimensionName(d: Dimension): string {
  switch (d.kind) {
    case 'column':
      return d.column.column;
    case 'date-trunc':
      return `${d.column.column}_${d.unit}`;
    case 'extract':
      return `${d.column.column}_${d.field}`;
    case 'case':
      return 'case';
  }
}

/** A dimension as a message shows it. */
export function dimensionText(d: Dimension): string {
  switch (d.kind) {
    case 'column':
      return `${d.column.table}.${d.column.column}`;
    case 'date-trunc':
      return `date_trunc('${d.unit}', ${d.column.table}.${d.column.column})`;
    case 'extract':
      return `extract(${d.field} FROM ${d.column.table}.${d.column.column})`;
    case 'case':
      return `CASE ... ('${d.branches.map((b) => b.then).join("', '")}'${d.otherwise !== null ? `, '${d.otherwise}'` : ''})`;
  }
}

/** What a dimension's labels are, for the literals HAVING compares them with: `table` holds its columns. */
export type LabelType = 'string' | 'number' | 'date' | 'timestamp' | 'boolean';

export function labelType(d: Dimension, table: Table): LabelType {
  if (d.kind === 'case') return 'string';
  if (d.kind === 'extract') return 'number';
  if (d.kind === 'date-trunc') return 'date';
  const type = table.columns.find((c) => c.name === d.column.column)?.type;
  return type === 'integer' || type === 'decimal' ? 'number' : (type ?? 'string');
}
