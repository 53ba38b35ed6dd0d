import { CleanroomError, RuleViolation } from '../errors.js';
import { MAX_GROUPS, MAX_GROUP_BY_COLUMNS, MAX_GROUP_WIDTH, MAX_PARTNER_GROUPS, MAX_QUERY_TABLES, MAX_SUM_COLUMNS } from '../limits.js';
import { everyRowHasValue, joinKeysOf, overlapGrant, type Column, type JoinKeySpec, type Manifest, type Table } from '../manifest/schema.js';
import { afterReleasePlan, type AfterRelease } from './after-release-plan.js';
import type { Aggregate, Cell, ColumnRef, Condition, Dimension, Literal, Predicate, Query, SelectItem, ValueFunction } from './ast.js';
import { columnsOf, predicatesOf, tablesOf } from './condition.js';
import { aggregateText, assertExpressionFits, columnPower, conditionsOf, expressionDegree, valueColumnsOf as valueColumnsOfExpression } from './expression.js';
import { groupWidth, isVariance, sameExpression, type SummedExpression } from './group-vector.js';
import { dimensionColumns, dimensionTable, dimensionText } from './dimension.js';
import { dimensionDomain, domainDeclared, groupDomain } from './dimension-domain.js';
import { privacyOf, type PrivacyPlan } from './privacy-plan.js';

/**
 * The checked form of a query: who plays which role, what each side filters, what is released.
 * Every node builds it from the SQL text and the manifest independently, so every owner enforces its own rules.
 */
export interface TableSide {
  readonly table: Table;
  /** The conjuncts of WHERE naming this table's columns, which its owner evaluates before PSI. */
  readonly filters: readonly Condition[];
  /** The join key columns this side's rows are matched on (SPEC §4.7); the table's first join key when absent. */
  readonly key?: SideKey;
}

/**
 * How a side's rows are keyed for PSI (SPEC §3, §4.7): its join key columns in the order of the ON's equalities,
 * each normalised; several are one compound key (`and`) or alternatives a row matches on when any one does (`or`).
 */
export interface SideKey {
  readonly columns: readonly JoinKeySpec[];
  readonly combine: 'and' | 'or';
}

/** A side's key: as the query's ON names it, or its table's first join key. */
export function sideKey(side: TableSide): SideKey {
  return side.key ?? { columns: [joinKeysOf(side.table)[0]!], combine: 'and' };
}

/** SPEC §4.7: the alternatives a side's rows are matched on (1 for one key or a compound). */
export function alternativesOf(side: TableSide): number {
  const key = sideKey(side);
  return key.combine === 'or' ? key.columns.length : 1;
}

interface PlanBase {
  readonly querier: string;
  /**
   * Every member taking part, each once: the aggregator (for a federated table, its holders) first, then the other
   * tables' owners in query order, then (federated) the receivers that hold nothing. Computed here, once, for every
   * room that needs it.
   */
  readonly members: readonly string[];
  /** P: holds the GROUP BY / SUM / AVG columns (or, count-only, computes the intersection size). */
  readonly aggregator: TableSide;
  /** Every table but the aggregator's, in query order: two-party queries have one. */
  readonly others: readonly TableSide[];
  readonly outputs: readonly SelectItem[];
  /**
   * The GROUP BY dimensions, labels in this order: over the aggregator's table, and in aggregate mode also over the
   * partner's (`partnerGroups` says which).
   */
  readonly groupBy: readonly Dimension[];
  /** Aggregator columns summed (for SUM and for AVG), each once. */
  readonly sumColumns: readonly string[];
  /** Aggregator columns counted (COUNT(t.c)) that need a non-null slot of their own (group-vector.ts VectorShape). */
  readonly countColumns?: readonly string[];
  /** Summed columns whose squares are summed too (VAR_*, STDDEV_*); absent when none. */
  readonly squareColumns?: readonly string[];
  /** Expressions summed (SUM, AVG, VAR_*, STDDEV_* of one), each once; absent when none. */
  readonly sumExpressions?: readonly SummedExpression[];
  /** The strictest minimum-count rule among the query's tables. */
  readonly minDistinctKeys: number;
  readonly receivers: readonly string[];
  /** Set when a table of the query has a privacy policy: every opened value is then noisy (SPEC §10). */
  readonly privacy?: PrivacyPlan;
  /** HAVING, ORDER BY, LIMIT and OFFSET, when written: what each receiver does with the released table, nothing more. */
  readonly afterRelease?: AfterRelease;
}

/** Only |P ∩ Q| is computed (the distinct matched keys); nobody learns membership. */
export interface CountOnlyPlan extends PlanBase {
  readonly mode: 'count-only';
}

/** P learns which of its keys matched (the others granted it) and aggregates its matched rows. */
export interface AggregatePlan extends PlanBase {
  readonly mode: 'aggregate';
  /**
   * Every group that can exist, from the GROUP BY columns' declared values (NULL last), when they all declare them
   * (required under a privacy policy). P deals all of them, zeros included, so no member learns which groups have
   * data (SPEC §4.3, §10.2).
   */
  readonly domain?: readonly (readonly Cell[])[];
  /** GROUP BY dimensions of the partner's table (SPEC §4.6), when the query has any. */
  readonly partnerGroups?: PartnerGroups;
  /**
   * The manifest's `verify` in a join of two tables: the partner proves its re-blinding (SPEC §4.2.1), in proofs
   * whose context names the collaboration.
   */
  readonly verified?: { readonly collaborationId: string };
}

/**
 * SPEC §4.6: the partner Q partitions its filtered key set by the labels of its own GROUP BY dimensions, and P learns,
 * for each of its keys, the parts it is in: what one query per label, filtered on it, would tell P.
 */
export interface PartnerGroups {
  /** Where the partner's dimensions stand in `groupBy`, ascending. */
  readonly positions: readonly number[];
  /** Every label tuple of those dimensions, from the manifest (NULL last): part i of Q's set holds label tuple i. */
  readonly labels: readonly (readonly Cell[])[];
  /**
   * The most parts one key counts in: every label, or under a privacy policy its `maxRowsPerKey` (Q keeps that many
   * of a key's labels, as P keeps that many of its rows), which the noise is scaled by.
   */
  readonly perKey: number;
}

/** The dimensions of a plan over its aggregator's own table, in GROUP BY order: what P's DuckDB groups by. */
export function ownDimensions(plan: QueryPlan): Dimension[] {
  const positions = plan.mode === 'aggregate' ? (plan.partnerGroups?.positions ?? []) : [];
  return plan.groupBy.filter((_, i) => !positions.includes(i));
}

/** The table a GROUP BY dimension of a plan reads: the aggregator's, or the partner's. */
export function dimensionTableOf(plan: QueryPlan, d: Dimension): Table {
  const name = dimensionTable(d);
  return [plan.aggregator, ...plan.others].find((s) => s.table.name === name)!.table;
}

/** A table held in parts by several members (SPEC §4.5), on its own or joined with one other member's table. */
export interface FederatedPlan extends PlanBase {
  readonly mode: 'federated';
  /** The members holding a part of the federated table. */
  readonly holders: readonly string[];
  /**
   * Every group that can exist, from the declared values of the GROUP BY columns (NULL last). Each holder reports
   * all of them, zeros included, so the exchange says nothing about which groups a holder has.
   */
  readonly domain: readonly (readonly Cell[])[];
}

export type QueryPlan = CountOnlyPlan | AggregatePlan | FederatedPlan;

/** The members of a federated query's aggregation phase: the holders, then the receivers that hold no part. */
export function federatedPhaseMembers(plan: FederatedPlan): string[] {
  return [...plan.holders, ...plan.receivers.filter((r) => !plan.holders.includes(r))];
}

const COUNT_ONLY_ALLOWED = 'COUNT(*) without GROUP BY, SUM or AVG, which runs as count-only PSI and reveals the size of the intersection and of each key set';

export function planQuery(query: Query, manifest: Manifest, querier: string): QueryPlan {
  const plan = planRelease(query, manifest, querier);
  // Checked once what is released is settled: these clauses may only name it, and never change it.
  return query.afterRelease ? { ...plan, afterRelease: afterReleasePlan(query.afterRelease, plan.outputs, (d) => dimensionTableOf(plan, d)) } : plan;
}

/**
 * Who plays which role and what is opened to whom: the rules every query meets, in the order they are checked (the
 * first broken one is the refusal), then the planner of its flow.
 */
function planRelease(query: Query, manifest: Manifest, querier: string): QueryPlan {
  assertQuerier(manifest, querier);
  const scope = resolveTables(query, manifest);
  assertJoinShape(scope);
  assertJoinKeys(query, scope);
  assertWhere(query, scope);
  assertGroupBy(query, scope);
  assertAggregations(query, scope);
  const ctx: FlowContext = { query, manifest, querier, scope, minDistinctKeys: Math.max(...scope.tables.map((t) => t.rules.minDistinctKeys)) };
  if (scope.federated) return planFederated(ctx, scope.federated);
  // SPEC §4.7: a row matched on any of several keys counts once only where its owner learns which of its keys matched.
  if (valueColumnsOf(query).length === 0 && !onAlternatives(query)) return planCountOnly(ctx);
  return planAggregate(ctx);
}

/** The query's tables, resolved in the manifest, and how its column references resolve. */
interface Scope {
  readonly tables: readonly Table[];
  readonly byName: ReadonlyMap<string, Table>;
  /** The federated table of the query, when it has one (SPEC §4.5). */
  readonly federated?: Table;
  /** The other table joined with the federated one, when there is one. */
  readonly joined?: Table;
}

/** What a flow's planner starts from: the query, checked against every rule that does not depend on the flow. */
interface FlowContext {
  readonly query: Query;
  readonly manifest: Manifest;
  readonly querier: string;
  readonly scope: Scope;
  /** The strictest minimum-count rule among the query's tables. */
  readonly minDistinctKeys: number;
}

/** SPEC §1: only a member the manifest lists in `queriers` submits queries. */
function assertQuerier(manifest: Manifest, querier: string): void {
  if (!manifest.queriers.includes(querier)) {
    throw new RuleViolation('queriers', `${querier} may not submit queries in this collaboration`, `queriers: ${manifest.queriers.join(', ')}`);
  }
}

/** SPEC §5 (and MAX_QUERY_TABLES): at most that many tables, each one of the collaboration's. */
function resolveTables(query: Query, manifest: Manifest): Scope {
  if (query.tables.length > MAX_QUERY_TABLES) {
    throw new CleanroomError('LIMIT_EXCEEDED', `the query joins ${query.tables.length} tables; at most ${MAX_QUERY_TABLES}`);
  }
  const tables = query.tables.map((name) => {
    const t = manifest.tables.find((x) => x.name === name);
    if (!t) throw new CleanroomError('QUERY_INVALID', `no table ${name} in the collaboration; tables: ${manifest.tables.map((x) => x.name).join(', ')}`);
    return t;
  });
  const federated = tables.find((t) => t.holders);
  const joined = federated ? tables.find((t) => t !== federated) : undefined;
  return { tables, byName: new Map(tables.map((t) => [t.name, t])), ...(federated ? { federated } : {}), ...(joined ? { joined } : {}) };
}

/**
 * SPEC §5, §4.4, §4.5: two or more tables of different members, or one federated table on its own or joined with
 * one table of a member that holds no part of it.
 */
function assertJoinShape(scope: Scope): void {
  const { tables, federated, joined } = scope;
  if (federated && (tables.length > 2 || tables.filter((t) => t.holders).length > 1)) {
    throw new CleanroomError('QUERY_INVALID', `${federated.name} is federated; a federated table is queried on its own or joined with one other member's table`);
  }
  if (federated && joined && federated.holders!.includes(joined.owner)) {
    throw new CleanroomError('QUERY_INVALID', `${joined.owner} holds part of ${federated.name} and owns ${joined.name}: join the federated table with a table of a member that holds no part`);
  }
  if (!federated && tables.length < 2) {
    throw new CleanroomError('QUERY_INVALID', `a query joins the tables of at least two members (FROM a JOIN b ON a.k = b.k); only a federated table is queried alone`);
  }
  const owners = new Set<string>();
  for (const t of tables) {
    if (owners.has(t.owner)) {
      throw new CleanroomError('QUERY_INVALID', `two tables of the query belong to ${t.owner}; join tables of different members (a member joins its own tables locally)`);
    }
    owners.add(t.owner);
  }
}

/**
 * SPEC §5 (`<table>.joinKey`), §4.7: tables are joined on their declared join keys only. Several keys in one ON (a
 * compound or alternatives) join two tables of two members; in a join of three or more, or with a federated table,
 * every table is joined on its first join key, the one key its set is built from.
 */
function assertJoinKeys(query: Query, scope: Scope): void {
  const two = scope.tables.length === 2 && !scope.federated;
  for (const j of query.joins) {
    if (j.pairs.length > 1 && !two) {
      throw new RuleViolation('privacy-model.several-join-keys', `a JOIN on ${j.pairs.length} pairs of columns in ${scope.federated ? 'a query on a federated table' : `a join of ${scope.tables.length} tables`}`, 'several keys (AND or OR) in a join of two members\' tables; one key per JOIN otherwise');
    }
    for (const ref of j.pairs.flatMap((p) => [p.left, p.right])) {
      const t = scope.byName.get(ref.table)!;
      const keys = two ? joinKeysOf(t) : joinKeysOf(t).slice(0, 1);
      if (!keys.some((k) => k.column === ref.column)) {
        throw new RuleViolation(`${t.name}.joinKey`, `${t.name} cannot be joined on ${ref.column}${two ? '' : ' in this query (a join of three or more tables, or with a federated table, uses each table\'s first join key)'}`, keys.map((k) => `${t.name}.${k.column}`).join(', '));
      }
    }
  }
}

/** Whether the query joins on alternative keys (SPEC §4.7): one ON with several equalities under OR. */
function onAlternatives(query: Query): boolean {
  return query.joins.some((j) => j.combine === 'or' && j.pairs.length > 1);
}

/** Each side's key as the two-table query's ON names it (SPEC §4.7); a join of three or more uses the first keys. */
function keyOf(query: Query, t: Table): SideKey | undefined {
  const [j] = query.joins;
  if (query.joins.length !== 1 || !j) return undefined;
  const columns = j.pairs.map((p) => (p.left.table === t.name ? p.left : p.right).column).map((c) => joinKeysOf(t).find((k) => k.column === c)!);
  return { columns, combine: j.combine };
}

/**
 * SPEC §5 (`<table>.rules.dimensions`, `privacy-model.one-table-per-or`): WHERE reads dimensions only, each
 * predicate well typed, and each conjunct names one table, whose owner evaluates it before PSI.
 */
function assertWhere(query: Query, scope: Scope): void {
  for (const c of query.where) {
    for (const p of predicatesOf(c)) {
      assertDimension(scope, p.column, 'WHERE');
      checkPredicate(p, columnOf(scope, p.column));
    }
    // Each owner evaluates its own table's conditions before PSI, on its own rows: a condition reading two tables
    // (an OR across them, or NOT over an AND of them) has nobody who could evaluate it.
    const named = tablesOf(c);
    if (named.length > 1) {
      throw new RuleViolation(
        'privacy-model.one-table-per-or',
        `a condition in WHERE reads columns of ${named.join(' and ')} under one OR (or a NOT over an AND), but each table's owner evaluates its own conditions before PSI`,
        'each OR group naming columns of one table; conditions on different tables joined by AND',
      );
    }
  }
}

/**
 * SPEC §5 (`<table>.rules.dimensions`, MAX_GROUP_BY_COLUMNS): GROUP BY reads dimension columns only, each function
 * of a column of its type, and not too many.
 */
function assertGroupBy(query: Query, scope: Scope): void {
  for (const d of query.groupBy) {
    for (const ref of dimensionColumns(d)) assertDimension(scope, ref, 'GROUP BY');
    if (d.kind === 'case') d.branches.forEach((b) => predicatesOf(b.when).forEach((p) => checkPredicate(p, columnOf(scope, p.column))));
    else if (d.kind !== 'column') {
      const c = columnOf(scope, d.column);
      const fn = d.kind === 'date-trunc' ? `date_trunc('${d.unit}', ...)` : `extract(${d.field} FROM ...)`;
      if (c.type !== 'date' && c.type !== 'timestamp') throw new CleanroomError('QUERY_INVALID', `${fn} applies to date and timestamp columns; ${d.column.table}.${d.column.column} is a ${c.type} column`);
      if (d.kind === 'extract' && d.field === 'hour' && c.type === 'date') throw new CleanroomError('QUERY_INVALID', `extract(hour FROM ...) applies to timestamp columns; ${d.column.table}.${d.column.column} is a date`);
    }
  }
  if (query.groupBy.length > MAX_GROUP_BY_COLUMNS) throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY names ${query.groupBy.length} dimensions; at most ${MAX_GROUP_BY_COLUMNS}`);
}

/** SPEC §1 (`dimensions`): a column used in WHERE or GROUP BY is one of its table's dimensions. */
function assertDimension(scope: Scope, ref: ColumnRef, use: string): void {
  columnOf(scope, ref);
  const t = scope.byName.get(ref.table)!;
  if (!t.rules.dimensions.includes(ref.column)) {
    throw new RuleViolation(`${t.name}.rules.dimensions`, `${ref.table}.${ref.column} may not be used in ${use}`, listOrNone(t.rules.dimensions.map((d) => `${t.name}.${d}`)));
  }
}

/**
 * SPEC §5 (`<table>.rules.aggregations`), §4.3: SUM and AVG of a column only with a function its rule allows; AVG
 * of an avg-only column only under a privacy policy on its own table.
 */
function assertAggregations(query: Query, scope: Scope): void {
  for (const item of query.select) {
    if (item.kind !== 'aggregate' || item.aggregate.fn === 'count') continue;
    if (item.aggregate.fn === 'count-distinct') {
      assertCountDistinct(item.aggregate.column, scope, query);
      continue;
    }
    if (item.aggregate.fn === 'count-values') {
      assertCountValues(item.aggregate.column, scope);
      continue;
    }
    assertValueAggregate(item.aggregate, scope);
  }
}

type ValueAggregate = Extract<Aggregate, { fn: ValueFunction }>;

/**
 * SUM, AVG, VAR_* and STDDEV_* of a column or an expression (SPEC §5, `<table>.rules.aggregations`): every column it
 * computes with is numeric and its rule allows the function (`variance` allows the four of that family); a CASE
 * condition reads dimensions as WHERE does; no sum (of squares, for the variance family) can wrap the share ring.
 */
function assertValueAggregate(a: ValueAggregate, scope: Scope): void {
  const written = aggregateText(a);
  const refs = 'column' in a ? [a.column] : valueColumnsOfExpression(a.expression);
  for (const ref of refs) {
    const c = columnOf(scope, ref);
    const t = scope.byName.get(ref.table)!;
    if ('expression' in a && c.type !== 'integer' && c.type !== 'decimal') {
      throw new CleanroomError('QUERY_INVALID', `${written}: ${ref.table}.${ref.column} is a ${c.type} column; arithmetic takes integer and decimal columns`);
    }
    const rule = t.rules.aggregations.find((x) => x.column === ref.column);
    const needed = a.fn === 'sum' || a.fn === 'avg' ? a.fn : 'variance';
    if (!rule?.functions.includes(needed)) {
      const allowed = t.rules.aggregations.flatMap((x) => x.functions.map((f) => ruleFunctionText(f, `${t.name}.${x.column}`)));
      const why = 'column' in a ? '' : `: ${ref.table}.${ref.column} ${rule ? `allows ${rule.functions.join(', ')} only` : 'has no aggregation rule'}`;
      throw new RuleViolation(`${t.name}.rules.aggregations`, `${written} is not allowed${why}`, listOrNone(['COUNT(*)', ...allowed]));
    }
    // AVG is opened as its sum and its non-null count, each exact without a policy: more than a rule allowing only
    // avg grants. Under a policy on the column's own table both are noisy at that owner's ε (SPEC §10), which is
    // what such a rule can accept; a policy on another table is the querier's choice and protects nobody here. The
    // variance family opens the sum, the count and the sum of squares: the same holds.
    if (a.fn !== 'sum' && !rule.functions.includes('sum') && !t.rules.privacy) {
      throw new RuleViolation(
        `${t.name}.rules.aggregations`,
        `${written} would open the exact sum${a.fn === 'avg' ? '' : ', sum of squares'} and count behind it, and the rule of ${ref.table}.${ref.column} allows only ${rule.functions.join(', ')}`,
        `SUM as well in the rule, or a privacy policy on ${t.name} (the sums and count are then noisy)`,
      );
    }
  }
  const table = scope.byName.get('column' in a ? a.column.table : a.table)!;
  if ('expression' in a) {
    for (const p of conditionsOf(a.expression).flatMap(predicatesOf)) {
      assertDimension(scope, p.column, `a CASE condition of ${written}`);
      checkPredicate(p, columnOf(scope, p.column));
    }
    assertExpressionExposure(a, table, scope);
  }
  assertExpressionFits('column' in a ? { kind: 'column', column: a.column } : a.expression, table, written, isVariance(a.fn));
}

/**
 * SPEC §5 (`privacy-model.case-in-aggregate`, `privacy-model.power-sums`, `<table>.rules.aggregations`): what an
 * expression opens beyond its columns' sums. The minimum holds a group's people, not a subset of its rows: a CASE
 * inside an aggregate sums the rows its conditions pick, down to one person, so it needs a privacy policy on the
 * table whose values it sums (whose noise covers any subset); a GROUP BY CASE puts each subset in a group of its own,
 * which faces the minimum. So does an expression over two columns of which one may be NULL: only the rows where both
 * have a value are summed. A column's square is what its variance is made of, which the variance grant allows; a
 * higher degree reads a small group's values one by one, so it too needs that table's policy.
 */
function assertExpressionExposure(a: Extract<ValueAggregate, { expression: unknown }>, table: Table, scope: Scope): void {
  if (table.rules.privacy) return;
  const written = aggregateText(a);
  if (conditionsOf(a.expression).length > 0) {
    throw new RuleViolation(
      'privacy-model.case-in-aggregate',
      `${written} sums the rows its CASE picks, a subset of each group that no minimum holds (it can be one person), and ${table.name} has no privacy policy`,
      `the subset as a dimension of its own (GROUP BY CASE WHEN ... THEN 'label' END) or as a WHERE condition, each group then facing the minimum; or a privacy policy on ${table.name}`,
    );
  }
  // NULL in one operand drops the row: over two columns, the rows summed are those where both have a value.
  const columns = valueColumnsOfExpression(a.expression);
  const nullable = columns.filter((ref) => !everyRowHasValue(columnOf(scope, ref)));
  if (columns.length > 1 && nullable.length > 0) {
    throw new RuleViolation(
      'privacy-model.null-subset',
      `${written} sums only the rows where ${columns.map((c) => `${c.table}.${c.column}`).join(' and ')} all have a value, a subset of each group that no minimum holds (it can be one person), and ${nullable.map((c) => `${c.table}.${c.column}`).join(', ')} may be NULL`,
      `columns declared required (no NULL) in the manifest, an expression over one column, or a privacy policy on ${table.name}`,
    );
  }
  const degree = expressionDegree(a.expression) * (isVariance(a.fn) ? 2 : 1);
  if (degree > 2) {
    throw new RuleViolation(
      'privacy-model.power-sums',
      `${written} opens sums of degree ${degree} in ${table.name}'s values, which with the lower ones give each value of a small group, and ${table.name} has no privacy policy`,
      `sums of degree 2 at most (a product of two values, or the variance of a column or a sum of columns), or a privacy policy on ${table.name}`,
    );
  }
  if (isVariance(a.fn)) return;
  for (const ref of valueColumnsOfExpression(a.expression)) {
    const t = scope.byName.get(ref.table)!;
    if (columnPower(a.expression, ref) >= 2 && !t.rules.aggregations.some((x) => x.column === ref.column && x.functions.includes('variance'))) {
      throw new RuleViolation(
        `${t.name}.rules.aggregations`,
        `${written} sums the squares of ${ref.table}.${ref.column} (what its variance is made of), and the rule of ${ref.table}.${ref.column} does not allow variance`,
        `variance in that column's rule, products of two different columns (t.price * t.quantity), or a privacy policy on ${t.name}`,
      );
    }
  }
}

/** A rule's function as the aggregates it allows. */
function ruleFunctionText(f: string, column: string): string {
  return f === 'variance' ? ['VAR_SAMP', 'VAR_POP', 'STDDEV_SAMP', 'STDDEV_POP'].map((v) => `${v}(${column})`).join(', ') : `${f.toUpperCase()}(${column})`;
}

/**
 * COUNT(t.c) (SPEC §5, `<table>.rules.aggregations`): which rows have a value in t.c is about t.c's values, so t.c is
 * a dimension of its table or has an aggregation rule (any function): COUNT(*) alone does not grant it.
 */
function assertCountValues(ref: ColumnRef, scope: Scope): void {
  columnOf(scope, ref);
  const t = scope.byName.get(ref.table)!;
  if (t.rules.dimensions.includes(ref.column) || t.rules.aggregations.some((a) => a.column === ref.column)) return;
  const allowed = [...new Set([...t.rules.dimensions, ...t.rules.aggregations.map((a) => a.column)])].map((c) => `COUNT(${t.name}.${c})`);
  throw new RuleViolation(
    `${t.name}.rules.aggregations`,
    `COUNT(${ref.table}.${ref.column}) would reveal which rows have a value in ${ref.table}.${ref.column}, which is neither a dimension nor an aggregation column of ${t.name}`,
    listOrNone(['COUNT(*)', ...allowed]),
  );
}

/**
 * COUNT(DISTINCT t.key) (SPEC §5, `<table>.joinKey`): the distinct matched keys, so t.key is a join key the query's
 * ON names, of any of its tables (the matched keys are the same in every table; a compound's or alternatives' are the
 * people as §4.7 keys them). Not on a federated table: its parts count their keys apart, and a key held in two parts
 * would count twice.
 */
function assertCountDistinct(ref: ColumnRef, scope: Scope, query: Query): void {
  columnOf(scope, ref);
  if (scope.federated) {
    throw new RuleViolation(
      'privacy-model.federated-distinct',
      `COUNT(DISTINCT ${ref.table}.${ref.column}) over the federated table ${scope.federated.name} would count a key held in two parts twice`,
      'COUNT(*), COUNT(t.c), SUM and AVG on a federated table',
    );
  }
  const t = scope.byName.get(ref.table)!;
  const joined = (x: Table) => [...new Set(query.joins.flatMap((j) => j.pairs.flatMap((p) => [p.left, p.right])).filter((r) => r.table === x.name).map((r) => r.column))];
  if (!joined(t).includes(ref.column)) {
    throw new RuleViolation(
      `${t.name}.joinKey`,
      `COUNT(DISTINCT ${ref.table}.${ref.column}) is not supported: DISTINCT counts the matched join keys only`,
      scope.tables.flatMap((x) => joined(x).map((c) => `COUNT(DISTINCT ${x.name}.${c})`)).join(', '),
    );
  }
}

/**
 * SPEC §5 (`privacy-model.single-aggregator`): SUM, AVG and COUNT(t.c) columns all come from one table, P's; with
 * COUNT alone, P's is the table of the first GROUP BY dimension. GROUP BY may name the other table of a two-table
 * join too (SPEC §4.6); otherwise every GROUP BY column is P's.
 */
function aggregatingTable(query: Query): string {
  const valued = new Set(query.select.flatMap((i) => (i.kind === 'aggregate' ? aggregateColumns(i.aggregate) : [])).map((r) => r.table));
  if (valued.size > 1) {
    throw new RuleViolation(
      'privacy-model.single-aggregator',
      'SUM, AVG and COUNT(column) read columns of more than one table',
      "all of them from one table, the aggregating member's; the other table contributes its join keys, WHERE filters and GROUP BY dimensions its grant names",
    );
  }
  return [...valued][0] ?? dimensionTable(query.groupBy[0]!);
}

/**
 * SPEC §4.3, §5 (`<other table>.rules.overlapDisclosure`): P learns which of its keys are in `q`'s filtered set,
 * so `q`'s grant names P and lists every column `q`'s filters read.
 */
function assertOverlapGrant(q: Table, p: Table, filters: readonly Condition[]): void {
  if (!overlapGrant(q, p.owner)) {
    throw new RuleViolation(
      `${q.name}.rules.overlapDisclosure`,
      `GROUP BY, SUM and AVG over ${p.name} need ${p.owner} to learn which of its keys are in ${q.name}, which ${q.owner} has not granted`,
      COUNT_ONLY_ALLOWED,
    );
  }
  assertGrantedFilters(q, p.owner, filters);
}

/**
 * SPEC §4.5, §5 (`<joined table>.rules.overlapDisclosure`): joined with a federated table, every holder learns which
 * of its keys are in the joined table's filtered set, so its grant names every holder, with the filters' columns.
 */
function assertFederatedGrant(federated: Table, joined: Table, filters: readonly Condition[]): void {
  const missing = federated.holders!.filter((h) => !overlapGrant(joined, h));
  if (missing.length > 0) {
    throw new RuleViolation(
      `${joined.name}.rules.overlapDisclosure`,
      `a join with the federated table ${federated.name} lets each holder learn which of its keys are in ${joined.name}, which ${joined.owner} has not granted to ${missing.join(', ')}`,
      `${federated.name} on its own`,
    );
  }
  for (const h of federated.holders!) assertGrantedFilters(joined, h, filters);
}

/**
 * MAX_SUM_COLUMNS: the distinct columns summed, averaged or counted (COUNT(t.c)), each once: they set the width of the
 * group vector (group-vector.ts).
 */
function vectorColumnsOf(query: Query, table: Table): { sumColumns: string[]; countColumns: string[]; squareColumns?: string[]; sumExpressions?: SummedExpression[] } {
  const of = (fns: readonly string[]) =>
    [...new Set(query.select.flatMap((i) => (i.kind === 'aggregate' && fns.includes(i.aggregate.fn) && 'column' in i.aggregate ? [i.aggregate.column.column] : [])))];
  const variance = ['var_samp', 'var_pop', 'stddev_samp', 'stddev_pop'];
  const sumColumns = of(['sum', 'avg', ...variance]);
  const counted = of(['count-values']);
  const squareColumns = of(variance);
  // Each expression once, whatever reads it; its squares when a VAR_* or STDDEV_* of it is an output.
  const sumExpressions: SummedExpression[] = [];
  for (const i of query.select) {
    if (i.kind !== 'aggregate' || !('expression' in i.aggregate)) continue;
    const { expression, fn } = i.aggregate;
    const at = sumExpressions.findIndex((x) => sameExpression(x.expression, expression));
    if (at < 0) sumExpressions.push({ expression, squares: isVariance(fn) });
    else if (isVariance(fn)) sumExpressions[at] = { expression, squares: true };
  }
  const columns = new Set([...sumColumns, ...counted]).size + sumExpressions.length;
  if (columns > MAX_SUM_COLUMNS) {
    throw new CleanroomError('LIMIT_EXCEEDED', `the query sums, averages or counts ${columns} columns${sumExpressions.length > 0 ? ' and expressions' : ''}; at most ${MAX_SUM_COLUMNS} per query`);
  }
  // A counted column has a non-null slot of its own unless it is summed too, or every row has a value (the vector
  // then reads the row count: group-vector.ts, VectorShape).
  const countColumns = counted.filter((name) => !sumColumns.includes(name) && !table.columns.some((c) => c.name === name && everyRowHasValue(c)));
  const shape = { sumColumns, countColumns, ...(squareColumns.length > 0 ? { squareColumns } : {}), ...(sumExpressions.length > 0 ? { sumExpressions } : {}) };
  // A sum of squares is one more slot: the vector must still fit the wire's bound.
  const width = groupWidth(shape);
  if (width > MAX_GROUP_WIDTH) {
    throw new CleanroomError(
      'LIMIT_EXCEEDED',
      `the query's aggregates need ${width} values per group (2 counts, a sum and a count per summed column or expression, one more per VAR_*/STDDEV_* of it, one per counted column); at most ${MAX_GROUP_WIDTH}`,
    );
  }
  return shape;
}

/** The conjuncts of WHERE on `t`: each names one table once assertWhere has passed. */
function filtersOf(query: Query, t: Table): Condition[] {
  return query.where.filter((c) => tablesOf(c)[0] === t.name);
}

/** The aggregator's side first, then the others (the combiner first, SPEC §4.4), and the members in that order. */
function sidesOf(ctx: FlowContext, p: Table): Pick<PlanBase, 'aggregator' | 'others' | 'members'> {
  const others = combinerFirst(ctx.scope.tables.filter((t) => t !== p), ctx.manifest, ctx.querier).map((t) => sideOf(ctx.query, t));
  return { aggregator: sideOf(ctx.query, p), others, members: [p.owner, ...others.map((o) => o.table.owner)] };
}

function sideOf(query: Query, t: Table): TableSide {
  const key = keyOf(query, t);
  return { table: t, filters: filtersOf(query, t), ...(key ? { key } : {}) };
}

function baseOf(ctx: FlowContext) {
  return { querier: ctx.querier, outputs: ctx.query.select, minDistinctKeys: ctx.minDistinctKeys, receivers: ctx.manifest.receivers };
}

/**
 * Count-only (SPEC §4, §4.4): COUNT(*) alone, over two tables or more. The member who learns the intersection size
 * from PSI is the querier when it owns a table, so no third view is created.
 */
function planCountOnly(ctx: FlowContext): QueryPlan {
  const { tables } = ctx.scope;
  const p = tables.find((t) => t.owner === ctx.querier) ?? tables[0]!;
  return withPrivacy({ ...baseOf(ctx), mode: 'count-only', ...sidesOf(ctx, p), groupBy: [], sumColumns: [] }, tables);
}

/**
 * Aggregate mode (SPEC §4.3, §4.4): GROUP BY, SUM and AVG over P's table, joined with one table or more, each of
 * which grants P its overlap.
 */
function planAggregate(ctx: FlowContext): QueryPlan {
  const { query, scope } = ctx;
  const counting = valueColumnsOf(query).length === 0;
  // COUNT alone over alternative keys (SPEC §4.7): the rows counted are those of the first table in FROM.
  const p = counting ? scope.tables[0]! : scope.byName.get(aggregatingTable(query))!;
  for (const q of scope.tables.filter((t) => t !== p)) {
    if (onAlternatives(query) && !overlapGrant(q, p.owner)) {
      throw new RuleViolation(
        `${q.name}.rules.overlapDisclosure`,
        `a JOIN on alternative keys (OR) counts a row of ${p.name} once when any of its keys matches, which needs ${p.owner} to learn which of its keys are in ${q.name}; ${q.owner} has not granted it (a count-only PSI cannot: it would count a person matched on two keys twice)`,
        'a JOIN on one key, or on a compound key (AND)',
      );
    }
    assertOverlapGrant(q, p, filtersOf(query, q));
  }
  const plan = withPrivacy({ ...baseOf(ctx), mode: 'aggregate', ...sidesOf(ctx, p), groupBy: query.groupBy, ...vectorColumnsOf(query, p) } as AggregatePlan, scope.tables);
  const partnerGroups = partnerGroupsOf(plan);
  // Which groups exist is data: where every GROUP BY column declares its values, every group is dealt; under a policy
  // every group must be known from the manifest (dimension-domain.ts).
  const own = ownDimensions({ ...plan, ...(partnerGroups ? { partnerGroups } : {}) });
  const verified = ctx.manifest.verify && scope.tables.length === 2 ? { verified: { collaborationId: ctx.manifest.collaborationId } } : {};
  const withParts = { ...plan, ...(partnerGroups ? { partnerGroups } : {}), ...verified };
  if (plan.groupBy.length === 0) return withParts;
  if (!plan.privacy && !domainDeclared(own, p)) return withParts;
  const ownDomain = groupDomain(own, p, 'under a privacy policy');
  if (!partnerGroups) return { ...withParts, domain: ownDomain };
  // Checked here, before any charge: every one of these groups is dealt.
  const size = ownDomain.length * partnerGroups.labels.length;
  if (size > MAX_GROUPS) throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY over ${size} possible groups (${ownDomain.length} of ${p.name} times ${partnerGroups.labels.length} of the partner's); at most ${MAX_GROUPS}`);
  return { ...withParts, domain: combinedDomain(ownDomain, partnerGroups, plan.groupBy.length) };
}

/**
 * SPEC §4.6: GROUP BY dimensions of the partner's table, in a join of two tables. P learns which of its keys are in
 * the partner's filtered set narrowed to each label, so the partner's grant lists every column they read among its
 * filters, as one query per label filtered on it would need; and the labels come from the manifest, so that P learns
 * no value of the partner's that its own rows do not match.
 */
function partnerGroupsOf(plan: AggregatePlan): PartnerGroups | undefined {
  const p = plan.aggregator.table;
  const positions = plan.groupBy.flatMap((d, i) => (dimensionTable(d) !== p.name ? [i] : []));
  if (positions.length === 0) return undefined;
  const dims = positions.map((i) => plan.groupBy[i]!);
  if (plan.others.length !== 1) {
    throw new RuleViolation('privacy-model.single-aggregator', `GROUP BY ${dimensionText(dims[0]!)} names a table other than ${p.name} in a join of ${plan.others.length + 1} tables`, `GROUP BY over the other table of a join of two tables, or over ${p.name} alone`);
  }
  const q = plan.others[0]!.table;
  if (alternativesOf(plan.aggregator) > 1) {
    throw new RuleViolation('privacy-model.several-join-keys', `GROUP BY ${dimensionText(dims[0]!)} over ${q.name} in a JOIN on alternative keys (OR)`, `GROUP BY over ${q.name} with a JOIN on one key or a compound key (AND); GROUP BY over ${p.name} with alternatives`);
  }
  const allowed = overlapGrant(q, p.owner)?.filters ?? [];
  for (const ref of dims.flatMap(dimensionColumns)) {
    if (!allowed.includes(ref.column)) {
      throw new RuleViolation(
        `${q.name}.rules.overlapDisclosure`,
        `GROUP BY ${q.name}.${ref.column} lets ${p.owner} learn which of its keys are in ${q.name} for each value of ${ref.column}, which ${q.owner} has not granted (its grant's filters do not list ${ref.column})`,
        allowed.length > 0 ? `GROUP BY over ${allowed.map((c) => `${q.name}.${c}`).join(', ')}` : `no GROUP BY over ${q.name}`,
      );
    }
  }
  const filters = plan.others[0]!.filters;
  const domains = dims.map((d) => onlyFiltered(dimensionDomain(d, q, `over the partner's table ${q.name}`), d, filters));
  const size = domains.reduce((n, vs) => n * vs.length, 1);
  if (size > MAX_PARTNER_GROUPS) {
    throw new CleanroomError('LIMIT_EXCEEDED', `GROUP BY over ${q.name} has ${size} possible label combinations; at most ${MAX_PARTNER_GROUPS} (each re-blinds ${p.name}'s whole key set once): filter ${q.name}'s dimensions to fewer values, or group by fewer of them`);
  }
  if (size === 0) throw new CleanroomError('QUERY_INVALID', `the filters on ${q.name} leave none of the declared labels of ${dims.map(dimensionText).join(', ')}: the query could only be empty`);
  const labels = domains.reduce<Cell[][]>((acc, vs) => acc.flatMap((prefix) => vs.map((v) => [...prefix, v])), [[]]);
  const perKey = plan.privacy ? Math.min(labels.length, plan.privacy.maxRowsPerKey) : labels.length;
  return { positions, labels, perKey };
}

/**
 * The labels of a partner's column that its filters leave: a conjunct `c = x` or `c IN (…)` on the column itself lets
 * no other label (nor NULL) through, so its parts would be empty and its re-blinding wasted, and one person's rows
 * could be counted in fewer parts than the domain holds (perKey).
 */
function onlyFiltered(domain: readonly Cell[], d: Dimension, filters: readonly Condition[]): Cell[] {
  if (d.kind !== 'column') return [...domain];
  let kept = [...domain];
  for (const f of filters) {
    if (!('column' in f) || f.functions !== undefined || f.column.column !== d.column.column) continue;
    const values = f.kind === 'in' ? f.values : f.kind === 'compare' && f.op === '=' ? [f.value] : undefined;
    // By value: an integer label 2 is the literal 2.0 (a date's and a string's label is its text, a boolean's 'true').
    if (values) kept = kept.filter((label) => label !== null && values.some((v) => (v.type === 'number' ? Number(v.value) === Number(label) : String(v.value) === String(label))));
  }
  return kept;
}

/** P's groups times the partner's labels, each label tuple's values at their GROUP BY positions, in result order. */
function combinedDomain(own: readonly (readonly Cell[])[], parts: PartnerGroups, width: number): Cell[][] {
  return own.flatMap((o) => parts.labels.map((l) => interleaveLabels(o, l, parts.positions, width)));
}

/** The labels of one group in GROUP BY order, from P's own labels and a partner's label tuple. */
export function interleaveLabels(own: readonly Cell[], partner: readonly Cell[], positions: readonly number[], width: number): Cell[] {
  let o = 0;
  let q = 0;
  return Array.from({ length: width }, (_, i) => (positions.includes(i) ? partner[q++]! : own[o++]!));
}

function withPrivacy<P extends QueryPlan>(plan: P, tables: readonly Table[]): P {
  const privacy = privacyOf(tables, { mode: plan.mode, tables: tables.length });
  return privacy ? { ...plan, privacy } : plan;
}

/**
 * A federated table (SPEC §4.5), on its own or joined with one other member's table: the holders aggregate their
 * parts over every declared group.
 */
function planFederated(ctx: FlowContext, t: Table): QueryPlan {
  const { query, scope, querier, minDistinctKeys } = ctx;
  const receivers = ctx.manifest.receivers;
  const joined = scope.joined;
  if (joined) assertFederatedGrant(t, joined, filtersOf(query, joined));
  // Every GROUP BY, SUM and AVG column is the federated table's: the joined table contributes keys and filters.
  if (valueColumnsOf(query).some((ref) => ref.table !== t.name)) {
    throw new RuleViolation('privacy-model.single-aggregator', `GROUP BY, SUM and AVG of a query on the federated table ${t.name} name another table`, `columns of ${t.name}; the joined table contributes its keys and WHERE filters`);
  }
  const domain = groupDomain(query.groupBy, t, 'on a federated table');
  const vector = vectorColumnsOf(query, t);
  const holders = [...t.holders!];
  const others = joined ? [{ table: joined, filters: filtersOf(query, joined) }] : [];
  const parts = [...holders, ...others.map((o) => o.table.owner)];
  const plan: FederatedPlan = {
    mode: 'federated',
    querier,
    members: [...parts, ...receivers.filter((r) => !parts.includes(r))],
    holders,
    aggregator: { table: t, filters: filtersOf(query, t) },
    others,
    outputs: query.select,
    groupBy: query.groupBy,
    ...vector,
    minDistinctKeys,
    receivers,
    domain,
  };
  return withPrivacy(plan, scope.tables);
}

/**
 * In a join of three or more, the first other table's owner is the combiner, which holds every other set and learns
 * the sizes of their intersections (SPEC §4.4). The querier must not pick it by the order of its FROM clause, nor be
 * it: the combiner is the first other table, in the signed manifest's order, whose owner is not the querier; the
 * others follow in query order.
 */
function combinerFirst(others: readonly Table[], manifest: Manifest, querier: string): Table[] {
  if (others.length < 2) return [...others];
  const combiner = manifest.tables.find((t) => others.includes(t) && t.owner !== querier)!;
  return [combiner, ...others.filter((t) => t !== combiner)];
}

/**
 * SPEC §1: the member learning which of its keys are in `t`'s filtered set sees that set narrowed by every filter on
 * `t`; the querier chooses them, so each column they read must be one `t`'s grant allows (a BETWEEN search could
 * otherwise read a value person by person). AND, OR and NOT over allowed columns only combine what each allows.
 */
function assertGrantedFilters(t: Table, member: string, filters: readonly Condition[]): void {
  const allowed = overlapGrant(t, member)?.filters ?? [];
  for (const column of new Set(filters.flatMap(columnsOf))) {
    if (!allowed.includes(column)) {
      throw new RuleViolation(
        `${t.name}.rules.overlapDisclosure`,
        `filtering ${t.name} on ${column} would narrow the key set whose overlap ${member} learns, which ${t.owner} has not granted`,
        allowed.length > 0 ? `filters on ${allowed.map((c) => `${t.name}.${c}`).join(', ')}` : `no filter on ${t.name} (or a count-only query)`,
      );
    }
  }
}

function valueColumnsOf(query: Query): ColumnRef[] {
  return [...query.groupBy.flatMap(dimensionColumns), ...query.select.flatMap((i) => (i.kind === 'aggregate' ? aggregateColumns(i.aggregate) : []))];
}

/**
 * The columns whose values an aggregate reads. COUNT(DISTINCT key) reads none: only the matched keys, which
 * count-only computes as well. An expression reads its value columns and its CASE conditions' columns (all of one
 * table, expression.ts).
 */
function aggregateColumns(a: Aggregate): ColumnRef[] {
  if (a.fn === 'count' || a.fn === 'count-distinct') return [];
  return 'column' in a ? [a.column] : [...valueColumnsOfExpression(a.expression), ...conditionsOf(a.expression).flatMap(predicatesOf).map((p) => p.column)];
}

const LITERAL_OF: Readonly<Record<Column['type'], Literal['type']>> = { string: 'string', integer: 'number', decimal: 'number', date: 'date', timestamp: 'timestamp', boolean: 'boolean' };
const LITERAL_EXAMPLE: Readonly<Record<Literal['type'], string>> = {
  string: 'a string literal',
  number: 'a number literal',
  boolean: 'true or false',
  date: "a DATE 'YYYY-MM-DD' literal",
  timestamp: "a TIMESTAMP 'YYYY-MM-DD HH:MM:SS' or DATE literal",
};

function literalText(lit: Literal): string {
  if (lit.type === 'string') return `'${lit.value}'`;
  if (lit.type === 'date' || lit.type === 'timestamp') return `${lit.type.toUpperCase()} '${lit.value}'`;
  return String(lit.value);
}

/** Types: lower/upper/trim and LIKE read strings; a literal has its column's type. */
function checkPredicate(p: Predicate, c: Column): void {
  const ref = `${p.column.table}.${p.column.column}`;
  if (c.type !== 'string') {
    const [fn] = p.functions ?? [];
    if (fn) throw new CleanroomError('QUERY_INVALID', `${fn}() applies to string columns; ${ref} is a ${c.type} column`);
    if (p.kind === 'like') {
      throw new CleanroomError('QUERY_INVALID', `${p.caseInsensitive ? 'ILIKE' : 'LIKE'} applies to string columns; ${ref} is a ${c.type} column: compare it with =, <, BETWEEN or IN`);
    }
  }
  const literals: readonly Literal[] = p.kind === 'compare' ? [p.value] : p.kind === 'in' ? p.values : p.kind === 'between' ? [p.low, p.high] : [];
  const want = LITERAL_OF[c.type];
  for (const lit of literals) {
    // A date stands for its first instant, as SQL casts it, where a timestamp is compared.
    if (lit.type !== want && !(c.type === 'timestamp' && lit.type === 'date')) {
      throw new CleanroomError('QUERY_INVALID', `${ref} is a ${c.type} column; compare it with ${LITERAL_EXAMPLE[want]}, not ${literalText(lit)}`);
    }
  }
}

/** A column a query names, or QUERY_INVALID naming the table's columns. */
function columnOf(scope: Scope, ref: ColumnRef): Column {
  const t = scope.byName.get(ref.table);
  const c = t?.columns.find((x) => x.name === ref.column);
  if (!t || !c) throw new CleanroomError('QUERY_INVALID', `no column ${ref.table}.${ref.column}; columns of ${ref.table}: ${t?.columns.map((x) => x.name).join(', ') ?? 'none'}`);
  return c;
}

function listOrNone(items: readonly string[]): string {
  return items.length > 0 ? items.join(', ') : 'none';
}
