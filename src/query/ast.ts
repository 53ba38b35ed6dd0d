/**
 * The query subset of SPEC §5 as a small typed tree. parseQuery builds it from SQL text; nothing
 * downstream ever sees SQL again. Identifiers are lower case (SQL resolves them case-insensitively,
 * and manifest names are lower case), so names compare with plain string equality.
 */

export interface ColumnRef { readonly table: string; readonly column: string } // table = real table name, aliases resolved

export type Literal =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: string } // decimal text exactly as written, e.g. "-12.50", no float rounding
  | { readonly type: 'boolean'; readonly value: boolean };

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Predicate =
  | { readonly kind: 'compare'; readonly column: ColumnRef; readonly op: ComparisonOp; readonly value: Literal }
  | { readonly kind: 'in'; readonly column: ColumnRef; readonly values: readonly Literal[] }
  | { readonly kind: 'between'; readonly column: ColumnRef; readonly low: Literal; readonly high: Literal };

export type Aggregate =
  | { readonly fn: 'count' } // COUNT(*)
  | { readonly fn: 'sum' | 'avg'; readonly column: ColumnRef };

export type SelectItem =
  | { readonly kind: 'dimension'; readonly column: ColumnRef; readonly name: string }
  | { readonly kind: 'aggregate'; readonly aggregate: Aggregate; readonly name: string }; // name: alias if given, else e.g. "category", "count", "sum_amount", "avg_amount"; names must be unique

export interface JoinCondition { readonly left: ColumnRef; readonly right: ColumnRef }

export interface Query {
  readonly select: readonly SelectItem[];
  readonly tables: readonly string[]; // in FROM order, real names, each once
  readonly joins: readonly JoinCondition[]; // one per JOIN, in order
  readonly where: readonly Predicate[]; // the AND-ed conjuncts, flattened
  readonly groupBy: readonly ColumnRef[];
}
