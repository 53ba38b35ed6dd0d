import { compare, fromText, mul, rational, sub, toText, type Rational } from '../dp/rational.js';
import type { SelectItem } from './ast.js';
import { outputSlots, type OutputSlots } from './group-vector.js';
import { ERROR_BOUND_MISS, errorBound, noisePlan, noiseAdders, type NoisePlan } from './noise.js';
import type { QueryPlan } from './plan.js';
import { formatScaled, type Cell, type NoiseWarning, type QueryResult } from './result.js';

/*
 * Warnings for DP answers that mean little: a value whose 95% error is larger than the value could plausibly be. The
 * noise is sized by the declared bounds, the number of values a query opens and ε, never by the data, so a query can
 * be valid and still answer nothing: an AVG whose interval is the whole declared range. Computed here and only here,
 * from the noise plan before a query runs (the preview: `cleanroom query --preview` and the console's plan view) and
 * from the released intervals after (the result: CLI, `--json` and the console), each with the remedies that apply.
 *
 * The rules, per aggregate output (counts, SUM and AVG; VAR_* and STDDEV_* are left out, their intervals being a
 * conservative box that would warn on most queries):
 * - NOISE_WIDER_THAN_VALUE, a count or a SUM whose noise is larger than the value itself (it cannot tell it from 0).
 *   Result: a group's interval reaches further than |value| from it. Preview: the smallest group the query can
 *   release (the release threshold, in rows or keys; a group has at least as many rows as keys) is under that size:
 *   for a count, the count's 95% bound exceeds the threshold; for a SUM, it takes more rows than the threshold, each
 *   at the largest |value| the bounds allow, to outweigh the sum's 95% bound.
 * - NOISE_WIDER_THAN_RANGE, an AVG whose interval covers more than AVG_RANGE_SHARE of the declared range of its column
 *   (of an expression: the range of its values). Result: a group's interval is that wide (clamped to the whole range,
 *   it always is). Preview: a group of threshold size would get one that wide, an average's interval being at least
 *   2·(sum's bound) / (its count + count's bound) wide, and the whole range while the count is within its own bound.
 */

/**
 * The share of an AVG's declared range that its interval may cover before it is warned of: past half, the interval
 * cannot tell which half of the range the average lies in, as a count's or a sum's reaching past zero cannot tell
 * its sign, and says little the declaration did not.
 */
export const AVG_RANGE_SHARE: Rational = { num: 1n, den: 2n };

/** What a warned output's noise responds to, in the order the message suggests them. */
type Remedy = 'bounds' | 'outputs' | 'epsilon' | 'groups';

/** Warnings of a DP query before it runs, from its plan and noise plan. */
export function previewWarnings(plan: QueryPlan, noise: NoisePlan): NoiseWarning[] {
  const smallest = noise.threshold;
  return plan.outputs.flatMap((item) => {
    if (item.kind !== 'aggregate') return [];
    const o = outputSlots(plan, item.aggregate);
    const released = `groups are released from ${grouped(smallest.toString())}`;
    if (o.fn === 'count') {
      const w = errorBound(noise, o.count);
      if (w <= smallest) return [];
      return [warning('NOISE_WIDER_THAN_VALUE', item, `±${grouped(w.toString())} at 95%, more than the smallest group released (${grouped(smallest.toString())}): a count under ${grouped(w.toString())} is mostly noise`, remedies(plan, noise, ['outputs', 'epsilon', 'groups']))];
    }
    if (o.fn === 'sum') {
      const w = errorBound(noise, o.sum);
      if (o.range.worst === 0n) return [];
      // Rows each at the largest |value| the bounds allow that it takes for a sum to outweigh its noise.
      const rows = ceilDiv(w, o.range.worst);
      if (rows <= smallest) return [];
      return [warning('NOISE_WIDER_THAN_VALUE', item, `±${units(w, o.scale)} at 95%, more than any sum of fewer than ${grouped(rows.toString())} rows within ${rangeText(plan, item, o)} (${released})`, remedies(plan, noise, ['bounds', 'outputs', 'epsilon', 'groups']))];
    }
    if (o.fn !== 'avg') return [];
    const width = o.range.hi - o.range.lo;
    if (width <= 0n) return [];
    const half = ERROR_BOUND_MISS / 2;
    const ws = errorBound(noise, o.sum, half);
    const wn = errorBound(noise, o.nonNull, half);
    // 2·ws / (n + wn) > share·width while n < 2·ws / (share·width) − wn; and the whole range while n ≤ wn.
    const byWidth = ceilDiv(2n * ws * AVG_RANGE_SHARE.den, AVG_RANGE_SHARE.num * width) - wn;
    const rows = byWidth > wn ? byWidth : wn;
    if (rows <= smallest) return [];
    return [warning('NOISE_WIDER_THAN_RANGE', item, `noisy sum ±${units(ws, o.scale)} over noisy count ±${grouped(wn.toString())} at 95%: over fewer than ${grouped(rows.toString())} rows its interval spans more than ${shareText()} of ${rangeText(plan, item, o)} (${released})`, remedies(plan, noise, ['bounds', 'outputs', 'epsilon', 'groups']))];
  });
}

/** Warnings of a released DP result, from the intervals of its rows (those shown, after HAVING, ORDER BY and LIMIT). */
export function resultWarnings(plan: QueryPlan, result: Pick<QueryResult, 'rows' | 'privacy'>): NoiseWarning[] {
  const privacy = result.privacy;
  const noise = noisePlan(plan, noiseAdders(plan));
  if (!privacy || !noise) return [];
  return plan.outputs.flatMap((item, column) => {
    if (item.kind !== 'aggregate') return [];
    const o = outputSlots(plan, item.aggregate);
    const cells = result.rows.flatMap((row, r) => {
      const iv = privacy.intervals[r]?.[column];
      const v = row[column] ?? null;
      if (!iv || v === null || iv[0] === null || iv[1] === null) return [];
      const [x, lo, hi] = [exact(v), exact(iv[0]), exact(iv[1])];
      return x && lo && hi ? [{ v: x, lo, hi }] : [];
    });
    if (cells.length === 0) return [];
    const of = (n: number) => `${n} of ${cells.length} group${cells.length === 1 ? '' : 's'}`;
    if (o.fn === 'count' || o.fn === 'sum') {
      // The noise as the interval states it: the farther of its ends from the value.
      const reach = cells.map((c) => greater(sub(c.hi, c.v), sub(c.v, c.lo)));
      const warned = cells.filter((c, i) => compare(reach[i]!, abs(c.v)) > 0);
      if (warned.length === 0) return [];
      const widest = reach.reduce(greater);
      const what = o.fn === 'count' ? 'count' : 'sum';
      const bounds: Remedy[] = o.fn === 'sum' ? ['bounds'] : [];
      return [warning('NOISE_WIDER_THAN_VALUE', item, `in ${of(warned.length)} the noise (up to ±${decimal(widest)} at 95%) exceeds the ${what} itself`, remedies(plan, noise, [...bounds, 'outputs', 'epsilon', 'groups']))];
    }
    if (o.fn !== 'avg') return [];
    const width = sub(fromText(formatScaled(o.range.hi, o.scale)), fromText(formatScaled(o.range.lo, o.scale)));
    if (width.num <= 0n) return [];
    const warned = cells.filter((c) => compare(sub(c.hi, c.lo), mul(AVG_RANGE_SHARE, width)) > 0);
    if (warned.length === 0) return [];
    const whole = warned.filter((c) => compare(sub(c.hi, c.lo), width) >= 0).length;
    const note = whole === warned.length ? ' (all of it)' : whole > 0 ? ` (all of it in ${whole})` : '';
    return [warning('NOISE_WIDER_THAN_RANGE', item, `in ${of(warned.length)} the interval spans more than ${shareText()} of ${rangeText(plan, item, o)}${note}`, remedies(plan, noise, ['bounds', 'outputs', 'epsilon', 'groups']))];
  });
}

function warning(code: NoiseWarning['code'], item: Extract<SelectItem, { kind: 'aggregate' }>, text: string, remedy: string): NoiseWarning {
  return { code, output: item.name, message: `${item.name}: ${text}: ${remedy}` };
}

/**
 * What would narrow the noise, of `wanted`: tighter bounds (a SUM's and an AVG's noise grows with the largest |value|
 * declared), fewer values (each opened value gets its share of ε), a larger ε, and (with GROUP BY) wider groups, whose
 * values outgrow the same noise.
 */
function remedies(plan: QueryPlan, noise: NoisePlan, wanted: readonly Remedy[]): string {
  const k = noise.columns.length;
  const text: Record<Remedy, string | undefined> = {
    bounds: 'declare tighter bounds',
    outputs: k > 1 ? `ask fewer values (${k} share ε)` : undefined,
    epsilon: `raise ε (now ${toText(noise.privacy.epsilon)})`,
    groups: plan.groupBy.length > 0 ? 'group by fewer or coarser columns' : undefined,
  };
  const parts = wanted.flatMap((r) => (text[r] ? [text[r]] : []));
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}`;
}

/** The declared range an output's values lie in: its column's bounds as declared, or an expression's interval. */
function rangeText(plan: QueryPlan, item: Extract<SelectItem, { kind: 'aggregate' }>, o: Exclude<OutputSlots, { fn: 'count' }>): string {
  const a = item.aggregate;
  if ('column' in a) {
    const c = plan.aggregator.table.columns.find((x) => x.name === a.column.column);
    if (c && (c.type === 'integer' || c.type === 'decimal')) return `${c.name}'s declared range [${grouped(String(c.min))}, ${grouped(String(c.max))}]`;
  }
  return `its values' range by the declared bounds, [${units(o.range.lo, o.scale)}, ${units(o.range.hi, o.scale)}]`;
}

function shareText(): string {
  return AVG_RANGE_SHARE.num === 1n && AVG_RANGE_SHARE.den === 2n ? 'half' : toText(AVG_RANGE_SHARE);
}

/** An amount in units of 10^-scale, without trailing zeros, its thousands grouped. */
function units(v: bigint, scale: number): string {
  const text = formatScaled(v, scale);
  return grouped(scale > 0 ? text.replace(/\.?0+$/, '') : text);
}

function decimal(r: Rational): string {
  return grouped(toText(r));
}

/** `27000.5` as `27,000.5`: the integer digits in threes. */
function grouped(text: string): string {
  const m = /^(-?)(\d+)(.*)$/.exec(text);
  if (!m) return text;
  return `${m[1]}${m[2]!.replace(/\B(?=(\d{3})+$)/g, ',')}${m[3]}`;
}

/** A cell's exact value; none for text that is no number, which no warning is worth failing a result for. */
function exact(c: Exclude<Cell, null>): Rational | undefined {
  const text = String(c);
  return /^-?\d+(\.\d+)?$/.test(text) ? fromText(text) : undefined;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return a <= 0n ? 0n : (a + b - 1n) / b;
}

function abs(r: Rational): Rational {
  return r.num < 0n ? rational(-r.num, r.den) : r;
}

function greater(a: Rational, b: Rational): Rational {
  return compare(a, b) >= 0 ? a : b;
}
