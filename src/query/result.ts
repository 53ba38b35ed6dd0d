import { AVG_DECIMALS } from '../limits.js';
import type { QueryPlan } from './plan.js';

/** One value of a result: a group's label (a dimension value), a count, or an exact decimal as text. */
export type Cell = string | number | null;

/** One output group before sharing: its labels and its integer aggregates. */
export interface GroupAggregate {
  readonly labels: readonly Cell[];
  /** [rows, distinct keys, then per sum column: sum in units of 10^-scale, non-null count]. */
  readonly values: readonly bigint[];
}

/**
 * What the aggregation stage opens, and how receivers turn opened integers into a result table.
 * Every group is a vector [matched rows, distinct matched keys, (sum, non-null count) per sum column].
 */
export const ROWS = 0;
export const KEYS = 1;

export function groupWidth(plan: QueryPlan): number {
  return 2 + 2 * plan.sumColumns.length;
}

/** Columns of the group vector that receivers need for the requested outputs, nothing more. */
export function releasedColumns(plan: QueryPlan): number[] {
  const cols = new Set<number>();
  for (const item of plan.outputs) {
    if (item.kind !== 'aggregate') continue;
    const a = item.aggregate;
    if (a.fn === 'count') cols.add(plan.mode === 'count-only' ? KEYS : ROWS);
    else {
      const i = plan.sumColumns.indexOf(a.column.column);
      // The non-null count goes with every sum: SUM and AVG of a group with no value are NULL, as in SQL.
      cols.add(2 + 2 * i);
      cols.add(3 + 2 * i);
    }
  }
  return [...cols].sort((x, y) => x - y);
}


/** How a query ends for the member that asked it: its result, or (not a receiver) what was released to whom. */
export type QueryOutcome =
  | { readonly kind: 'result'; readonly result: QueryResult }
  | { readonly kind: 'released'; readonly queryId: string; readonly groups: number; readonly receivers: readonly string[] };

export interface QueryResult {
  readonly queryId: string;
  readonly mode: QueryPlan['mode'];
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** Groups resting on fewer distinct join keys than this were dropped before any value was opened. */
  readonly minDistinctKeys: number;
}

/** Builds the result table from the labels and the opened values (one vector of released columns per group). */
export function assembleResult(queryId: string, plan: QueryPlan, labels: readonly (readonly Cell[])[], opened: readonly (readonly bigint[])[]): QueryResult {
  const released = releasedColumns(plan);
  const at = (vector: readonly bigint[], column: number) => vector[released.indexOf(column)]!;
  const scaleOf = (name: string) => {
    const c = plan.aggregator.table.columns.find((x) => x.name === name);
    return c?.type === 'decimal' ? c.scale : 0;
  };
  const rows = opened.map((vector, g) =>
    plan.outputs.map((item): Cell => {
      if (item.kind === 'dimension') return labels[g]![plan.groupBy.indexOf(item.column.column)] ?? null;
      const a = item.aggregate;
      if (a.fn === 'count') return Number(at(vector, plan.mode === 'count-only' ? KEYS : ROWS));
      const i = plan.sumColumns.indexOf(a.column.column);
      const scale = scaleOf(a.column.column);
      const sum = at(vector, 2 + 2 * i);
      const n = at(vector, 3 + 2 * i);
      if (n === 0n) return null;
      if (a.fn === 'sum') return formatScaled(sum, scale);
      return formatScaled(divRound(sum * 10n ** BigInt(AVG_DECIMALS), n * 10n ** BigInt(scale)), AVG_DECIMALS);
    }),
  );
  return { queryId, mode: plan.mode, columns: plan.outputs.map((o) => o.name), rows, minDistinctKeys: plan.minDistinctKeys };
}

/** An integer in units of 10^-scale as exact decimal text. */
export function formatScaled(v: bigint, scale: number): string {
  if (scale === 0) return v.toString();
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** num / den rounded half away from zero; den > 0. */
export function divRound(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r = num % den;
  if (2n * (r < 0n ? -r : r) >= den) return num < 0n ? q - 1n : q + 1n;
  return q;
}
