import { div, rational, toNumber, toText, type Rational } from '../dp/rational.js';
import { halfWidth, upperQuantile } from '../dp/tail.js';
import { CleanroomError } from '../errors.js';
import { MAX_ADDED_POINTS } from '../limits.js';
import { maxAbsUnits } from '../manifest/schema.js';
import type { QueryPlan } from './plan.js';
import type { PrivacyPlan } from './privacy-plan.js';
import { KEYS, ROWS, releasedColumns, type NoiseBounds } from './result.js';

/** The noise on one column of the group vector: every holder adds discrete Laplace noise of this scale to its share. */
export interface NoiseColumn {
  readonly column: number;
  /** L1 sensitivity: how far one person can move this column, summed over every group. */
  readonly sensitivity: bigint;
  readonly scale: Rational;
}

/**
 * A noisy count of added points, clamp(shift + L, 0, 2·shift) with L discrete Laplace of `scale`: the count-only
 * dummy matches (SPEC §10.3) and the padding of a PSI key set (§10.2).
 */
export interface DummyPlan {
  readonly scale: Rational;
  readonly shift: bigint;
}

/** How one query's released values are made differentially private: the same on every node, from the plan alone. */
export interface NoisePlan {
  readonly privacy: PrivacyPlan;
  /** The members that each add full-scale noise to their share of every opened value. */
  readonly holders: number;
  /** The distinct-key count first, then each released column. */
  readonly columns: readonly NoiseColumn[];
  /** A group is opened when its noisy distinct-key count reaches this. */
  readonly threshold: bigint;
  readonly dummies?: DummyPlan;
  /** The padding of a PSI key set of a table with a policy, and which tables' sets are padded. */
  readonly padding?: DummyPlan & { readonly tables: readonly string[] };
}

/** The chance, per value, that it lies outside its stated error bound. */
export const ERROR_BOUND_MISS = 0.05;

/**
 * Calibration (SPEC §10.2). One person (one distinct join key) brings at most `rowsPerPerson` rows to the aggregated
 * table: `maxRowsPerKey`, times the holders of a federated table, since each may hold rows of the same person.
 * Those rows can fall in as many groups, so across all groups one person moves the row count and each non-null
 * count by at most rowsPerPerson, each sum by rowsPerPerson x the column's largest |value|, and the distinct-key
 * count by rowsPerPerson with GROUP BY (one per group) or by the number of parts without. The query's ε is split
 * evenly over the k noisy columns (basic composition); each gets scale sensitivity x k / ε.
 */
export function noisePlan(plan: QueryPlan, holders: number): NoisePlan | undefined {
  const privacy = plan.privacy;
  if (!privacy) return undefined;
  const parts = plan.mode === 'federated' ? plan.holders.length : 1;
  const rowsPerPerson = BigInt(privacy.maxRowsPerKey * parts);
  const sensitivity = (column: number): bigint => {
    if (column === KEYS) return plan.mode === 'count-only' ? 1n : plan.groupBy.length > 0 ? rowsPerPerson : BigInt(parts);
    if (column === ROWS) return rowsPerPerson;
    const i = Math.floor((column - 2) / 2);
    if ((column - 2) % 2 === 1) return rowsPerPerson;
    const c = plan.aggregator.table.columns.find((x) => x.name === plan.sumColumns[i]);
    if (!c || c.type === 'string') throw new RangeError(`noisePlan: ${plan.sumColumns[i]} is not a numeric column`);
    return rowsPerPerson * maxAbsUnits(c);
  };
  // The key sets a PSI peer sees the size of: those of the query's tables with a policy that run PSI. The sizes are
  // one more noisy release, with their own share of ε.
  const psiSides = plan.mode === 'federated' && plan.others.length === 0 ? [] : [plan.aggregator, ...plan.others];
  const padded = psiSides.map((s) => s.table.name).filter((t) => privacy.charges.some((c) => c.table === t));
  const noisy = [KEYS, ...releasedColumns(plan).filter((c) => c !== KEYS)];
  const k = BigInt(noisy.length + (padded.length > 0 ? 1 : 0));
  const columns = noisy.map((column) => {
    const s = sensitivity(column);
    return { column, sensitivity: s, scale: div(rational(s * k), privacy.epsilon) };
  });
  // δ goes to the clamps of the noisy point counts only (dummies, padding), split evenly between them. No group is
  // selected on data: under a policy every group is declared (the planner requires it) or the single group of a
  // query without GROUP BY, so the minimum is applied to the noisy counts as post-processing.
  const clamps = (plan.mode === 'count-only' ? 1 : 0) + (padded.length > 0 ? 1 : 0);
  const delta = toNumber(privacy.delta) / Math.max(1, clamps);
  const clamp = (scale: Rational): DummyPlan => ({ scale, shift: upperQuantile(toNumber(scale), 1, delta / 2) });
  // Count-only: the dummies protect the intersection size that the aggregator sees, with the distinct-key count's
  // share of ε (sensitivity 1).
  const dummies = plan.mode === 'count-only' ? clamp(columns[0]!.scale) : undefined;
  // Joined with a federated table, every holder runs its own PSI: the joined member sees each holder's padded part
  // (one person may be in all of them) and sends each holder its own padded copy of its set, so H sizes move
  // together: sensitivity H.
  const padding = padded.length > 0 ? { ...clamp(div(rational(k * BigInt(parts)), privacy.epsilon)), tables: padded } : undefined;
  return { privacy, holders, columns, threshold: BigInt(plan.minDistinctKeys), ...(dummies ? { dummies } : {}), ...(padding ? { padding } : {}) };
}

/** Refuses, before any cryptography, a query whose ε would have a member add more points than MAX_ADDED_POINTS. */
export function assertAddedPointsFit(noise: NoisePlan): void {
  for (const [what, plan] of [['dummy matches', noise.dummies], ['key-set padding', noise.padding]] as const) {
    if (plan && 2n * plan.shift > BigInt(MAX_ADDED_POINTS)) {
      throw new CleanroomError('LIMIT_EXCEEDED', `ε = ${toText(noise.privacy.epsilon)} needs up to ${2n * plan.shift} points of ${what} per stream; at most ${MAX_ADDED_POINTS}: raise the policy's epsilon`);
    }
  }
}

/** The half-width of the stated error bound of a column's opened value: it holds with probability 1 - miss. */
export function errorBound(noise: NoisePlan, column: number, miss = ERROR_BOUND_MISS): bigint {
  const c = noise.columns.find((x) => x.column === column);
  if (!c) throw new RangeError(`errorBound: column ${column} carries no noise`);
  // Count-only: the dummy matches are one more noise term of the same scale.
  const terms = noise.holders + (noise.dummies ? 1 : 0);
  return halfWidth(toNumber(c.scale), terms, miss);
}

/** What a receiver states about each opened value (src/query/result.ts): the bounds of every noisy column. */
export function noiseBounds(noise: NoisePlan): NoiseBounds {
  const confidence = 1 - ERROR_BOUND_MISS;
  const of = (miss: number) => new Map(noise.columns.map((c) => [c.column, errorBound(noise, c.column, miss)]));
  return { epsilon: toText(noise.privacy.epsilon), delta: toText(noise.privacy.delta), confidence, bound: of(ERROR_BOUND_MISS), halfBound: of(ERROR_BOUND_MISS / 2) };
}

/** The members holding a share of every value, each adding its own noise: every member of a join, or the holders. */
export function shareHolders(plan: QueryPlan): number {
  return plan.mode === 'federated' ? plan.holders.length : plan.members.length;
}
