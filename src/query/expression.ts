import { sumCouldWrap } from '../crypto/shares.js';
import { CleanroomError } from '../errors.js';
import { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_NODES, MAX_EXPRESSION_SCALE, MAX_TABLE_ROWS } from '../limits.js';
import type { Column, Table } from '../manifest/schema.js';
import type { Aggregate, ColumnRef, Condition, NumericExpression } from './ast.js';
import { predicatesOf, tablesOf } from './condition.js';
import type { Scope } from './from.js';
import { literal } from './literal.js';
import { child, children, describe, invalid, text, type Node } from './tree.js';
import { conditionClause } from './where.js';

/**
 * The arithmetic inside SUM, AVG, VAR_* and STDDEV_* (SPEC §5): exact integers in units of 10^-scale, NULL in and
 * NULL out. Parsed here from DuckDB's tree; its scale, its interval over the declared bounds (the sensitivity of its
 * sums, SPEC §10.2, and the wrap check) and its DuckDB SQL are computed here too, so they never disagree.
 */

export const EXPRESSION_FORMS =
  "one table's integer and decimal columns, numeric constants (2, -0.5), +, -, *, unary minus, parentheses, and CASE WHEN condition THEN expression ... [ELSE expression] END (THEN NULL and ELSE NULL allowed; conditions as in WHERE, on that table's dimensions)";

const OPERATORS: ReadonlyMap<string, string> = new Map([
  ['/', 'division (/)'],
  ['//', 'integer division (//)'],
  ['%', 'modulo (%)'],
  ['**', 'power (**)'],
  ['^', 'power (^)'],
  ['||', 'concatenation (||)'],
]);

/** `n` as an aggregate's argument: a column, or an expression over columns of one table. `fn` names the aggregate. */
export function numericExpression(n: Node, scope: Scope, fn: string): NumericExpression {
  const e = expression(n, scope, fn, false);
  const tables = [...new Set([...valueColumnsOf(e).map((c) => c.table), ...conditionsOf(e).flatMap(tablesOf)])];
  if (tables.length === 0) throw invalid(`${fn}(...) names no column: an aggregate's expression reads columns of one table; allowed: ${EXPRESSION_FORMS}`);
  if (tables.length > 1) {
    throw invalid(`${fn}(...) reads columns of ${tables.join(' and ')}: an aggregate's expression is over one table's columns, which its owner computes row by row; allowed: ${EXPRESSION_FORMS}`);
  }
  const nodes = sizeOf(e);
  if (nodes > MAX_EXPRESSION_NODES) throw new CleanroomError('LIMIT_EXCEEDED', `${fn}(...) has ${nodes} terms (columns, constants, operators, CASE branches, predicates); at most ${MAX_EXPRESSION_NODES}`);
  const levels = depthOf(e);
  if (levels > MAX_EXPRESSION_DEPTH) throw new CleanroomError('LIMIT_EXCEEDED', `${fn}(...) nests ${levels} levels of operators, CASE and conditions; at most ${MAX_EXPRESSION_DEPTH}`);
  return e;
}

function expression(n: Node, scope: Scope, fn: string, caseResult: boolean): NumericExpression {
  const refuse = (what: string) => invalid(`${what} is not supported in ${fn}(...); allowed: ${EXPRESSION_FORMS}`);
  switch (n.class) {
    case 'COLUMN_REF':
      return { kind: 'column', column: scope.column(n) };
    case 'CONSTANT': {
      if (child(n, 'value').is_null === true) {
        if (caseResult) return { kind: 'null' };
        throw refuse('NULL as an operand (it makes the expression NULL on every row; write it only as a CASE result)');
      }
      const lit = literal(n);
      if (lit.type !== 'number') throw refuse(`a ${lit.type} literal in arithmetic`);
      return { kind: 'constant', value: lit.value };
    }
    case 'CAST':
      throw refuse('CAST (and a boolean, date or timestamp literal)');
    case 'CASE':
      return caseOf(n, scope, fn);
    case 'FUNCTION': {
      const name = text(n, 'function_name');
      if (n.is_operator !== true) throw refuse(`${describe(n)} (no function is allowed inside an aggregate's expression)`);
      const args = children(n, 'children');
      const [a, b] = args;
      const operand = (x: Node) => expression(x, scope, fn, false);
      if (name === '-' && args.length === 1) return { kind: 'negate', operand: operand(a!) };
      if (name === '+' && args.length === 1) return operand(a!);
      if (args.length === 2 && (name === '+' || name === '-' || name === '*')) {
        return { kind: name === '+' ? 'add' : name === '-' ? 'subtract' : 'multiply', left: operand(a!), right: operand(b!) };
      }
      throw refuse(OPERATORS.get(name) ?? describe(n));
    }
    default:
      throw refuse(describe(n));
  }
}

function caseOf(n: Node, scope: Scope, fn: string): NumericExpression {
  const checks = n.case_checks;
  if (!Array.isArray(checks) || checks.length === 0) throw invalid(`CASE in ${fn}(...) needs WHEN condition THEN expression`);
  const branches = checks.map((c: Node) => ({ when: conditionClause(child(c, 'when_expr'), scope), then: expression(child(c, 'then_expr'), scope, fn, true) }));
  return { kind: 'case', branches, otherwise: expression(child(n, 'else_expr'), scope, fn, true) };
}

function sizeOf(e: NumericExpression): number {
  switch (e.kind) {
    case 'column':
    case 'constant':
    case 'null':
      return 1;
    case 'negate':
      return 1 + sizeOf(e.operand);
    case 'add':
    case 'subtract':
    case 'multiply':
      return 1 + sizeOf(e.left) + sizeOf(e.right);
    case 'case':
      return 1 + sizeOf(e.otherwise) + e.branches.reduce((s, b) => s + predicatesOf(b.when).length + sizeOf(b.then), 0);
  }
}

function depthOf(e: NumericExpression): number {
  switch (e.kind) {
    case 'column':
    case 'constant':
    case 'null':
      return 0;
    case 'negate':
      return 1 + depthOf(e.operand);
    case 'add':
    case 'subtract':
    case 'multiply':
      return 1 + Math.max(depthOf(e.left), depthOf(e.right));
    case 'case':
      return 1 + Math.max(depthOf(e.otherwise), ...e.branches.map((b) => Math.max(conditionDepth(b.when), depthOf(b.then))));
  }
}

function conditionDepth(c: Condition): number {
  return c.kind === 'and' || c.kind === 'or' ? 1 + Math.max(...c.operands.map(conditionDepth)) : 0;
}

/** The one table an expression parsed by numericExpression reads. */
export function expressionTable(e: NumericExpression): string {
  return (valueColumnsOf(e)[0] ?? predicatesOf(conditionsOf(e)[0]!)[0]!.column).table;
}

/** The columns whose values the expression computes with (not those its CASE conditions test), in order, each once. */
export function valueColumnsOf(e: NumericExpression): ColumnRef[] {
  const out: ColumnRef[] = [];
  const walk = (x: NumericExpression): void => {
    switch (x.kind) {
      case 'column':
        if (!out.some((c) => c.table === x.column.table && c.column === x.column.column)) out.push(x.column);
        return;
      case 'negate':
        return walk(x.operand);
      case 'add':
      case 'subtract':
      case 'multiply':
        walk(x.left);
        return walk(x.right);
      case 'case':
        x.branches.forEach((b) => walk(b.then));
        return walk(x.otherwise);
      default:
        return;
    }
  };
  walk(e);
  return out;
}

/**
 * The expression's degree as a polynomial in its columns' values: a column 1, a constant 0, a product the sum of its
 * factors', anything else the highest of its parts'. A sum of degree k over a group opens its k-th power sums, which
 * with the lower ones give every value of a group of up to k people (Newton's identities).
 */
export function expressionDegree(e: NumericExpression): number {
  switch (e.kind) {
    case 'column':
      return 1;
    case 'constant':
    case 'null':
      return 0;
    case 'negate':
      return expressionDegree(e.operand);
    case 'add':
    case 'subtract':
      return Math.max(expressionDegree(e.left), expressionDegree(e.right));
    case 'multiply':
      return expressionDegree(e.left) + expressionDegree(e.right);
    case 'case':
      return Math.max(expressionDegree(e.otherwise), ...e.branches.map((b) => expressionDegree(b.then)));
  }
}

/**
 * The highest power of `column` in the expression, as expanded into a polynomial (no cancellation counted): what a
 * sum of it reveals of that column's squares, cubes, … (`(t.a + t.b) * (t.a - t.b)` holds t.a²).
 */
export function columnPower(e: NumericExpression, column: ColumnRef): number {
  switch (e.kind) {
    case 'column':
      return e.column.table === column.table && e.column.column === column.column ? 1 : 0;
    case 'constant':
    case 'null':
      return 0;
    case 'negate':
      return columnPower(e.operand, column);
    case 'add':
    case 'subtract':
      return Math.max(columnPower(e.left, column), columnPower(e.right, column));
    case 'multiply':
      return columnPower(e.left, column) + columnPower(e.right, column);
    case 'case':
      return Math.max(columnPower(e.otherwise, column), ...e.branches.map((b) => columnPower(b.then, column)));
  }
}

/** The conditions of the expression's CASEs, in order. */
export function conditionsOf(e: NumericExpression): Condition[] {
  switch (e.kind) {
    case 'negate':
      return conditionsOf(e.operand);
    case 'add':
    case 'subtract':
    case 'multiply':
      return [...conditionsOf(e.left), ...conditionsOf(e.right)];
    case 'case':
      return [...e.branches.flatMap((b) => [b.when, ...conditionsOf(b.then)]), ...conditionsOf(e.otherwise)];
    default:
      return [];
  }
}

/** An aggregate as SELECT writes it, for messages: COUNT(*), SUM(t.c), VAR_POP(t.a * t.b), … */
export function aggregateText(a: Aggregate): string {
  if (a.fn === 'count') return 'COUNT(*)';
  if (a.fn === 'count-values') return `COUNT(${a.column.table}.${a.column.column})`;
  if (a.fn === 'count-distinct') return `COUNT(DISTINCT ${a.column.table}.${a.column.column})`;
  return `${a.fn.toUpperCase()}(${'column' in a ? `${a.column.table}.${a.column.column}` : expressionText(a.expression)})`;
}

/** The expression as a message (and a HAVING or ORDER BY reference) shows it; CASE conditions abbreviated. */
export function expressionText(e: NumericExpression, top = true): string {
  const wrap = (s: string) => (top ? s : `(${s})`);
  switch (e.kind) {
    case 'column':
      return `${e.column.table}.${e.column.column}`;
    case 'constant':
      return e.value;
    case 'null':
      return 'NULL';
    case 'negate':
      return `-${expressionText(e.operand, false)}`;
    case 'add':
    case 'subtract':
    case 'multiply':
      return wrap(`${expressionText(e.left, false)} ${e.kind === 'add' ? '+' : e.kind === 'subtract' ? '-' : '*'} ${expressionText(e.right, false)}`);
    case 'case':
      return `CASE ${e.branches.map((b) => `WHEN ... THEN ${expressionText(b.then)}`).join(' ')}${e.otherwise.kind === 'null' ? '' : ` ELSE ${expressionText(e.otherwise)}`} END`;
  }
}

function columnIn(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw new RangeError(`expression: no column ${name} in ${table.name}`);
  return c;
}

/** The scale of a numeric column: a decimal's, else 0; non-numeric columns have none. */
function columnScale(c: Column): number {
  if (c.type === 'decimal') return c.scale;
  if (c.type === 'integer') return 0;
  throw new CleanroomError('QUERY_INVALID', `${c.name} is a ${c.type} column; arithmetic takes integer and decimal columns`);
}

function constantScale(value: string): number {
  return value.split('.')[1]?.length ?? 0;
}

/** The units of 10^-scale the expression's values are in: a column's scale, the larger of +/-, the sum of *. */
export function expressionScale(e: NumericExpression, table: Table): number {
  switch (e.kind) {
    case 'column':
      return columnScale(columnIn(table, e.column.column));
    case 'constant':
      return constantScale(e.value);
    case 'null':
      return 0;
    case 'negate':
      return expressionScale(e.operand, table);
    case 'add':
    case 'subtract':
      return Math.max(expressionScale(e.left, table), expressionScale(e.right, table));
    case 'multiply':
      return expressionScale(e.left, table) + expressionScale(e.right, table);
    case 'case':
      return Math.max(...[...e.branches.map((b) => b.then), e.otherwise].filter((x) => x.kind !== 'null').map((x) => expressionScale(x, table)), 0);
  }
}

/** Inclusive bounds of an integer value in units; `worst` the largest |value| of any step computing it. */
export interface UnitRange {
  readonly lo: bigint;
  readonly hi: bigint;
  readonly worst: bigint;
}

const abs = (x: bigint) => (x < 0n ? -x : x);
const lesser = (xs: readonly bigint[]) => xs.reduce((a, b) => (b < a ? b : a));
const greater = (xs: readonly bigint[]) => xs.reduce((a, b) => (b > a ? b : a));

/** A declared bound (a JS number of at most `scale` decimals) in units of 10^-scale, rounded outwards. */
export function boundUnits(x: number, scale: number, round: 'floor' | 'ceil'): bigint {
  return BigInt(Math[round](x * 10 ** scale));
}

/** The interval of a numeric column's values, in units of 10^-its scale, from its declared min and max. */
export function columnRange(c: Column): UnitRange {
  if (c.type !== 'integer' && c.type !== 'decimal') throw new RangeError(`columnRange: ${c.name} is not numeric`);
  const s = columnScale(c);
  const lo = boundUnits(c.min, s, 'floor');
  const hi = boundUnits(c.max, s, 'ceil');
  return { lo, hi, worst: greater([abs(lo), abs(hi)]) };
}

/**
 * Interval arithmetic over the declared bounds: every value the expression can take on a row within them lies in
 * [lo, hi], at its own scale (expressionScale). NULL rows add nothing to a sum, so NULL results do not widen it; an
 * expression that is NULL on every row has the range [0, 0].
 */
export function expressionRange(e: NumericExpression, table: Table): UnitRange {
  return range(e, table) ?? { lo: 0n, hi: 0n, worst: 0n };
}

function range(e: NumericExpression, table: Table): UnitRange | null {
  const scale = (x: NumericExpression) => expressionScale(x, table);
  const at = (x: NumericExpression, s: number): UnitRange | null => {
    const r = range(x, table);
    if (!r) return null;
    const f = 10n ** BigInt(s - scale(x));
    return { lo: r.lo * f, hi: r.hi * f, worst: greater([r.worst, abs(r.lo * f), abs(r.hi * f)]) };
  };
  switch (e.kind) {
    case 'column':
      return columnRange(columnIn(table, e.column.column));
    case 'constant': {
      const v = BigInt(e.value.replace('.', ''));
      return { lo: v, hi: v, worst: abs(v) };
    }
    case 'null':
      return null;
    case 'negate': {
      const r = range(e.operand, table);
      return r && { lo: -r.hi, hi: -r.lo, worst: r.worst };
    }
    case 'add':
    case 'subtract': {
      const s = scale(e);
      const l = at(e.left, s);
      const r = at(e.right, s);
      if (!l || !r) return null;
      const lo = e.kind === 'add' ? l.lo + r.lo : l.lo - r.hi;
      const hi = e.kind === 'add' ? l.hi + r.hi : l.hi - r.lo;
      return { lo, hi, worst: greater([l.worst, r.worst, abs(lo), abs(hi)]) };
    }
    case 'multiply': {
      const l = range(e.left, table);
      const r = range(e.right, table);
      if (!l || !r) return null;
      const corners = [l.lo * r.lo, l.lo * r.hi, l.hi * r.lo, l.hi * r.hi];
      const lo = lesser(corners);
      const hi = greater(corners);
      return { lo, hi, worst: greater([l.worst, r.worst, abs(lo), abs(hi)]) };
    }
    case 'case': {
      const s = scale(e);
      const rs = [...e.branches.map((b) => b.then), e.otherwise].map((x) => at(x, s)).filter((r): r is UnitRange => r !== null);
      if (rs.length === 0) return null;
      return { lo: lesser(rs.map((r) => r.lo)), hi: greater(rs.map((r) => r.hi)), worst: greater(rs.map((r) => r.worst)) };
    }
  }
}

/** The largest square of a value in the range: what one row adds to a sum of squares. */
export function maxSquare(r: UnitRange): bigint {
  return greater([r.lo * r.lo, r.hi * r.hi]);
}

/**
 * Refuses (QUERY_INVALID) an expression whose scale passes MAX_EXPRESSION_SCALE, or whose sum (with `squares`, sum of
 * squares) over MAX_TABLE_ROWS rows of values within the declared bounds could wrap the 2^128 share ring, or any of
 * whose steps could leave DuckDB's 128-bit integers on one row. `what` names the aggregate.
 */
export function assertExpressionFits(e: NumericExpression, table: Table, what: string, squares: boolean): void {
  const scale = expressionScale(e, table);
  if (scale > MAX_EXPRESSION_SCALE) {
    throw new CleanroomError('QUERY_INVALID', `${what} computes in units of 10^-${scale} (a product's scale is the sum of its factors'); at most 10^-${MAX_EXPRESSION_SCALE}: multiply fewer decimals`);
  }
  const r = expressionRange(e, table);
  const bounds = valueColumnsOf(e)
    .map((ref) => columnIn(table, ref.column))
    .map((c) => (c.type === 'integer' || c.type === 'decimal' ? `${table.name}.${c.name} in [${c.min}, ${c.max}]` : c.name))
    .join(', ');
  const values = `its values within the declared bounds (${bounds}) reach ${r.worst} units of 10^-${scale}`;
  if (sumCouldWrap(r.worst, MAX_TABLE_ROWS)) {
    throw new CleanroomError('QUERY_INVALID', `${what} could wrap the 2^128 share ring: ${values}, and a sum over ${MAX_TABLE_ROWS} rows of them passes 2^127`);
  }
  if (squares && sumCouldWrap(maxSquare(r), MAX_TABLE_ROWS)) {
    throw new CleanroomError('QUERY_INVALID', `${what} could wrap the 2^128 share ring: ${values}, and a sum over ${MAX_TABLE_ROWS} rows of their squares (${maxSquare(r)}) passes 2^127`);
  }
}

/**
 * The DuckDB SQL of the expression's value on one row, a HUGEINT in units of 10^-expressionScale, NULL as SQL makes
 * it. `condition` writes a CASE condition (its literals bound as parameters by the data layer).
 */
export function expressionSql(e: NumericExpression, table: Table, quote: (name: string) => string, condition: (c: Condition) => string): string {
  const scale = (x: NumericExpression) => expressionScale(x, table);
  const at = (x: NumericExpression, s: number): string => {
    const sql = expressionSql(x, table, quote, condition);
    const k = s - scale(x);
    return k === 0 || x.kind === 'null' ? sql : `(${sql} * CAST(${10n ** BigInt(k)} AS HUGEINT))`;
  };
  switch (e.kind) {
    case 'column':
      return columnUnitsSql(columnIn(table, e.column.column), quote);
    case 'constant':
      return `CAST(${BigInt(e.value.replace('.', ''))} AS HUGEINT)`;
    case 'null':
      return 'CAST(NULL AS HUGEINT)';
    case 'negate':
      return `(- ${expressionSql(e.operand, table, quote, condition)})`;
    case 'add':
    case 'subtract':
      return `(${at(e.left, scale(e))} ${e.kind === 'add' ? '+' : '-'} ${at(e.right, scale(e))})`;
    case 'multiply':
      return `(${expressionSql(e.left, table, quote, condition)} * ${expressionSql(e.right, table, quote, condition)})`;
    case 'case': {
      const s = scale(e);
      return `(CASE ${e.branches.map((b) => `WHEN ${condition(b.when)} THEN ${at(b.then, s)}`).join(' ')} ELSE ${at(e.otherwise, s)} END)`;
    }
  }
}

/** A numeric column's value in units of 10^-scale, as a HUGEINT. */
export function columnUnitsSql(c: Column, quote: (name: string) => string): string {
  return c.type === 'decimal' ? `CAST(${quote(c.name)} * ${10n ** BigInt(c.scale)} AS HUGEINT)` : `CAST(${quote(c.name)} AS HUGEINT)`;
}
