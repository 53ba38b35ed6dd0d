import { CleanroomError } from '../errors.js';
import { dimensionOf } from './dimension.js';
import { MAX_LIMIT } from '../limits.js';
import type { AfterReleaseClauses, ComparisonOp, HavingCondition, OrderTerm, OutputRef } from './ast.js';
import type { Scope } from './from.js';
import { literal } from './literal.js';
import { aggregateCall } from './select.js';
import { child, children, COMPARISONS, describe, invalid, MIRRORED, optionalChild, text, texts, type Node } from './tree.js';

/**
 * HAVING, ORDER BY, LIMIT and OFFSET as written. They act on the released result table at each receiver and open
 * nothing (SPEC §5); the planner checks that they name only outputs (src/query/after-release-plan.ts).
 */

const OUTPUT_FORMS = "an output column, by its name (the alias, or e.g. count, count_amount, sum_amount) or as SELECT writes it (t.dim, date_trunc('week', t.d), CASE ... END, COUNT(*), COUNT(t.c), COUNT(DISTINCT t.key), SUM(t.c), AVG(t.c), VAR_POP(t.c), SUM(t.a * t.b), ...)";
const HAVING_FORMS = 'an output column compared with a literal (=, !=, <, <=, >, >=), IN (...), BETWEEN x AND y, IS [NOT] NULL, joined with AND';
const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set(['count_star', 'count', 'sum', 'avg', 'var_samp', 'variance', 'var_pop', 'stddev_samp', 'stddev', 'stddev_pop']);

// DuckDB's default null order (default_null_order = 'nulls_last' in DuckDB 1.5, whose parser reads the query): NULLs
// last whichever the direction, as the result's default label order has them. PostgreSQL puts them first for DESC.
const DIRECTIONS: ReadonlyMap<string, boolean> = new Map([['ORDER_DEFAULT', false], ['ASCENDING', false], ['DESCENDING', true]]);
const NULL_ORDERS: ReadonlyMap<string, boolean> = new Map([['ORDER_DEFAULT', false], ['NULLS LAST', false], ['NULLS FIRST', true]]);

/** The clauses over the released result, or undefined when the query writes none of them. */
export function afterReleaseClauses(select: Node, scope: Scope): AfterReleaseClauses | undefined {
  const having = optionalChild(select, 'having');
  const modifiers = children(select, 'modifiers');
  const order = modifiers.find((m) => m.type === 'ORDER_MODIFIER');
  const limits = modifiers.find((m) => m.type === 'LIMIT_MODIFIER');
  if (having === null && order === undefined && limits === undefined) return undefined;
  return {
    having: having === null ? [] : conjuncts(having).map((n) => condition(n, scope)),
    orderBy: order === undefined ? [] : children(order, 'orders').map((o) => orderTerm(o, scope)),
    limit: limits === undefined ? null : rowCount(limits, 'limit', 'LIMIT'),
    offset: limits === undefined ? 0 : (rowCount(limits, 'offset', 'OFFSET') ?? 0),
  };
}

function conjuncts(n: Node): Node[] {
  if (n.type === 'CONJUNCTION_AND') return children(n, 'children').flatMap(conjuncts);
  if (n.type === 'CONJUNCTION_OR') throw invalid(`OR is not supported in HAVING: combine conditions with AND, or use IN (...); allowed: ${HAVING_FORMS}`);
  return [n];
}

function condition(n: Node, scope: Scope): HavingCondition {
  const op = COMPARISONS.get(String(n.type));
  if (op !== undefined) return comparison(n, op, scope);
  switch (n.type) {
    case 'COMPARE_IN': {
      const [subject, ...values] = children(n, 'children');
      return { output: havingSubject(subject, scope), test: { kind: 'in', values: values.map(literal) } };
    }
    case 'COMPARE_BETWEEN':
      return { output: havingSubject(child(n, 'input'), scope), test: { kind: 'between', low: literal(child(n, 'lower')), high: literal(child(n, 'upper')) } };
    case 'OPERATOR_IS_NULL':
    case 'OPERATOR_IS_NOT_NULL':
      return { output: havingSubject(children(n, 'children')[0], scope), test: { kind: 'null', isNull: n.type === 'OPERATOR_IS_NULL' } };
    case 'OPERATOR_NOT':
      throw invalid(`NOT is not supported in HAVING: negate the comparison itself (!=, <, >=, IS NOT NULL) instead; allowed: ${HAVING_FORMS}`);
    default:
      throw invalid(`${describe(n)} is not supported in HAVING; allowed: ${HAVING_FORMS}`);
  }
}

/** Whether a node is written where an output is named (as opposed to a literal): a column or a function call. */
function namesOutput(n: Node): boolean {
  return n.class === 'COLUMN_REF' || n.class === 'FUNCTION' || n.class === 'CASE';
}

function comparison(n: Node, op: ComparisonOp, scope: Scope): HavingCondition {
  const left = child(n, 'left');
  const right = child(n, 'right');
  if (namesOutput(left) && namesOutput(right)) throw invalid(`comparing two outputs is not supported in HAVING: compare an output column with a literal; allowed: ${HAVING_FORMS}`);
  if (namesOutput(left)) return { output: outputRef(left, scope, 'HAVING'), test: { kind: 'compare', op, value: literal(right) } };
  if (namesOutput(right)) return { output: outputRef(right, scope, 'HAVING'), test: { kind: 'compare', op: MIRRORED[op], value: literal(left) } };
  throw invalid(`${describe(left)} is not supported in HAVING: compare an output column with a literal; allowed: ${HAVING_FORMS}`);
}

function havingSubject(n: Node | undefined, scope: Scope): OutputRef {
  if (n === undefined) throw invalid(`HAVING needs an output column to test; allowed: ${HAVING_FORMS}`);
  return outputRef(n, scope, 'HAVING');
}

/** An unqualified name is an output's name; a qualified column or an aggregate is matched with SELECT by the planner. */
function outputRef(n: Node, scope: Scope, clause: string): OutputRef {
  if (n.class === 'COLUMN_REF') {
    const names = texts(n, 'column_names');
    return names.length === 1 ? { kind: 'name', name: names[0]! } : { kind: 'dimension', dimension: { kind: 'column', column: scope.column(n) } };
  }
  if (n.class === 'CASE' || (n.class === 'FUNCTION' && (text(n, 'function_name') === 'date_trunc' || text(n, 'function_name') === 'date_part'))) {
    return { kind: 'dimension', dimension: dimensionOf(n, scope, 'SELECT') };
  }
  if (n.class === 'FUNCTION' && AGGREGATE_FUNCTIONS.has(text(n, 'function_name'))) return { kind: 'aggregate', aggregate: aggregateCall(n, scope) };
  throw invalid(`${describe(n)} is not supported in ${clause}: name ${OUTPUT_FORMS}`);
}

function orderTerm(o: Node, scope: Scope): OrderTerm {
  const e = child(o, 'expression');
  if (e.class === 'CONSTANT') throw invalid('ORDER BY by position is not supported: name the output column, e.g. ORDER BY count DESC');
  if (e.class === 'STAR') throw invalid('ORDER BY ALL is not supported: list the output columns');
  const descending = DIRECTIONS.get(text(o, 'type'));
  const nullsFirst = NULL_ORDERS.get(text(o, 'null_order'));
  if (descending === undefined || nullsFirst === undefined) {
    throw new CleanroomError('INTERNAL', `unexpected DuckDB parse tree: ORDER BY ${text(o, 'type')} ${text(o, 'null_order')}`);
  }
  return { output: outputRef(e, scope, 'ORDER BY'), descending, nullsFirst };
}

/** LIMIT's or OFFSET's count: a whole number up to MAX_LIMIT; null when absent or ALL (NULL). */
function rowCount(modifier: Node, key: 'limit' | 'offset', clause: string): number | null {
  const n = optionalChild(modifier, key);
  if (n === null) return null;
  const allowed = `${clause} takes a whole number from 0 to ${MAX_LIMIT}`;
  if (n.class !== 'CONSTANT') throw invalid(`${describe(n)} is not supported in ${clause}: ${allowed}`);
  const value = child(n, 'value');
  if (value.is_null === true) return null;
  const type = text(child(value, 'type'), 'id');
  const v = value.value;
  // HUGEINT arrives as two 64-bit halves: past any bound.
  if (type === 'HUGEINT' || (typeof v === 'number' && v > MAX_LIMIT)) {
    throw new CleanroomError('LIMIT_EXCEEDED', `${clause} is over ${MAX_LIMIT}, the most rows a result can have`);
  }
  const whole = type === 'INTEGER' || type === 'BIGINT';
  if (!whole || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalid(`${allowed}, found ${whole ? String(v) : `a ${type.toLowerCase()} literal`}`);
  }
  return v;
}
