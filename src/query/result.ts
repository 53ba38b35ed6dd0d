import { AVG_DECIMALS } from '../limits.js';
import { outputSlots, releasedSlots } from './group-vector.js';
import type { QueryPlan } from './plan.js';

/** One value of a result: a group's label (a dimension value), a count, or an exact decimal as text. */
export type Cell = string | number | null;

/** One output group before sharing: its labels and its integer aggregates. */
export interface GroupAggregate {
  readonly labels: readonly Cell[];
  /** One value per slot of the group vector (src/query/group-vector.ts). */
  readonly values: readonly bigint[];
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
  /** Set when a table's privacy policy made the query differentially private (SPEC §10). */
  readonly privacy?: ResultPrivacy;
  /** Set when HAVING, ORDER BY, LIMIT or OFFSET shaped the rows (src/query/after-release.ts). */
  readonly afterRelease?: AfterReleaseNote;
}

/** What a result shaped after its release says of itself. */
export interface AfterReleaseNote {
  /** Groups opened to the receivers; the rows are those of them that HAVING kept, in ORDER BY's order, cut by OFFSET and LIMIT. */
  readonly released: number;
  /**
   * Under a privacy policy, the clauses that tested or sorted noisy values: a HAVING on a noisy count may keep a group
   * whose exact count fails it, or drop one that passes, and rows may stand out of their exact order.
   */
  readonly onNoisyValues?: readonly ('HAVING' | 'ORDER BY')[];
}

/** What a DP result states about itself: its ε and δ, and an interval for every aggregate cell. */
export interface ResultPrivacy {
  readonly epsilon: string;
  readonly delta: string;
  /** Each interval holds the exact answer with at least this probability. */
  readonly confidence: number;
  /** Per row, per column: [low, high] for an aggregate cell, null for a label or a NULL value. */
  readonly intervals: readonly (readonly (Interval | null)[])[];
}

export type Interval = readonly [Cell, Cell];

/** The half-widths of the noise on each released column, from the query's noise plan (src/query/noise.ts). */
export interface NoiseBounds {
  readonly epsilon: string;
  readonly delta: string;
  readonly confidence: number;
  /** At `confidence`, for counts and sums. */
  readonly bound: ReadonlyMap<number, bigint>;
  /** At (1 + confidence) / 2, for each of the two values behind an AVG, so that both hold at `confidence`. */
  readonly halfBound: ReadonlyMap<number, bigint>;
  /**
   * The released count that also decided the release (the threshold column, when it is an output): its interval is
   * the one conditional on the release, [lo, hi] for a noisy value and a miss (src/dp/selective-interval.ts).
   */
  readonly selected?: { readonly column: number; readonly interval: (v: bigint, miss: number) => readonly [bigint, bigint] };
}

interface Aggregated {
  readonly cell: Cell;
  readonly interval: Interval | null;
}

/**
 * Builds the result table from the labels and the opened values (one vector of released columns per group). With
 * noise, counts below zero read as zero, SUM and AVG of a group whose noisy non-null count is not positive are
 * NULL, and an AVG is clamped to its column's bounds: each only moves a value towards the truth.
 */
export function assembleResult(
  queryId: string,
  plan: QueryPlan,
  labels: readonly (readonly Cell[])[],
  opened: readonly (readonly bigint[])[],
  noise?: NoiseBounds,
): QueryResult {
  const released = releasedSlots(plan);
  const at = (vector: readonly bigint[], slot: number) => vector[released.indexOf(slot)]!;
  const cells = opened.map((vector, g) =>
    plan.outputs.map((item): Aggregated => {
      if (item.kind === 'dimension') return { cell: labels[g]![plan.groupBy.indexOf(item.column.column)] ?? null, interval: null };
      const o = outputSlots(plan, item.aggregate);
      if (o.fn === 'count') {
        const v = at(vector, o.count);
        if (!noise) return { cell: Number(v), interval: null };
        const [lo, hi] = countInterval(noise, o.count, v, 1 - noise.confidence);
        return { cell: Number(atLeastZero(v)), interval: [Number(atLeastZero(lo)), Number(atLeastZero(hi))] };
      }
      const { column: c, scale } = o;
      const sum = at(vector, o.sum);
      const n = at(vector, o.nonNull);
      if (n <= 0n) return { cell: null, interval: null };
      if (o.fn === 'sum') {
        if (!noise) return { cell: formatScaled(sum, scale), interval: null };
        const q = noise.bound.get(o.sum)!;
        return { cell: formatScaled(sum, scale), interval: [formatScaled(sum - q, scale), formatScaled(sum + q, scale)] };
      }
      const avg = (s: bigint, k: bigint) => divRound(s * 10n ** BigInt(AVG_DECIMALS), k * 10n ** BigInt(scale));
      if (!noise) return { cell: formatScaled(avg(sum, n), AVG_DECIMALS), interval: null };
      const lowest = boundInAvgUnits(c.type === 'string' ? 0 : c.min, scale, 'floor');
      const highest = boundInAvgUnits(c.type === 'string' ? 0 : c.max, scale, 'ceil');
      const clamp = (x: bigint) => (x < lowest ? lowest : x > highest ? highest : x);
      const qs = noise.halfBound.get(o.sum)!;
      const [nLow, nHigh] = countInterval(noise, o.nonNull, n, (1 - noise.confidence) / 2);
      // The true sum and count lie within their half bounds together with probability at least `confidence`; the
      // true average then lies between the extreme ratios of the corners, and always within the column's bounds.
      const corners = nLow > 0n ? [sum - qs, sum + qs].flatMap((s) => [nLow, nHigh].map((k) => avg(s, k))) : [lowest, highest];
      const interval: Interval = [formatScaled(clamp(min(corners)), AVG_DECIMALS), formatScaled(clamp(max(corners)), AVG_DECIMALS)];
      return { cell: formatScaled(clamp(avg(sum, n)), AVG_DECIMALS), interval };
    }),
  );
  // Groups are opened in an order drawn for the query (SPEC §4.3): the result is in label order, as SQL would give it.
  const order = labels.map((_, i) => i).sort((x, y) => compareLabelRows(labels[x]!, labels[y]!));
  const sorted = order.map((i) => cells[i]!);
  const rows = sorted.map((r) => r.map((x) => x.cell));
  const base = { queryId, mode: plan.mode, columns: plan.outputs.map((o) => o.name), rows, minDistinctKeys: plan.minDistinctKeys };
  if (!noise) return base;
  const intervals = sorted.map((r) => r.map((x) => x.interval));
  return { ...base, privacy: { epsilon: noise.epsilon, delta: noise.delta, confidence: noise.confidence, intervals } };
}

/** ORDER BY every label, NULLs last, as the data layer sorts them: numbers by value, text by code point (UTF-8 bytes). */
export function compareLabelRows(a: readonly Cell[], b: readonly Cell[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null || y === null) return x === null ? 1 : -1;
    const c = compareLabelCells(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

/** Two labels of one column, neither NULL: numbers by value, text by code point (UTF-8 bytes). */
export function compareLabelCells(x: string | number, y: string | number): number {
  const c = typeof x === 'number' && typeof y === 'number' ? x - y : Buffer.compare(Buffer.from(String(x)), Buffer.from(String(y)));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/**
 * A noisy count's interval at `miss`: `v ± w`, or for the count that decided the release, the interval conditional on
 * it (SPEC §10.2, "Reading a result").
 */
function countInterval(noise: NoiseBounds, column: number, v: bigint, miss: number): readonly [bigint, bigint] {
  if (noise.selected?.column === column) return noise.selected.interval(v, miss);
  const q = (miss === 1 - noise.confidence ? noise.bound : noise.halfBound).get(column)!;
  return [v - q, v + q];
}

function atLeastZero(x: bigint): bigint {
  return x < 0n ? 0n : x;
}

function min(xs: readonly bigint[]): bigint {
  return xs.reduce((a, b) => (b < a ? b : a));
}

function max(xs: readonly bigint[]): bigint {
  return xs.reduce((a, b) => (b > a ? b : a));
}

/** A declared column bound in units of 10^-AVG_DECIMALS, rounded outwards. */
function boundInAvgUnits(x: number, scale: number, round: 'floor' | 'ceil'): bigint {
  const units = BigInt(Math[round](x * 10 ** scale));
  return AVG_DECIMALS >= scale ? units * 10n ** BigInt(AVG_DECIMALS - scale) : units / 10n ** BigInt(scale - AVG_DECIMALS);
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
