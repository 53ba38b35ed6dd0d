import type { ColumnRef, ComparisonOp, Predicate } from './ast.js';
import type { Scope } from './from.js';
import { literal } from './literal.js';
import { child, children, COMPARISONS, describe, invalid, type Node } from './tree.js';

const PREDICATE_FORMS = "t.c = 'x' (or !=, <, <=, >, >=), t.c IN ('x', 'y'), t.c BETWEEN 1 AND 9, joined with AND";

// Moving the column to the left of `5 < t.x` turns it into `t.x > 5`.
const MIRRORED: Readonly<Record<ComparisonOp, ComparisonOp>> = { '=': '=', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

/** The conjuncts of WHERE, flattened; each one is checked on its own. */
export function whereClause(where: Node | null, scope: Scope): Predicate[] {
  return where === null ? [] : conjuncts(where).map((n) => predicate(n, scope));
}

function conjuncts(n: Node): Node[] {
  if (n.type === 'CONJUNCTION_AND') return children(n, 'children').flatMap(conjuncts);
  if (n.type === 'CONJUNCTION_OR') throw invalid('OR is not supported in WHERE: combine predicates with AND, or use IN (...)');
  return [n];
}

function predicate(n: Node, scope: Scope): Predicate {
  const op = COMPARISONS.get(String(n.type));
  if (op !== undefined) return comparison(n, op, scope);
  if (n.type === 'COMPARE_IN') return inList(n, scope);
  if (n.type === 'COMPARE_BETWEEN') return between(n, scope);
  if (n.type === 'OPERATOR_NOT') {
    throw invalid(`NOT is not supported in WHERE: negate the comparison itself (!=, <, >=) instead; allowed: ${PREDICATE_FORMS}`);
  }
  throw invalid(`${describe(n)} is not supported in WHERE; allowed: ${PREDICATE_FORMS}`);
}

function comparison(n: Node, op: ComparisonOp, scope: Scope): Predicate {
  const left = child(n, 'left');
  const right = child(n, 'right');
  if (left.class === 'COLUMN_REF') return { kind: 'compare', column: scope.column(left), op, value: literal(right) };
  if (right.class === 'COLUMN_REF') return { kind: 'compare', column: scope.column(right), op: MIRRORED[op], value: literal(left) };
  const culprit = left.class === 'CONSTANT' ? right : left;
  throw invalid(`${describe(culprit)} is not supported in WHERE: compare a column with a literal; allowed: ${PREDICATE_FORMS}`);
}

function inList(n: Node, scope: Scope): Predicate {
  const [subject, ...values] = children(n, 'children');
  return { kind: 'in', column: subjectColumn(subject, 'IN', scope), values: values.map(literal) };
}

function between(n: Node, scope: Scope): Predicate {
  const column = subjectColumn(child(n, 'input'), 'BETWEEN', scope);
  return { kind: 'between', column, low: literal(child(n, 'lower')), high: literal(child(n, 'upper')) };
}

function subjectColumn(n: Node | undefined, construct: string, scope: Scope): ColumnRef {
  if (n?.class !== 'COLUMN_REF') {
    const found = n === undefined ? 'nothing' : describe(n);
    throw invalid(`the left side of ${construct} must be a column, e.g. t.c ${construct} ...; found ${found}`);
  }
  return scope.column(n);
}
