import { CleanroomError } from '../errors.js';
import type { ComparisonOp } from './ast.js';

/**
 * Reading DuckDB's json_serialize_sql tree. A node is a JSON object; `class` names an expression
 * kind (COLUMN_REF, FUNCTION, ...) and `type` the variant. A tree that does not have the shape
 * DuckDB 1.5 writes is our bug or a DuckDB change, never the user's, hence INTERNAL.
 */
export type Node = { readonly [key: string]: unknown };

export function invalid(message: string): CleanroomError {
  return new CleanroomError('QUERY_INVALID', message);
}

function malformed(key: string, n: Node): CleanroomError {
  return new CleanroomError('INTERNAL', `unexpected DuckDB parse tree: field ${key} of ${String(n.class ?? n.type)}`);
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function child(n: Node, key: string): Node {
  const v = n[key];
  if (!isNode(v)) throw malformed(key, n);
  return v;
}

export function optionalChild(n: Node, key: string): Node | null {
  return n[key] === null ? null : child(n, key);
}

export function children(n: Node, key: string): Node[] {
  const v = n[key];
  if (!Array.isArray(v) || !v.every(isNode)) throw malformed(key, n);
  return v;
}

export function text(n: Node, key: string): string {
  const v = n[key];
  if (typeof v !== 'string') throw malformed(key, n);
  return v;
}

export function integer(n: Node, key: string): number {
  const v = n[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(key, n);
  return v;
}

export function texts(n: Node, key: string): string[] {
  const v = n[key];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw malformed(key, n);
  return v;
}

/** Arrays of any content: for clauses whose mere presence is what matters (USING columns, CTEs). */
export function list(n: Node, key: string): unknown[] {
  const v = n[key];
  if (!Array.isArray(v)) throw malformed(key, n);
  return v;
}

export const COMPARISONS: ReadonlyMap<string, ComparisonOp> = new Map([
  ['COMPARE_EQUAL', '='],
  ['COMPARE_NOTEQUAL', '!='],
  ['COMPARE_LESSTHAN', '<'],
  ['COMPARE_LESSTHANOREQUALTO', '<='],
  ['COMPARE_GREATERTHAN', '>'],
  ['COMPARE_GREATERTHANOREQUALTO', '>='],
]);

/** Moving the column to the left of `5 < t.x` turns it into `t.x > 5`. */
export const MIRRORED: Readonly<Record<ComparisonOp, ComparisonOp>> = { '=': '=', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

// DuckDB rewrites these SQL operators into functions; error messages should name what the user wrote.
const OPERATOR_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['~~', 'LIKE'],
  ['!~~', 'NOT LIKE'],
  ['~~*', 'ILIKE'],
  ['!~~*', 'NOT ILIKE'],
  ['~~~', 'GLOB'],
  ['!~~~', 'NOT GLOB'],
  ['regexp_full_match', 'SIMILAR TO'],
  ['count_star', 'COUNT(*)'],
]);

const EXPRESSION_TYPES: ReadonlyMap<string, string> = new Map([
  ['CONJUNCTION_AND', 'AND'],
  ['CONJUNCTION_OR', 'OR'],
  ['OPERATOR_NOT', 'NOT'],
  ['OPERATOR_IS_NULL', 'IS NULL'],
  ['OPERATOR_IS_NOT_NULL', 'IS NOT NULL'],
  ['COMPARE_IN', 'IN'],
  ['COMPARE_NOT_IN', 'NOT IN'],
  ['COMPARE_BETWEEN', 'BETWEEN'],
  ['COMPARE_DISTINCT_FROM', 'IS DISTINCT FROM'],
  ['COMPARE_NOT_DISTINCT_FROM', 'IS NOT DISTINCT FROM'],
]);

const EXPRESSION_CLASSES: ReadonlyMap<string, string> = new Map([
  ['SUBQUERY', 'a subquery'],
  ['WINDOW', 'a window function (OVER)'],
  ['CAST', 'CAST'],
  ['CASE', 'CASE'],
  ['STAR', '*'],
  ['PARAMETER', 'a query parameter ($1, ?)'],
  ['COLLATE', 'COLLATE'],
  ['LAMBDA', 'a lambda'],
  ['POSITIONAL_REFERENCE', 'a positional reference (#n)'],
]);

/** Names an expression the way the user wrote it, for "X is not supported" messages. */
export function describe(n: Node): string {
  if (n.class === 'COLUMN_REF') return `column ${texts(n, 'column_names').join('.')}`;
  if (n.class === 'CONSTANT') return 'a literal';
  if (n.class === 'FUNCTION') {
    const fn = text(n, 'function_name');
    return OPERATOR_FUNCTIONS.get(fn) ?? (n.is_operator === true ? `operator ${fn}` : `function ${fn}()`);
  }
  const type = String(n.type);
  const op = COMPARISONS.get(type);
  if (op !== undefined) return `comparison ${op}`;
  return EXPRESSION_TYPES.get(type) ?? EXPRESSION_CLASSES.get(String(n.class)) ?? `expression ${type}`;
}
