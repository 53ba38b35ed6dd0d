import type { ColumnRef, Condition, Predicate } from './ast.js';

/** The predicates of a WHERE condition, in the order written. */
export function predicatesOf(c: Condition): Predicate[] {
  switch (c.kind) {
    case 'and':
    case 'or':
      return c.operands.flatMap(predicatesOf);
    case 'not':
      return [c.operand];
    default:
      return [c];
  }
}

/** The tables whose columns a condition names, each once, in the order written. */
export function tablesOf(c: Condition): string[] {
  return [...new Set(predicatesOf(c).map((p) => p.column.table))];
}

/** The columns of its table a condition names, each once, in the order written. */
export function columnsOf(c: Condition): string[] {
  return [...new Set(predicatesOf(c).map((p) => p.column.column))];
}

/** The columns a condition names, qualified, in the order written (repeated as often as named). */
export function columnRefsOf(c: Condition): ColumnRef[] {
  return predicatesOf(c).map((p) => p.column);
}
