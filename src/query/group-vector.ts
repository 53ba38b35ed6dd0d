import { MAX_GROUP_WIDTH, MAX_SUM_COLUMNS, MIN_GROUP_WIDTH } from '../limits.js';
import { everyRowHasValue, maxAbsUnits, type Column, type Table } from '../manifest/schema.js';
import type { Aggregate } from './ast.js';
import type { QueryPlan } from './plan.js';

/**
 * The per-group vector (SPEC §4.3, §10.2): the integers the aggregating side computes for every group, shares, and
 * opens in part. Its layout lives here and nowhere else:
 *
 *   [matched rows, distinct matched keys, (sum, non-null count) per summed column, non-null count per counted column]
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
  | { readonly kind: 'non-null'; readonly column: string };

/**
 * What decides a vector's layout: the summed columns of the aggregated table, in the plan's order, then the columns
 * only counted (COUNT(t.c)), each once: not summed (a summed column's non-null slot serves), and not a column whose
 * non-null count is the row count (everyRowHasValue: nonNullSlot reads ROWS for it). The planner lists them so.
 */
export interface VectorShape {
  readonly sumColumns: readonly string[];
  readonly countColumns?: readonly string[];
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
  ];
}

/** How many values a group's vector holds. */
export function groupWidth(shape: VectorShape): number {
  return widthFor(shape.sumColumns.length, shape.countColumns?.length ?? 0);
}

/** The planner bounds summed plus counted columns by MAX_SUM_COLUMNS: a counted column is one slot, a summed two. */
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
  const i = slots(shape).findIndex((s) => s.kind === slot.kind && (s.kind === 'rows' || s.kind === 'keys' || s.column === (slot as { column: string }).column));
  if (i < 0) throw new RangeError(`slotIndex: no ${slot.kind} slot${'column' in slot ? ` of ${slot.column}` : ''} in this vector`);
  return i;
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
 * `key` is the normalised join key's column, `quote` quotes a column name.
 */
export function vectorSelectSql(table: Table, shape: VectorShape, key: string, quote: (name: string) => string): string[] {
  return slots(shape).map((s) => {
    switch (s.kind) {
      case 'rows':
        return 'count(*)';
      case 'keys':
        return `count(DISTINCT ${key})`;
      case 'sum': {
        const c = columnOf(table, s.column);
        const scaled = c.type === 'decimal' ? `CAST(${quote(s.column)} * ${10n ** BigInt(c.scale)} AS HUGEINT)` : `CAST(${quote(s.column)} AS HUGEINT)`;
        return `CAST(coalesce(sum(${scaled}), 0) AS HUGEINT)`;
      }
      case 'non-null':
        return `count(${quote(s.column)})`;
    }
  });
}

/**
 * Where COUNT(*) reads its value: the distinct-key count of a count-only query (the intersection size), else the
 * matched-row count.
 */
export function countSlot(plan: Pick<QueryPlan, 'mode'>): number {
  return plan.mode === 'count-only' ? KEYS : ROWS;
}

/** Where the sum of a summed column sits. */
export function sumSlot(plan: QueryPlan, column: string): number {
  return slotIndex(plan, { kind: 'sum', column });
}

/**
 * Where the non-null count of a summed or counted column is read: its own slot, or for a column the manifest declares required
 * (no NULL in any row) the matched-row count, which then equals it: one count released, not two (SPEC §10.2).
 */
export function nonNullSlot(plan: QueryPlan, column: string): number {
  const c = plan.aggregator.table.columns.find((x) => x.name === column);
  return c && everyRowHasValue(c) ? ROWS : slotIndex(plan, { kind: 'non-null', column });
}

/** Which slots an aggregate output reads, and (SUM, AVG) its column with the scale its sum is in. */
export type OutputSlots =
  | { readonly fn: 'count'; readonly count: number }
  | { readonly fn: 'sum' | 'avg'; readonly column: Column; readonly scale: number; readonly sum: number; readonly nonNull: number };

export function outputSlots(plan: QueryPlan, a: Aggregate): OutputSlots {
  if (a.fn === 'count') return { fn: 'count', count: countSlot(plan) };
  // COUNT(DISTINCT key): the distinct matched keys, whichever table's key it names (matched keys are the same).
  if (a.fn === 'count-distinct') return { fn: 'count', count: KEYS };
  // COUNT(t.c): the non-null count, as AVG reads it; one slot however many outputs read it.
  if (a.fn === 'count-values') return { fn: 'count', count: nonNullSlot(plan, a.column.column) };
  const column = columnOf(plan.aggregator.table, a.column.column);
  const scale = column.type === 'decimal' ? column.scale : 0;
  // The non-null count goes with every sum: SUM and AVG of a group with no value are NULL, as in SQL.
  return { fn: a.fn, column, scale, sum: sumSlot(plan, a.column.column), nonNull: nonNullSlot(plan, a.column.column) };
}

/** Slots of the vector that receivers need for the requested outputs, nothing more, in vector order. */
export function releasedSlots(plan: QueryPlan): number[] {
  const cols = new Set<number>();
  for (const item of plan.outputs) {
    if (item.kind !== 'aggregate') continue;
    const o = outputSlots(plan, item.aggregate);
    if (o.fn === 'count') cols.add(o.count);
    else {
      cols.add(o.sum);
      cols.add(o.nonNull);
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
 * `parts` of a federated table). Those rows can fall in as many groups, so across all groups one person moves the
 * row count and each non-null count by at most rowsPerPerson, each sum by rowsPerPerson x the column's largest
 * |value|, and the distinct-key count by one per part in each of up to rowsPerPerson groups (count-only: by one).
 * L2 squared is L1 squared but for the distinct-key count with GROUP BY: +1 per part in each of up to maxRowsPerKey
 * groups, parts² · maxRowsPerKey.
 */
export function slotSensitivity(plan: QueryPlan, index: number, person: { readonly maxRowsPerKey: number; readonly parts: number }): SlotSensitivity {
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
      return square(rowsPerPerson);
    case 'sum': {
      const c = plan.aggregator.table.columns.find((x) => x.name === s.column);
      if (!c || c.type === 'string') throw new RangeError(`noisePlan: column ${index} is not a numeric column's sum`);
      return square(rowsPerPerson * maxAbsUnits(c));
    }
  }
}

function columnOf(table: Table, name: string): Column {
  const c = table.columns.find((x) => x.name === name);
  if (!c) throw new RangeError(`group vector: no column ${name} in ${table.name}`);
  return c;
}
