import { noiseHalfWidth, noiseTail, noiseUpperQuantile, type Mechanism } from '../dp/mechanism.js';
import { selectedInterval } from '../dp/selective-interval.js';
import { div, mul, rational, sub, toNumber, toText, type Rational } from '../dp/rational.js';
import { gaussianSigma2 } from '../dp/zcdp.js';
import { CleanroomError } from '../errors.js';
import { MAX_ADDED_POINTS } from '../limits.js';
import { alternativesOf, type QueryPlan } from './plan.js';
import type { PrivacyPlan } from './privacy-plan.js';
import { KEYS, ROWS, releasedSlots, slotSensitivity } from './group-vector.js';
import type { NoiseBounds } from './result.js';

/** The noise on one opened column of the group vector: every holder adds a draw of `mechanism` to its share. */
export interface NoiseColumn {
  readonly column: number;
  /** L1 sensitivity: how far one person can move this column, summed over every group (Gaussian noise uses L2). */
  readonly sensitivity: bigint;
  readonly mechanism: Mechanism;
}

/**
 * A noisy count of added points, clamp(shift + X, 0, 2·shift), X a draw of `mechanism`: the count-only dummy matches
 * (SPEC §10.3) and the padding of a PSI key set (§10.2).
 */
export interface DummyPlan {
  readonly mechanism: Mechanism;
  readonly shift: bigint;
}

/** How one query's released values are made differentially private: the same on every node, from the plan alone. */
export interface NoisePlan {
  readonly privacy: PrivacyPlan;
  /** The members that each add full-scale noise to their share of every opened value. */
  readonly holders: number;
  /** Every column of the group vector that is opened, each once: the threshold column, then each released column. */
  readonly columns: readonly NoiseColumn[];
  /**
   * The column whose opened value decides which groups are released: the matched-row count when the query releases
   * it (no count is released twice, SPEC §10.2), else the distinct-key count.
   */
  readonly thresholdColumn: number;
  /** A group is opened when its noisy threshold count reaches this. */
  readonly threshold: bigint;
  readonly dummies?: DummyPlan;
  /** The padding of a PSI key set of a table with a policy, and which tables' sets are padded. */
  readonly padding?: DummyPlan & { readonly tables: readonly string[] };
}

/** The chance, per value, that it lies outside its stated error bound. */
export const ERROR_BOUND_MISS = 0.05;

/**
 * The share of a query's ε (of its ρ, under zCDP) spent on the sizes of its padded key sets (SPEC §10.2). The
 * padding's noise only sets how many random points a side adds, never the accuracy of a value, so it gets a small
 * fixed share and the values the rest. A smaller share costs more points (the shift grows as 1 / share): a tenth
 * keeps it near 180 points at ε = 1, δ = 1e-7.
 */
export const PADDING_SHARE: Rational = { num: 1n, den: 10n };

/**
 * Calibration (SPEC §10.2). One person (one distinct join key) brings at most `rowsPerPerson` rows to the aggregated
 * table: `maxRowsPerKey`, times the holders of a federated table, since each may hold rows of the same person.
 * How far those rows move each slot of the group vector is the slot's sensitivity (slotSensitivity,
 * src/query/group-vector.ts). When a side pads its key set, its size takes
 * PADDING_SHARE of the budget; the rest is split evenly over the k opened columns (basic composition, or adding ρ).
 */
export function noisePlan(plan: QueryPlan, holders: number): NoisePlan | undefined {
  const privacy = plan.privacy;
  if (!privacy) return undefined;
  // A person counts in every part of a federated table it is in, and (SPEC §4.6) in each of up to perKey of the
  // partner's label groups: their rows move as many groups, and the partner's parts add up to its padded set.
  // SPEC §4.7: joined on alternative keys, one person of either table moves the matching of as many of the other's
  // people (one per key), and its set by as many keys.
  const parts = plan.mode === 'federated' ? plan.holders.length : plan.mode === 'aggregate' ? (plan.partnerGroups?.perKey ?? 1) * alternativesOf(plan.aggregator) : 1;
  const gaussian = privacy.mechanism === 'gaussian';
  const sensitivity = (column: number) => slotSensitivity(plan, column, { maxRowsPerKey: privacy.maxRowsPerKey, parts });
  // The key sets a PSI peer sees the size of: those of the query's tables with a policy that run PSI.
  const psiSides = plan.mode === 'federated' && plan.others.length === 0 ? [] : [plan.aggregator, ...plan.others];
  const padded = psiSides.map((s) => s.table.name).filter((t) => privacy.charges.some((c) => c.table === t));
  const released = releasedSlots(plan);
  const thresholdColumn = thresholdColumnOf(plan, released);
  const noisy = [thresholdColumn, ...released.filter((c) => c !== thresholdColumn)];
  const k = BigInt(noisy.length);
  const valueShare = padded.length > 0 ? sub(rational(1n), PADDING_SHARE) : rational(1n);
  // Laplace: ε_c = ε·share/k, scale Δ1/ε_c. Gaussian: ρ_c = ρ·share/k, σ² = Δ2²/(2ρ_c) (CKS 2020, Theorem 4).
  const mechanismOf = (share: Rational, sens: bigint, sens2: bigint): Mechanism =>
    gaussian
      ? { kind: 'gaussian', sigma2: gaussianSigma2(rational(sens2), mul(privacy.rho!, share)) }
      : { kind: 'laplace', scale: div(rational(sens), mul(privacy.epsilon, share)) };
  const columns = noisy.map((column) => {
    const { l1, l2Squared } = sensitivity(column);
    return { column, sensitivity: l1, mechanism: mechanismOf(div(valueShare, rational(k)), l1, l2Squared) };
  });
  // δ: under zCDP half goes to the conversion from ρ (privacy-plan.ts); the rest to the clamps of the noisy point
  // counts (dummies, padding) and, when a table of the query has no policy, to the margin that keeps its minimum
  // exact in all but δ of the cases; split evenly between those the query has.
  const keysFloor = !everyTableGoverned(plan);
  const clamps = (plan.mode === 'count-only' ? 1 : 0) + (padded.length > 0 ? 1 : 0) + (keysFloor ? 1 : 0);
  const delta = (toNumber(privacy.delta) * (gaussian ? 0.5 : 1)) / Math.max(1, clamps);
  const clamp = (mechanism: Mechanism, share: number): DummyPlan => ({ mechanism, shift: noiseUpperQuantile(mechanism, 1, share / 2) });
  // Count-only: the dummies protect the intersection size that the aggregator sees, with the distinct-key count's
  // noise (sensitivity 1): it is the same release, which every holder's share noise only widens.
  const dummies = plan.mode === 'count-only' ? clamp(columns[0]!.mechanism, delta) : undefined;
  // Joined with a federated table, every holder runs its own PSI: the joined member sees each holder's padded part
  // (one person may be in all of them, sensitivity H) and H clamps, each of which may act: δ / H each.
  const H = BigInt(parts);
  const padding = padded.length > 0 ? { ...clamp(mechanismOf(PADDING_SHARE, H, H * H), delta / parts), tables: padded } : undefined;
  return { privacy, holders, columns, thresholdColumn, threshold: threshold(plan, thresholdColumn, columns[0]!.mechanism, holders + (dummies ? 1 : 0), delta), ...(dummies ? { dummies } : {}), ...(padding ? { padding } : {}) };
}

/**
 * SPEC §10.2: the count that decides which groups are released, opened once: the matched-row count when the query
 * releases it anyway, else the distinct-key count (count-only: the only count there is).
 */
function thresholdColumnOf(plan: QueryPlan, released: readonly number[]): number {
  return plan.mode !== 'count-only' && released.includes(ROWS) ? ROWS : KEYS;
}

/**
 * Under policies on every table the minimum is post-processing of the noisy count (the noise protects everyone).
 * The minimum of a table without a policy must hold as its owner set it, on distinct people, a policy on another
 * table notwithstanding: a matched-row count rests on at least rows / maxRowsPerKey people (each keeps at most that
 * many rows, §10.2), and the bar is raised by the noise's upper quantile at δ, so a group of fewer people passes
 * with probability at most δ.
 */
function threshold(plan: QueryPlan, column: number, mechanism: Mechanism, terms: number, delta: number): bigint {
  const min = BigInt(plan.minDistinctKeys);
  if (everyTableGoverned(plan)) return min;
  const rowsPerKey = column === ROWS ? BigInt(plan.privacy!.maxRowsPerKey) : 1n;
  // Summed over a federated table's H parts, one person of the joined table counts in each part: H times. (The
  // federated table's own minimum counts parts' keys as §4.5 defines it, each part vetoed below it on its own.)
  const parts = plan.mode === 'federated' && plan.others.some((o) => !o.table.rules.privacy) ? BigInt(plan.holders.length) : 1n;
  return rowsPerKey * parts * min + noiseUpperQuantile(mechanism, terms, delta);
}

/** Whether every table of the query has a privacy policy: only then are all of its owners' protections noise. */
export function everyTableGoverned(plan: QueryPlan): boolean {
  return [plan.aggregator, ...plan.others].every((s) => s.table.rules.privacy);
}

/** Refuses, before any cryptography, a query whose ε would have a member add more points than MAX_ADDED_POINTS. */
export function assertAddedPointsFit(noise: NoisePlan): void {
  for (const [what, plan] of [['dummy matches', noise.dummies], ['key-set padding', noise.padding]] as const) {
    if (plan && 2n * plan.shift > BigInt(MAX_ADDED_POINTS)) {
      throw new CleanroomError('LIMIT_EXCEEDED', `ε = ${toText(noise.privacy.epsilon)} needs up to ${2n * plan.shift} points of ${what} per stream; at most ${MAX_ADDED_POINTS}: raise the policy's epsilon`);
    }
  }
  assertNoiseStatable(noise);
}

/**
 * Refuses, before any cryptography, a query whose noise on an opened value is too wide for its error bound to be
 * stated (past 2^53 at the smallest miss a result reads, ERROR_BOUND_MISS / 3 for VAR_* and STDDEV_*): a sum of
 * squares of a column with wide bounds, at a small ε. Receivers could not state its interval after the release.
 */
export function assertNoiseStatable(noise: NoisePlan): void {
  for (const c of noise.columns) {
    try {
      errorBound(noise, c.column, ERROR_BOUND_MISS / 3);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      throw new CleanroomError(
        'LIMIT_EXCEEDED',
        `the noise on value ${c.column} of the group vector (one person moves it by up to ${c.sensitivity}) is too wide for its error bound to be stated (past 2^53): narrow the declared bounds of the columns it sums (a sum of squares grows as their square), or raise the policy's epsilon`,
      );
    }
  }
}

/**
 * The half-width of the stated error bound of a column's opened value: it holds with probability 1 - miss, from
 * the exact law of the sum of every holder's draw (count-only: and the dummies', a draw of the same law whose clamp
 * acts with probability at most δ).
 */
export function errorBound(noise: NoisePlan, column: number, miss = ERROR_BOUND_MISS): bigint {
  const c = noise.columns.find((x) => x.column === column);
  if (!c) throw new RangeError(`errorBound: column ${column} carries no noise`);
  return noiseHalfWidth(c.mechanism, noise.holders + (noise.dummies ? 1 : 0), miss);
}

/** What a receiver states about each opened value (src/query/result.ts): the bounds of every noisy column. */
export function noiseBounds(noise: NoisePlan, released: readonly number[]): NoiseBounds {
  const confidence = 1 - ERROR_BOUND_MISS;
  const of = (miss: number) => new Map(noise.columns.map((c) => [c.column, errorBound(noise, c.column, miss)]));
  const base = { epsilon: toText(noise.privacy.epsilon), delta: toText(noise.privacy.delta), confidence, bound: of(ERROR_BOUND_MISS), halfBound: of(ERROR_BOUND_MISS / 2), thirdBound: of(ERROR_BOUND_MISS / 3) };
  if (!released.includes(noise.thresholdColumn)) return base;
  // The count that decided the release is released too: its interval is the one given the release (SPEC §10.2).
  const tail = noiseTail(noise.columns[0]!.mechanism, noise.holders + (noise.dummies ? 1 : 0));
  const threshold = Number(noise.threshold);
  const interval = (v: bigint, miss: number): readonly [bigint, bigint] => {
    const [lo, hi] = selectedInterval(tail, threshold, Number(v), miss);
    return [BigInt(lo), BigInt(hi)];
  };
  return { ...base, selected: { column: noise.thresholdColumn, interval } };
}

/**
 * The members that add noise of full scale to their share of every opened value (SPEC §10.1): every holder, but in a
 * two-party aggregate query the dealer alone. There P computed every value itself, so noise on Q's share protects
 * nobody from P, and P's protects every value from Q; Q adds none, and P checks that Q opens exactly the shares it
 * dealt (release.ts).
 */
export function noiseAdders(plan: QueryPlan): number {
  if (plan.mode === 'federated') return plan.holders.length;
  return dealerChecksShares(plan) ? 1 : plan.members.length;
}

/** SPEC §10.1: a two-party aggregate query, whose sole dealer knows every share its partner holds. */
export function dealerChecksShares(plan: QueryPlan): boolean {
  return plan.mode === 'aggregate' && plan.members.length === 2;
}
