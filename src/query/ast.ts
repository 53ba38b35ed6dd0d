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

/** What a predicate may apply to a string column before testing it (SPEC §5 defines each exactly). */
export type StringFunction = 'lower' | 'upper' | 'trim';

/** What a predicate tests: a column, or lower/upper/trim of it applied innermost first (absent: the column itself). */
export interface Subject { readonly column: ColumnRef; readonly functions?: readonly StringFunction[] }

export type Predicate = Subject &
  (
    | { readonly kind: 'compare'; readonly op: ComparisonOp; readonly value: Literal }
    | { readonly kind: 'in'; readonly values: readonly Literal[] }
    | { readonly kind: 'between'; readonly low: Literal; readonly high: Literal }
    | { readonly kind: 'like'; readonly pattern: string; readonly caseInsensitive: boolean } // ILIKE when caseInsensitive
    | { readonly kind: 'null' } // IS NULL
  );

/**
 * A WHERE condition with NOT pushed inward (De Morgan, exact in SQL's three-valued logic): NOT stands only before a
 * predicate (NOT IN, NOT LIKE, NOT BETWEEN, IS NOT NULL; a negated comparison flips its operator instead), and an AND
 * or OR never has an operand of its own kind.
 */
export type Condition =
  | Predicate
  | { readonly kind: 'not'; readonly operand: Predicate }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly Condition[] };

export type Aggregate =
  | { readonly fn: 'count' } // COUNT(*)
  | { readonly fn: 'count-values'; readonly column: ColumnRef } // COUNT(t.c): the rows of the group with a value in t.c
  | { readonly fn: 'count-distinct'; readonly column: ColumnRef } // COUNT(DISTINCT t.key): distinct matched join keys
  | { readonly fn: 'sum' | 'avg'; readonly column: ColumnRef };

export type SelectItem =
  | { readonly kind: 'dimension'; readonly column: ColumnRef; readonly name: string }
  | { readonly kind: 'aggregate'; readonly aggregate: Aggregate; readonly name: string }; // name: alias if given, else e.g. "category", "count", "count_amount", "count_distinct_email", "sum_amount", "avg_amount"; names must be unique

export interface JoinCondition { readonly left: ColumnRef; readonly right: ColumnRef }

export interface Query {
  readonly select: readonly SelectItem[];
  readonly tables: readonly string[]; // in FROM order, real names, each once
  readonly joins: readonly JoinCondition[]; // one per JOIN, in order
  readonly where: readonly Condition[]; // the AND-ed conjuncts, flattened (the planner requires each to name one table)
  readonly groupBy: readonly ColumnRef[];
  /** HAVING, ORDER BY, LIMIT and OFFSET, present only when one of them is written. */
  readonly afterRelease?: AfterReleaseClauses;
}

/**
 * What HAVING and ORDER BY name: an output column, by its name (alias or default, as written) or as SELECT writes it.
 * The planner finds it among the outputs: these clauses act on the released result table only (SPEC §5).
 */
export type OutputRef =
  | { readonly kind: 'name'; readonly name: string } // an unqualified identifier
  | { readonly kind: 'column'; readonly column: ColumnRef } // a qualified column: a dimension output
  | { readonly kind: 'aggregate'; readonly aggregate: Aggregate }; // COUNT(*), COUNT(t.c), COUNT(DISTINCT t.key), SUM(t.c), AVG(t.c)

/** A test of one output's value in a released row; NULL fails every test but IS NULL, as in SQL. */
export type OutputTest =
  | { readonly kind: 'compare'; readonly op: ComparisonOp; readonly value: Literal }
  | { readonly kind: 'in'; readonly values: readonly Literal[] }
  | { readonly kind: 'between'; readonly low: Literal; readonly high: Literal }
  | { readonly kind: 'null'; readonly isNull: boolean }; // IS NULL, IS NOT NULL

export interface HavingCondition { readonly output: OutputRef; readonly test: OutputTest }

/** nullsFirst as written, else false: NULLS LAST in both directions, DuckDB's default. */
export interface OrderTerm { readonly output: OutputRef; readonly descending: boolean; readonly nullsFirst: boolean }

export interface AfterReleaseClauses {
  readonly having: readonly HavingCondition[]; // the AND-ed conjuncts, flattened
  readonly orderBy: readonly OrderTerm[];
  readonly limit: number | null; // null: no LIMIT (or LIMIT ALL)
  readonly offset: number;
}
