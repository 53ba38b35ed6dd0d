import { MAX_GROUP_WIDTH, MAX_SUM_COLUMNS, MIN_GROUP_WIDTH } from '../limits.js';
import { everyRowHasValue, maxAbsUnits, type Column, type Table } from '../manifest/schema.js';
import type { Aggregate, Condition, NumericExpression, SelectItem, ValueFunction } from './ast.js';
import { predicatesOf } from './condition.js';
import { columnRange, columnUnitsSql, conditionsOf, expressionRange, expressionScale, expressionSql, maxSquare, valueColumnsOf, type UnitRange } from './expression.js';

/**
 * The per-group vector (SPEC §4.3, §10.2): the integers the aggregating side computes for every group, shares, and
 * opens in part. Its layout lives here and nowhere else:
 *
 *   [matched rows, distinct matched keys, (sum, non-null count) per summed column, non-null count per counted column,
 *    sum of squares per squared column, (sum, non-null count[, sum of squares]) per summed expression]
 *
 * Everything else asks this module: the slots and the width, where a value sits, the SQL that fills a vector in
 * DuckDB, each slot's sensitivity under a privacy policy, and which slots an output reads. A new aggregate (say a
 * variance from a sum of squares) is a new slot kind here, plus its syntax and its formatting.
 */
export type Slot =
  /** Matched rows of the group: COUNT(*) of an aggregate query. */
  | { readonly kind: 'rows' }
  /** Distinct matched join keys: the count the minimum applies to, and COUNT(*) of a count-only query. */
  | { readonly kind: 'keys' }
  /** The sum of a column's values, in units of 10^-scale (a decimal column's scale, else 1). */
  | { readonly kind: 'sum'; readonly column: string }
  /** How many rows of the group have a value in the column: the divisor of AVG, and whether SUM is NULL. */
  | { readonly kind: 'non-null'; readonly column: string }
  /** The sum of a summed column's values squared, in units of 10^-2·scale: with its sum and count, VAR_* and STDDEV_*. */
  | { readonly kind: 'squares'; readonly column: string }
  /**
   * The sum, the non-null count and the sum of squares of an expression's values (src/query/expression.ts), in units
   * of 10^-scale (squares 10^-2·scale) at the expression's scale.
   */
  | { readonly kind: 'expression-sum' | 'expression-non-null' | 'expression-squares'; readonly expression: NumericExpression };

/**
 * What decides a vector's layout: the summed columns of the aggregated table, in the plan's order, then the columns
 * only counted (COUNT(t.c)), each once: not summed (a summed column's non-null slot serves), and not a column whose
 * non-null count is the row count (everyRowHasValue: nonNullSlot reads ROWS for it). The planner lists them so.
 */
export interface VectorShape {
  readonly sumColumns: readonly string[];
  readonly countColumns?: readonly string[];
  /** Summed columns whose squares are summed too (VAR_*, STDDEV_* of the column), each once, in the plan's order. */
  readonly squareColumns?: readonly string[];
  /** Expressions summed (SUM, AVG, VAR_*, STDDEV_* of one), each once, in the plan's order. */
  readonly sumExpressions?: readonly SummedExpression[];
}

/** An expression a vector sums, and whether it sums its squares too (a VAR_* or STDDEV_* of it is an output). */
export interface SummedExpression {
  readonly expression: NumericExpression;
  readonly squares: boolean;
}

/**
 * What of a query plan (src/query/plan.ts) the vector reads: its shape, its flow, its aggregating table and its
 * outputs. Stated here rather than imported, so that the planner can ask this module about widths without a cycle.
 */
export interface VectorPlan extends VectorShape {
  readonly mode: 'count-only' | 'aggregate' | 'federated';
  readonly aggregator: { readonly table: Table };
  readonly groupBy: readonly unknown[];
  readonly outputs: readonly SelectItem[];
}

/** The slot of the matched-row count. */
export const ROWS = 0;
/** The slot of the distinct-key count. */
export const KEYS = 1;

/** Every slot of a plan's vector, in order. */
export function slots(shape: VectorShape): Slot[] {
  return [
    { kind: 'rows' },
    { kind: 'keys' },
    ...shape.sumColumns.flatMap((column): Slot[] => [{ kind: 'sum', column }, { kind: 'non-null', column }]),
    ...(shape.countColumns ?? []).map((column): Slot => ({ kind: 'non-null', column })),
    ...(shape.squareColumns ?? []).map((column): Slot => ({ kind: 'squares', column })),
    ...(shape.sumExpressions ?? []).flatMap(({ expression, squares }): Slot[] => [
      { kind: 'expression-sum', expression },
      { kind: 'expression-non-null', expression },
      ...(squares ? [{ kind: 'expression-squares', expression } as const] : []),
    ]),
  ];
}

/** The columns of the aggregated table the vector reads: summed, counted, and those of its expressions (CASE conditions too). */
export function vectorColumns(shape: VectorShape): string[] {
  const ofExpression = (e: NumericExpression) => [...valueColumnsOf(e), ...conditionsOf(e).flatMap(predicatesOf).map((p) => p.column)].map((c) => c.column);
  return [...new Set([...shape.sumColumns, ...(shape.countColumns ?? []), ...(shape.squareColumns ?? []), ...(shape.sumExpressions ?? []).flatMap((x) => ofExpression(x.expression))])];
}

/** How many values a group's vector holds: the planner keeps it within MAX_GROUP_WIDTH. */
export function groupWidth(shape: VectorShape): number {
  return slots(shape).length;
}

/**
 * The width of a vector of summed and counted columns only: the planner bounds their number by MAX_SUM_COLUMNS (a
 * counted column is one slot, a summed two), and squares and expressions by MAX_GROUP_WIDTH itself.
 */
function widthFor(sumColumns: number, countColumns: number): number {
  return 2 + 2 * sumColumns + countColumns;
}

// The wire bounds a share vector's width by these (src/wire/messages.ts cannot import this module): the widest
// vector sums MAX_SUM_COLUMNS columns; counting some of them instead only narrows it.
if (widthFor(0, 0) !== MIN_GROUP_WIDTH || widthFor(MAX_SUM_COLUMNS, 0) !== MAX_GROUP_WIDTH || widthFor(0, MAX_SUM_COLUMNS) > MAX_GROUP_WIDTH) {
  throw new Error('src/limits.ts: MIN_GROUP_WIDTH and MAX_GROUP_WIDTH must be the width of the narrowest and widest group vector');
}

/** Where `slot` sits in a plan's vector. */
export function slotIndex(shape: VectorShape, slot: Slot): number {
  const i = slots(shape).findIndex((s) => sameSlot(s, slot));
  if (i < 0) throw new RangeError(`slotIndex: no ${slot.kind} slot${'column' in slot ? ` of ${slot.column}` : ''} in this vector`);
  return i;
}

function sameSlot(a: Slot, b: Slot): boolean {
  if (a.kind !== b.kind) return false;
  if ('column' in a) return 'column' in b && a.column === b.column;
  if ('expression' in a) return 'expression' in b && sameExpression(a.expression, b.expression);
  return true;
}

/** Two expressions are one when they are written alike (the parser's tree: parentheses and spacing aside). */
export function sameExpression(a: NumericExpression, b: NumericExpression): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The slot at `index` of a plan's vector. */
export function slotAt(shape: VectorShape, index: number): Slot {
  const s = slots(shape)[index];
  if (!s) throw new RangeError(`slotAt: the vector has no slot ${index}`);
  return s;
}

/** A vector from a value per slot. */
export function vectorOf(shape: VectorShape, value: (slot: Slot) => bigint): bigint[] {
  return slots(shape).map(value);
}

/** The one group of a count-only query: `n` matched keys, each its own row (the PSI sets hold distinct keys). */
export function countOnlyVector(n: bigint): bigint[] {
  return vectorOf({ sumColumns: [] }, () => n);
}

/**
 * The DuckDB select list that fills a vector from the group's rows, slot by slot (src/data/table-store.ts runs it):
 * `key` is the normalised join key's column, `quote` quotes a column name, and `condition` writes a CASE condition of
 * an expression as the data layer writes WHERE's (its literals bound as parameters): needed only when one has a CASE.
 * Every value is an exact HUGEINT; a NULL value adds nothing to a sum or a count, as in SQL.
 */
export function vectorSelectSql(table: Table, shape: VectorShape, key: string, quote: (name: string) => string, condition?: (c: Condition) => string): string[] {
  const conditionSql = (c: Condition): string => {
    if (!condition) throw new RangeError('vectorSelectSql: an expression has a CASE condition and no condition writer was given');
    return condition(c);
  };
  const sum = (units: string) => `CAST(coalesce(sum(${units}), 0) AS HUGEINT)`;
  return slots(shape).map((s) => {
    switch (s.kind) {
      case 'rows':
        return 'count(*)';
      case 'keys':
        return `count(DISTINCT ${key})`;
      case 'sum':
        return sum(columnUnitsSql(columnOf(table, s.column), quote));
      case 'non-null':
        return `count(${quote(s.column)})`;
      case 'squares': {
        const units = columnUnitsSql(columnOf(table, s.column), quote);
        return sum(`${units} * ${units}`);
      }
      case 'expression-sum':
        return sum(expressionSql(s.expression, table, quote, conditionSql));
      case 'expression-non-null':
        return `count(${expressionSql(s.expression, table, quote, conditionSql)})`;
      case 'expression-squares': {
        const units = expressionSql(s.expression, table, quote, conditionSql);
        return sum(`${units} * ${units}`);
      }
    }
  });
}

/**
 * Where COUNT(*) reads its value: the distinct-key count of a count-only query (the intersection size), else the
 * matched-row count.
 */
export function countSlot(plan: Pick<VectorPlan, 'mode'>): number {
  return plan.mode === 'count-only' ? KEYS : ROWS;
}

/** Where the sum of a summed column sits. */
export function sumSlot(plan: VectorPlan, column: string): number {
  return slotIndex(plan, { kind: 'sum', column });
}

/**
 * Where the non-null count of a summed or counted column is read: its own slot, or for a column the manifest declares required
 * (no NULL in any row) the matched-row count, which then equals it: one count released, not two (SPEC §10.2).
 */
export function nonNullSlot(plan: VectorPlan, column: string): number {
  const c = plan.aggregator.table.columns.find((x) => x.name === column);
  return c && everyRowHasValue(c) ? ROWS : slotIndex(plan, { kind: 'non-null', column });
}

/**
 * Which slots an aggregate output reads; for SUM, AVG, VAR_* and STDDEV_*, the scale its sum is in (its squares: twice
 * that) and the declared range of one value (units of 10^-scale), which AVG and the variance are clamped to.
 */
export type OutputSlots =
  | { readonly fn: 'count'; readonly count: number }
  | { readonly fn: 'sum' | 'avg'; readonly scale: number; readonly range: UnitRange; readonly sum: number; readonly nonNull: number }
  | { readonly fn: Exclude<ValueFunction, 'sum' | 'avg'>; readonly scale: number; readonly range: UnitRange; readonly sum: number; readonly nonNull: number; readonly squares: number };

/** Whether an aggregate is of the variance family, which reads a sum of squares. */
export function isVariance(fn: Aggregate['fn']): fn is Exclude<ValueFunction, 'sum' | 'avg'> {
  return fn === 'var_samp' || fn === 'var_pop' || fn === 'stddev_samp' || fn === 'stddev_pop';
}

export function outputSlots(plan: VectorPlan, a: Aggregate): OutputSlots {
  if (a.fn === 'count') return { fn: 'count', count: countSlot(plan) };
  // COUNT(DISTINCT key): the distinct matched keys, whichever table's key it names (matched keys are the same).
  if (a.fn === 'count-distinct') return { fn: 'count', count: KEYS };
  // COUNT(t.c): the non-null count, as AVG reads it; one slot however many outputs read it.
  if (a.fn === 'count-values') return { fn: 'count', count: nonNullSlot(plan, a.column.column) };
  const table = plan.aggregator.table;
  // The non-null count goes with every sum: SUM and AVG of a group with no value are NULL, as in SQL.
  if ('expression' in a) {
    const { expression } = a;
    const at = { scale: expressionScale(expression, table), range: expressionRange(expression, table), sum: slotIndex(plan, { kind: 'expression-sum', expression }), nonNull: slotIndex(plan, { kind: 'expression-non-null', expression }) };
    if (isVariance(a.fn)) return { fn: a.fn, ...at, squares: slotIndex(plan, { kind: 'expression-squares', expression }) };
    return { fn: a.fn, ...at };
  }
  const column = columnOf(table, a.column.column);
  const at = { scale: column.type === 'decimal' ? column.scale : 0, range: columnRange(column), sum: sumSlot(plan, a.column.column), nonNull: nonNullSlot(plan, a.column.column) };
  if (isVariance(a.fn)) return { fn: a.fn, ...at, squares: slotIndex(plan, { kind: 'squares', column: a.column.column }) };
  return { fn: a.fn, ...at };
}

/** Slots of the vector that receivers need for the requested outputs, nothing more, in vector order. */
export function releasedSlots(plan: VectorPlan): number[] {
  const cols = new Set<number>();
  for (const item of plan.outputs) {
    if (item.kind !== 'aggregate') continue;
    const o = outputSlots(plan, item.aggregate);
    if (o.fn === 'count') cols.add(o.count);
    else {
      cols.add(o.sum);
      cols.add(o.nonNull);
      if ('squares' in o) cols.add(o.squares);
    }
  }
  return [...cols].sort((x, y) => x - y);
}

/** How far one person can move a slot, summed over every group: L1 (Laplace) and L2 squared (Gaussian). */
export interface SlotSensitivity {
  readonly l1: bigint;
  readonly l2Squared: bigint;
}

/**
 * SPEC §10.2. One person brings at most `rowsPerPerson` rows to the aggregated table (maxRowsPerKey, times the
 * `parts` of a federated table, or the partner's parts a row counts in, SPEC §4.6). Those rows can fall in as many groups, so across all groups one person moves the
 * row count and each non-null count by at most rowsPerPerson, each sum by rowsPerPerson x the column's largest
 * |value|, each sum of squares by rowsPerPerson x the largest square, and the distinct-key count by one per part in
 * each of up to rowsPerPerson groups (count-only: by one). An expression's largest |value| and square are from interval
 * arithmetic over its columns' declared bounds (src/query/expression.ts).
 * L2 squared is L1 squared but for the distinct-key count with GROUP BY: +1 per part in each of up to maxRowsPerKey
 * groups, parts² · maxRowsPerKey.
 */
export function slotSensitivity(plan: VectorPlan, index: number, person: { readonly maxRowsPerKey: number; readonly parts: number }): SlotSensitivity {
  const { maxRowsPerKey, parts } = person;
  const rowsPerPerson = BigInt(maxRowsPerKey * parts);
  const square = (l1: bigint): SlotSensitivity => ({ l1, l2Squared: l1 ** 2n });
  const s = slotAt(plan, index);
  switch (s.kind) {
    case 'keys':
      if (plan.mode === 'count-only') return square(1n);
      return plan.groupBy.length > 0 ? { l1: rowsPerPerson, l2Squared: BigInt(parts * parts * maxRowsPerKey) } : square(BigInt(parts));
    case 'rows':
    case 'non-null':
    case 'expression-non-null':
      return square(rowsPerPerson);
    case 'sum': {
      const c = plan.aggregator.table.columns.find((x) => x.name === s.column);
      if (!c || (c.type !== 'integer' && c.type !== 'decimal')) throw new RangeError(`noisePlan: column ${index} is not a numeric column's sum`);
      return square(rowsPerPerson * maxAbsUnits(c));
    }
    case 'squares':
      return square(rowsPerPerson * maxSquare(columnRange(columnOf(plan.aggregator.table, s.column))));
    case 'expression-sum': {
      const r = expressionRange(s.expression, plan.aggregator.table);
      return square(rowsPerPerson * (r.hi > -r.lo ? r.hi : -r.lo));
    }
    case 'expression-squares':
      return square(rowsPerPerson * maxSquare(expressionRange(s.expression, plan.aggregator.table)));
  }
}

function columnOf(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw new RangeError(`group vector: no column ${name} in ${table.name}`);
  return c;
}
