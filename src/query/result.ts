import type { Cell } from './ast.js';
import { compare, fromText } from '../dp/rational.js';
import { labelType, sameDimension } from './dimension.js';
import { AVG_DECIMALS } from '../limits.js';
import { outputSlots, releasedSlots, type OutputSlots } from './group-vector.js';
import { dimensionTableOf, type QueryPlan } from './plan.js';

export type { Cell };

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
  /** What the counts count, in one line (src/query/counts-text.ts); set by the node that receives the result. */
  readonly counts?: string;
  /** Under a privacy policy: the outputs whose noise outweighs what their values could be (src/query/noise-warnings.ts). */
  readonly warnings?: readonly NoiseWarning[];
}

/** A DP output whose 95% error is larger than its value could plausibly be, with what would help, in one line. */
export interface NoiseWarning {
  /** NOISE_WIDER_THAN_VALUE: a count's or sum's noise exceeds the value; NOISE_WIDER_THAN_RANGE: an AVG's interval spans most of its declared range. */
  readonly code: 'NOISE_WIDER_THAN_VALUE' | 'NOISE_WIDER_THAN_RANGE';
  /** The output's name, as the result's column. */
  readonly output: string;
  readonly message: string;
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
  /** At (2 + confidence) / 3, for each of the three values behind a VAR_* or STDDEV_*, so that all hold at `confidence`. */
  readonly thirdBound?: ReadonlyMap<number, bigint>;
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
  // Where each dimension output reads its label: found once, not per group.
  const labelAt = plan.outputs.map((item) => (item.kind === 'dimension' ? plan.groupBy.findIndex((d) => sameDimension(d, item.dimension)) : -1));
  const cells = opened.map((vector, g) =>
    plan.outputs.map((item, output): Aggregated => {
      if (item.kind === 'dimension') return { cell: labels[g]![labelAt[output]!] ?? null, interval: null };
      const o = outputSlots(plan, item.aggregate);
      if (o.fn === 'count') {
        const v = at(vector, o.count);
        if (!noise) return { cell: Number(v), interval: null };
        const [lo, hi] = countInterval(noise, o.count, v, 1 - noise.confidence);
        return { cell: Number(atLeastZero(v)), interval: [Number(atLeastZero(lo)), Number(atLeastZero(hi))] };
      }
      const { range, scale } = o;
      const sum = at(vector, o.sum);
      const n = at(vector, o.nonNull);
      if ('squares' in o) return varianceCell(o, sum, n, at(vector, o.squares), noise);
      if (n <= 0n) return { cell: null, interval: null };
      if (o.fn === 'sum') {
        if (!noise) return { cell: formatScaled(sum, scale), interval: null };
        const q = noise.bound.get(o.sum)!;
        return { cell: formatScaled(sum, scale), interval: [formatScaled(sum - q, scale), formatScaled(sum + q, scale)] };
      }
      const avg = (s: bigint, k: bigint) => divRound(s * 10n ** BigInt(AVG_DECIMALS), k * 10n ** BigInt(scale));
      if (!noise) return { cell: formatScaled(avg(sum, n), AVG_DECIMALS), interval: null };
      const lowest = rescale(range.lo, scale, AVG_DECIMALS, 'floor');
      const highest = rescale(range.hi, scale, AVG_DECIMALS, 'ceil');
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
  const numeric = plan.groupBy.map((d) => labelType(d, dimensionTableOf(plan, d)) === 'number');
  const order = labels.map((_, i) => i).sort((x, y) => compareLabelRows(labels[x]!, labels[y]!, numeric));
  const sorted = order.map((i) => cells[i]!);
  const rows = sorted.map((r) => r.map((x) => x.cell));
  const base = { queryId, mode: plan.mode, columns: plan.outputs.map((o) => o.name), rows, minDistinctKeys: plan.minDistinctKeys };
  if (!noise) return base;
  const intervals = sorted.map((r) => r.map((x) => x.interval));
  return { ...base, privacy: { epsilon: noise.epsilon, delta: noise.delta, confidence: noise.confidence, intervals } };
}

/**
 * ORDER BY every label, NULLs last, as SQL sorts them: labels of a numeric dimension (`numeric[i]`; a decimal's is
 * exact text) by value, others by code point (UTF-8 bytes; dates and timestamps are written so that this is their
 * order).
 */
export function compareLabelRows(a: readonly Cell[], b: readonly Cell[], numeric: readonly boolean[] = []): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null || y === null) return x === null ? 1 : -1;
    const c = compareLabelCells(x, y, numeric[i] === true);
    if (c !== 0) return c;
  }
  return 0;
}

/** Two labels of one column, neither NULL: numbers (and `numeric` text) by exact value, text by code point. */
export function compareLabelCells(x: string | number, y: string | number, numeric = false): number {
  const c = numeric || (typeof x === 'number' && typeof y === 'number') ? compare(fromText(String(x)), fromText(String(y))) : Buffer.compare(Buffer.from(String(x)), Buffer.from(String(y)));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/**
 * A noisy count's interval at `miss`: `v ± w`, or for the count that decided the release, the interval conditional on
 * it (SPEC §10.2, "Reading a result").
 */
function countInterval(noise: NoiseBounds, column: number, v: bigint, miss: number): readonly [bigint, bigint] {
  if (noise.selected?.column === column) return noise.selected.interval(v, miss);
  const q = boundsAt(noise, miss).get(column)!;
  return [v - q, v + q];
}

/** The half-widths at `miss`: the whole miss, half of it (AVG) or a third (VAR_*, STDDEV_*). */
function boundsAt(noise: NoiseBounds, miss: number): ReadonlyMap<number, bigint> {
  const whole = 1 - noise.confidence;
  if (miss === whole) return noise.bound;
  if (miss === whole / 2) return noise.halfBound;
  if (miss === whole / 3 && noise.thirdBound) return noise.thirdBound;
  throw new RangeError(`no noise bounds at a miss of ${miss}`);
}

/** A non-negative rational, num / den with den > 0: a variance in units of 10^-2·scale. */
interface Ratio {
  readonly num: bigint;
  readonly den: bigint;
}

/**
 * VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP of a group from its sum s1, non-null count n and sum of squares s2 (units
 * of 10^-scale, 10^-2·scale): the exact rational (n·s2 − s1²) / (n(n−1)) (samp) or / n² (pop), NULL when n < 2 (samp)
 * or n < 1 (pop); a variance rounded half away from zero to AVG_DECIMALS, a standard deviation the exact square root
 * of it so rounded. With noise, the variance is clamped to [0, the most values within the bounds can have] (each
 * only moves it towards the truth), and its interval holds the three true values' 1 − miss/3 intervals' extremes.
 */
function varianceCell(o: Extract<OutputSlots, { squares: number }>, s1: bigint, n: bigint, s2: bigint, noise: NoiseBounds | undefined): Aggregated {
  const samp = o.fn === 'var_samp' || o.fn === 'stddev_samp';
  const least = samp ? 2n : 1n;
  if (n < least) return { cell: null, interval: null };
  const den = (k: bigint) => (samp ? k * (k - 1n) : k * k);
  const unit = 10n ** BigInt(2 * o.scale);
  const shown = (r: Ratio, round: Round) => formatScaled(o.fn.startsWith('stddev') ? sqrtScaled(r, unit, round) : divide(r.num * 10n ** BigInt(AVG_DECIMALS), r.den * unit, round), AVG_DECIMALS);
  if (!noise) return { cell: shown({ num: n * s2 - s1 * s1, den: den(n) }, 'nearest'), interval: null };
  // Values within [lo, hi] spread at most (hi − lo)² / 4 (population), times n / (n − 1) ≤ 2 (sample).
  const width = o.range.hi - o.range.lo;
  const most: Ratio = { num: width * width * (samp ? 2n : 1n), den: 4n };
  const clamp = (r: Ratio): Ratio => (r.num <= 0n ? { num: 0n, den: 1n } : r.num * most.den > most.num * r.den ? most : r);
  const miss = (1 - noise.confidence) / 3;
  const q1 = boundsAt(noise, miss).get(o.sum)!;
  const q2 = boundsAt(noise, miss).get(o.squares)!;
  const [nLow, nHigh] = countInterval(noise, o.nonNull, n, miss);
  // The true count is at least `least` where the true value exists; the true sum of squares is never negative.
  const kLow = nLow > least ? nLow : least;
  const kHigh = nHigh > kLow ? nHigh : kLow;
  const s2Low = s2 - q2 > 0n ? s2 - q2 : 0n;
  const s2High = s2 + q2 > 0n ? s2 + q2 : 0n;
  const [a, b] = [s1 - q1, s1 + q1];
  const squareHigh = a * a > b * b ? a * a : b * b;
  const squareLow = a <= 0n && b >= 0n ? 0n : a * a < b * b ? a * a : b * b;
  // n·s2 − s1² grows with n and s2 and falls with s1²; the variance is it over a denominator growing with n.
  const low = clamp({ num: kLow * s2Low - squareHigh, den: den(kHigh) });
  const high = clamp({ num: kHigh * s2High - squareLow, den: den(kLow) });
  return { cell: shown(clamp({ num: n * s2 - s1 * s1, den: den(n) }), 'nearest'), interval: [shown(low, 'floor'), shown(high, 'ceil')] };
}

type Round = 'nearest' | 'floor' | 'ceil';

/** num / den (den > 0) rounded as asked: half away from zero, down or up. */
function divide(num: bigint, den: bigint, round: Round): bigint {
  if (round === 'nearest') return divRound(num, den);
  const q = num / den;
  const exact = q * den === num;
  if (round === 'floor') return !exact && num < 0n ? q - 1n : q;
  return !exact && num > 0n ? q + 1n : q;
}

/** The square root of r / unit (r ≥ 0) in units of 10^-AVG_DECIMALS: exact integer arithmetic, rounded as asked. */
function sqrtScaled(r: Ratio, unit: bigint, round: Round): bigint {
  // x = num·10^(2·AVG_DECIMALS) / (den·unit) is the square of the answer in units of 10^-AVG_DECIMALS.
  const num = r.num * 10n ** BigInt(2 * AVG_DECIMALS);
  const den = r.den * unit;
  const k = isqrt(num / den); // ⌊√x⌋ = ⌊√⌊x⌋⌋
  if (round === 'floor') return k;
  if (round === 'ceil') return k * k * den < num ? k + 1n : k;
  // √x ≥ k + 1/2 exactly when 4·num ≥ (2k + 1)²·den: the half goes up, away from zero.
  return 4n * num >= (2n * k + 1n) ** 2n * den ? k + 1n : k;
}

/** ⌊√x⌋ of x ≥ 0, exactly. */
export function isqrt(x: bigint): bigint {
  if (x < 2n) return x;
  // Newton's iteration from a power of two at or above √x falls strictly until it reaches ⌊√x⌋.
  let y = 1n << BigInt(Math.ceil(x.toString(2).length / 2));
  for (;;) {
    const next = (y + x / y) >> 1n;
    if (next >= y) return y;
    y = next;
  }
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

/** Units of 10^-from as units of 10^-to, rounded as asked when `to` is coarser. */
function rescale(units: bigint, from: number, to: number, round: 'floor' | 'ceil'): bigint {
  return to >= from ? units * 10n ** BigInt(to - from) : divide(units, 10n ** BigInt(from - to), round);
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
