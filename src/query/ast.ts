/**
 * The query subset of SPEC §5 as a small typed tree. parseQuery builds it from SQL text; nothing
 * downstream ever sees SQL again. Identifiers are lower case (SQL resolves them case-insensitively,
 * and manifest names are lower case), so names compare with plain string equality.
 */

/** One value of a result: a group's label (a dimension value), a count, or an exact decimal as text. */
export type Cell = string | number | null;

export interface ColumnRef { readonly table: string; readonly column: string } // table = real table name, aliases resolved

export type Literal =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'number'; readonly value: string } // decimal text exactly as written, e.g. "-12.50", no float rounding
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'date'; readonly value: string } // DATE 'YYYY-MM-DD', a day that exists
  | { readonly type: 'timestamp'; readonly value: string }; // TIMESTAMP '…' in UTC as DuckDB writes it, YYYY-MM-DD HH:MM:SS[.ffffff]

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

/**
 * The argument of SUM, AVG and the variance family when it is more than a column: exact arithmetic over one table's
 * numeric columns (SPEC §5). A value is an integer in units of 10^-scale: a column's scale, a constant's decimals, the
 * larger of two added or subtracted, the sum of two multiplied. NULL in, NULL out, as in SQL; `null` is written only
 * as a CASE result (THEN NULL, or no ELSE).
 */
export type NumericExpression =
  | { readonly kind: 'column'; readonly column: ColumnRef }
  | { readonly kind: 'constant'; readonly value: string } // exact decimal text, e.g. "-2.50"
  | { readonly kind: 'null' }
  | { readonly kind: 'negate'; readonly operand: NumericExpression }
  | { readonly kind: 'add' | 'subtract' | 'multiply'; readonly left: NumericExpression; readonly right: NumericExpression }
  | { readonly kind: 'case'; readonly branches: readonly NumericCaseBranch[]; readonly otherwise: NumericExpression }; // otherwise: { kind: 'null' } without ELSE

/** A branch of a CASE in an aggregate's expression: the rows meeting `when` (and no earlier branch) take `then`. */
export interface NumericCaseBranch { readonly when: Condition; readonly then: NumericExpression }

/** What an aggregate computes over a column's or an expression's values: VAR_* and STDDEV_* as DuckDB defines them. */
export type ValueFunction = 'sum' | 'avg' | 'var_samp' | 'var_pop' | 'stddev_samp' | 'stddev_pop';

export type Aggregate =
  | { readonly fn: 'count' } // COUNT(*)
  | { readonly fn: 'count-values'; readonly column: ColumnRef } // COUNT(t.c): the rows of the group with a value in t.c
  | { readonly fn: 'count-distinct'; readonly column: ColumnRef } // COUNT(DISTINCT t.key): distinct matched join keys
  | { readonly fn: ValueFunction; readonly column: ColumnRef } // SUM(t.c), VAR_POP(t.c), …: a bare column (parenthesised or not)
  | { readonly fn: ValueFunction; readonly expression: NumericExpression; readonly table: string }; // SUM(t.a * t.b), …: every column of `table`

/** date_trunc's units: the start of the day, ISO week (Monday), month, quarter or year, in UTC. */
export type TruncUnit = 'day' | 'week' | 'month' | 'quarter' | 'year';
/** extract's fields: dow is 0 (Sunday) to 6, hour 0 to 23 (0 for a date), in UTC. */
export type ExtractField = 'year' | 'quarter' | 'month' | 'dow' | 'hour';

/** A branch of a CASE dimension: the rows meeting `when` (and no earlier branch) get the label `then`. */
export interface CaseBranch { readonly when: Condition; readonly then: string }

/**
 * What a group is labelled by (GROUP BY, and SELECT's dimensions), always over one table's columns: a column, a
 * date or timestamp column truncated or a field of it, or a CASE whose every result is a string label.
 */
export type Dimension =
  | { readonly kind: 'column'; readonly column: ColumnRef }
  | { readonly kind: 'date-trunc'; readonly unit: TruncUnit; readonly column: ColumnRef }
  | { readonly kind: 'extract'; readonly field: ExtractField; readonly column: ColumnRef }
  | { readonly kind: 'case'; readonly branches: readonly CaseBranch[]; readonly otherwise: string | null }; // otherwise: ELSE's label, null without ELSE

export type SelectItem =
  | { readonly kind: 'dimension'; readonly dimension: Dimension; readonly name: string }
  | { readonly kind: 'aggregate'; readonly aggregate: Aggregate; readonly name: string }; // name: alias if given, else e.g. "category", "count", "count_amount", "count_distinct_email", "sum_amount", "avg_amount"; names must be unique

/** One equality of a JOIN's ON: a column of a table joined before (`left`) and one of the table it joins (`right`). */
export interface KeyPair { readonly left: ColumnRef; readonly right: ColumnRef }

/**
 * A JOIN's ON (SPEC §4.7): one equality; several under AND, one compound key whose parts are the pairs; or several
 * under OR, alternative keys of which any one matching matches the row.
 */
export interface JoinCondition {
  readonly pairs: readonly KeyPair[];
  readonly combine: 'and' | 'or';
}

export interface Query {
  readonly select: readonly SelectItem[];
  readonly tables: readonly string[]; // in FROM order, real names, each once
  readonly joins: readonly JoinCondition[]; // one per JOIN, in order
  readonly where: readonly Condition[]; // the AND-ed conjuncts, flattened (the planner requires each to name one table)
  readonly groupBy: readonly Dimension[];
  /** HAVING, ORDER BY, LIMIT and OFFSET, present only when one of them is written. */
  readonly afterRelease?: AfterReleaseClauses;
}

/**
 * What HAVING and ORDER BY name: an output column, by its name (alias or default, as written) or as SELECT writes it.
 * The planner finds it among the outputs: these clauses act on the released result table only (SPEC §5).
 */
export type OutputRef =
  | { readonly kind: 'name'; readonly name: string } // an unqualified identifier
  | { readonly kind: 'dimension'; readonly dimension: Dimension } // a dimension as SELECT writes it: t.c, date_trunc('week', t.d), …
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
