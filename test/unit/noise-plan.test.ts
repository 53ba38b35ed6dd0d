import { describe, expect, it } from 'vitest';
import { convolve, discreteLaplace, sumOf, type Law } from '../support/exact-laplace-law.js';
import type { Mechanism } from '../../src/dp/mechanism.js';
import { add, div, fromDecimal, fromFloat, mul, rational, toNumber, type Rational } from '../../src/dp/rational.js';
import { rhoForEpsilon } from '../../src/dp/zcdp.js';
import { Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { PADDING_SHARE, assertAddedPointsFit, errorBound, noiseBounds, noisePlan, noiseAdders, type DummyPlan, type NoisePlan } from '../../src/query/noise.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { KEYS, ROWS, releasedSlots } from '../../src/query/group-vector.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, TEST_POLICY, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';
import { DEMO_DP_SQL, DEMO_TABLES } from '../../scripts/demo-tables.js';
import { laplaceSumTail } from '../../src/dp/laplace-sum.js';

/**
 * The calibration of src/query/noise.ts against the mathematics: sensitivities from the schema; the padding of the
 * PSI key sets takes PADDING_SHARE = 1/10 of ε (of ρ under zCDP) and the values the rest, split evenly over the k
 * opened columns (Laplace scale = Δ·k/(ε·share), Gaussian σ² = L2²·k/(2ρ·share)) exactly; the threshold column and
 * its margin; and the shifts, margins and error bounds judged by the exact law of the noise
 * (test/support/exact-laplace-law.ts, and the discrete Gaussian written out below). Nothing here is random: every
 * probability is computed from the exact laws.
 */

/** The law of clamp(X, -c, c): what a count-only query's dummy matches add once the shift is taken back off. */
function clamped(x: Law, c: number): Law {
  const p = new Float64Array(2 * c + 1);
  x.p.forEach((m, i) => {
    p[Math.min(Math.max(x.low + i, -c), c) + c]! += m;
  });
  return { low: -c, p };
}

/**
 * The discrete Gaussian N_Z(0, σ²), P(x) ∝ e^(-x²/2σ²), written out here rather than imported (a wrong pmf in src
 * cannot vouch for itself): cut at x² <= 2σ²·80 + 4, which drops less than e^-80 per term, and normalised by the
 * sum of what is kept (the smallest terms first).
 */
function discreteGaussian(sigma2: number): Law {
  const cut = Math.ceil(Math.sqrt(160 * sigma2)) + 2;
  const w = Float64Array.from({ length: 2 * cut + 1 }, (_, i) => Math.exp(-((i - cut) ** 2) / (2 * sigma2)));
  let z = 0;
  for (let i = 0; i <= cut; i++) z += w[i]! + (i < cut ? w[2 * cut - i]! : 0);
  return { low: -cut, p: w.map((x) => x / z) };
}

/** One draw of a mechanism, by its exact law. */
function lawOf(m: Mechanism): Law {
  return m.kind === 'laplace' ? discreteLaplace(toNumber(m.scale)) : discreteGaussian(toNumber(m.sigma2));
}

/** The law of the sum of `terms` independent draws of a mechanism. */
function sumLaw(m: Mechanism, terms: number): Law {
  if (m.kind === 'laplace') return sumOf(toNumber(m.scale), terms);
  const one = lawOf(m);
  let law = one;
  for (let t = 1; t < terms; t++) law = convolve(law, one);
  return law;
}

/** P(S >= q), the smallest terms summed first. */
function atLeast(law: Law, q: number): number {
  let s = 0;
  for (let i = law.p.length - 1; i >= 0 && law.low + i >= q; i--) s += law.p[i]!;
  return s;
}

function atMost(law: Law, q: number): number {
  let s = 0;
  for (let i = 0; i < law.p.length && law.low + i <= q; i++) s += law.p[i]!;
  return s;
}

/** P(|S| <= w). */
function within(law: Law, w: bigint): number {
  return law.p.reduce((s, m, i) => (Math.abs(law.low + i) <= Number(w) ? s + m : s), 0);
}

/**
 * The δ that makes the released count n + X (ε', δ)-DP between n and n + 1, both ways: the hockey-stick divergence
 * max over the two directions of Σ_o max(0, P(o) − e^ε' P'(o)), exact for a law with finite support.
 */
function hockeyStick(law: Law, epsilon: number): number {
  const at = (x: number) => law.p[x - law.low] ?? 0;
  let forth = 0;
  let back = 0;
  for (let x = law.low; x <= law.low + law.p.length; x++) {
    forth += Math.max(0, at(x) - Math.exp(epsilon) * at(x - 1));
    back += Math.max(0, at(x - 1) - Math.exp(epsilon) * at(x));
  }
  return Math.max(forth, back);
}

/** A policy with a budget of 10 a month; pure accounting (Laplace noise) unless told, whatever the default would pick. */
const policy = (epsilon: number, delta: number, maxRowsPerKey: number, accounting: 'pure' | 'zcdp' = 'pure'): PrivacyPolicy => ({
  epsilon,
  delta,
  maxRowsPerKey,
  budget: { epsilon: 10, refresh: 'month' },
  accounting,
});

const withPolicy = (t: Table, privacy: PrivacyPolicy | undefined, minDistinctKeys?: number): Table => ({
  ...t,
  rules: { ...t.rules, ...(privacy ? { privacy } : {}), ...(minDistinctKeys ? { minDistinctKeys } : {}) },
});

/** Under a policy GROUP BY needs declared values: the advertiser's categories are declared here. */
const declared = (t: Table): Table => ({ ...t, columns: t.columns.map((c) => (c.name === 'category' ? { ...c, values: ['books', 'toys'] } : c)) });

/** The advertiser's amount declared `required` (no NULL): its SUM and AVG read their non-null count from ROWS. */
const amountRequired = (t: Table): Table => ({ ...t, columns: t.columns.map((c) => (c.name === 'amount' && c.type === 'decimal' ? { ...c, required: true } : c)) });

const base = buildCollaboration().manifest;

/** The publisher/advertiser collaboration of the scenario tests with the given policies, checked by the schema. */
function pair(o: { publisher?: PrivacyPolicy; advertiser?: PrivacyPolicy; minDistinctKeys?: number; required?: boolean }): Manifest {
  const advertiser = declared(advertiserTable());
  return ManifestSchema.parse({
    ...base,
    tables: [withPolicy(publisherTable(), o.publisher, o.minDistinctKeys), withPolicy(o.required ? amountRequired(advertiser) : advertiser, o.advertiser, o.minDistinctKeys)],
  });
}

const HOLDERS = ['emp1', 'emp2', 'emp3'];

/**
 * A table held in three parts, with a declared GROUP BY domain, under `privacy` (or none); with `joined`, also a
 * table of `reg` that grants the holders their overlap, under that policy (or none).
 */
function federated(privacy: PrivacyPolicy | undefined, minDistinctKeys = 4, joined?: { privacy?: PrivacyPolicy }): Manifest {
  const salaries: Table = {
    name: 'salaries',
    owner: 'emp1',
    holders: HOLDERS,
    columns: [
      { name: 'email', type: 'string' },
      { name: 'salary', type: 'integer', min: -5, max: 1_000_000 },
      { name: 'kind', type: 'string', values: ['a', 'b'] },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'salary', functions: ['sum', 'avg'] }], dimensions: ['kind'], minDistinctKeys, overlapDisclosure: [], ...(privacy ? { privacy } : {}) },
  };
  const verified: Table = {
    name: 'verified',
    owner: 'reg',
    columns: [{ name: 'email', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 1, overlapDisclosure: HOLDERS, ...(joined?.privacy ? { privacy: joined.privacy } : {}) },
  };
  return ManifestSchema.parse({
    format: 'cleanroom-manifest/1',
    collaborationId: 'fed',
    name: 'fed',
    version: 1,
    members: [...HOLDERS, 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: joined ? [salaries, verified] : [salaries],
    queriers: ['reg'],
    receivers: ['reg'],
  });
}

const GROUPED_COUNT = 'SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
/** GROUP BY without COUNT(*): the matched-row count is not released, so the distinct-key count is opened to pick the groups. */
const GROUPED_SUM = 'SELECT a.category, SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
const FED_JOIN = 'SELECT s.kind, COUNT(*), SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email GROUP BY s.kind';

async function noiseOf(sql: string, manifest: Manifest, querier = ADVERTISER): Promise<{ q: QueryPlan; noise: NoisePlan }> {
  const q = await plan(sql, manifest, querier);
  const noise = noisePlan(q, noiseAdders(q));
  if (!noise) throw new Error('expected a noise plan');
  return { q, noise };
}

const r = (num: bigint, den = 1n): Rational => rational(num, den);

function scaleOf(m: Mechanism): Rational {
  if (m.kind !== 'laplace') throw new Error(`expected Laplace noise, got ${m.kind}`);
  return m.scale;
}

function sigma2Of(m: Mechanism): Rational {
  if (m.kind !== 'gaussian') throw new Error(`expected Gaussian noise, got ${m.kind}`);
  return m.sigma2;
}

/** column -> [sensitivity, Laplace scale] */
const calibration = (noise: NoisePlan) => noise.columns.map((c) => [c.column, c.sensitivity, scaleOf(c.mechanism)] as const);
/** column -> [sensitivity, Gaussian σ²] */
const gaussianCalibration = (noise: NoisePlan) => noise.columns.map((c) => [c.column, c.sensitivity, sigma2Of(c.mechanism)] as const);

/** The query's ρ as privacy-plan.ts must set it: (ε, δ/2)-DP, rounded down to a decimal. */
const rhoOf = (epsilon: number, delta: number): Rational => fromFloat(rhoForEpsilon(epsilon, delta / 2), 'down');

/** One person moves one padded size, or all H holders' parts of a federated table joined with another. */
const partsOf = (q: QueryPlan): bigint => (q.mode === 'federated' ? BigInt(q.holders.length) : 1n);

/**
 * L2 sensitivity squared, from the plan alone: L1 squared, except the distinct-key count with GROUP BY, which one
 * person moves by one per part in each of up to maxRowsPerKey groups: parts² · maxRowsPerKey.
 */
function l2Squared(q: QueryPlan, noise: NoisePlan, column: number, sensitivity: bigint): bigint {
  if (column === KEYS && q.mode !== 'count-only' && q.groupBy.length > 0) return partsOf(q) ** 2n * BigInt(noise.privacy.maxRowsPerKey);
  return sensitivity ** 2n;
}

describe('noisePlan: which queries are noisy', () => {
  it('is undefined when no table of the query has a privacy policy', async () => {
    const q = await plan(AGG_SQL, pair({}), ADVERTISER);
    expect(q.privacy).toBeUndefined();
    expect(noisePlan(q, 2)).toBeUndefined();
  });

  it('is defined when either table has one, whichever is the aggregator', async () => {
    expect(noisePlan(await plan(AGG_SQL, pair({ publisher: policy(1, 1e-6, 1) }), ADVERTISER), 2)).toBeDefined();
    expect(noisePlan(await plan(COUNT_SQL, pair({ advertiser: policy(1, 1e-6, 1) }), PUBLISHER), 2)).toBeDefined();
  });
});

describe('noisePlan: sensitivities and Laplace scales (exact rationals)', () => {
  it('PADDING_SHARE is 1/10', () => {
    expect(PADDING_SHARE).toEqual(r(1n, 10n));
  });

  it('count-only: KEYS alone (k = 1) of sensitivity 1 and scale 1/(ε·9/10); the dummies of that scale; the padding of scale 1/(ε/10)', async () => {
    const { noise } = await noiseOf(COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7) }), PUBLISHER);
    // ε = 3/10: the values get 27/100, the padding 3/100.
    expect(calibration(noise)).toEqual([[KEYS, 1n, r(100n, 27n)]]);
    expect(noise.thresholdColumn).toBe(KEYS);
    expect(noise.dummies?.mechanism).toEqual({ kind: 'laplace', scale: r(100n, 27n) });
    // Only the table with a policy pads its key set.
    expect(noise.padding).toMatchObject({ mechanism: { kind: 'laplace', scale: r(100n, 3n) }, tables: [ADVERTISER] });
    const both = await noiseOf(COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7), publisher: policy(0.3, 1e-6, 7) }), PUBLISHER);
    expect(both.noise.padding?.tables).toEqual([PUBLISHER, ADVERTISER]);
    expect(calibration(both.noise)).toEqual([[KEYS, 1n, r(100n, 27n)]]);
    expect(both.noise.thresholdColumn).toBe(KEYS);
  });

  it('GROUP BY with COUNT, SUM and AVG: ROWS picks the groups and KEYS is not opened; k = 3; ROWS moves by maxRowsPerKey, a sum by maxRowsPerKey x max|bound| x 10^scale', async () => {
    // amount: decimal(2) in [-100000, 100000] -> 10^7 units per row; k = 3 (ROWS, sum, non-null count), ε = 3/10,
    // the values' share 9/10: scale = sensitivity x 3 / (27/100) = sensitivity x 100/9.
    const { noise } = await noiseOf(AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4) }));
    expect(noise.thresholdColumn).toBe(ROWS);
    expect(calibration(noise)).toEqual([
      [ROWS, 4n, r(400n, 9n)],
      [2, 4n * 10_000_000n, r(4n * 10_000_000n * 100n, 9n)],
      [3, 4n, r(400n, 9n)],
    ]);
    expect(noise.dummies).toBeUndefined();
    // The padding: sensitivity 1, scale 1 / (ε/10); the publisher's set carries none (its table has no policy).
    expect(noise.padding).toMatchObject({ mechanism: { kind: 'laplace', scale: r(100n, 3n) }, tables: [ADVERTISER] });
  });

  it('a required column: SUM and AVG read their non-null count from ROWS, which is opened once; k = 2', async () => {
    const { noise } = await noiseOf(AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4), required: true }));
    // k = 2: scale = sensitivity x 2 / (27/100) = sensitivity x 200/27.
    expect(noise.thresholdColumn).toBe(ROWS);
    expect(calibration(noise)).toEqual([
      [ROWS, 4n, r(800n, 27n)],
      [2, 4n * 10_000_000n, r(4n * 10_000_000n * 200n, 27n)],
    ]);
    // SUM alone of a required column: ROWS is released (as its non-null count), so it picks the groups.
    const sum = await noiseOf('SELECT a.category, SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category', pair({ advertiser: policy(0.3, 1e-6, 4), required: true }));
    expect(sum.noise.columns.map((c) => c.column)).toEqual([ROWS, 2]);
    expect(sum.noise.thresholdColumn).toBe(ROWS);
  });

  it('without GROUP BY: KEYS moves by 1 whatever maxRowsPerKey; only the released columns (and KEYS, when ROWS is not released) are opened and counted in k', async () => {
    const both = await noiseOf('SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    // items: integer in [0, 1000]; k = 3 (ROWS, sum, non-null count), ε·9/10 = 9/5: scale = sensitivity x 5/3.
    expect(both.noise.thresholdColumn).toBe(ROWS);
    expect(calibration(both.noise)).toEqual([
      [ROWS, 5n, r(25n, 3n)],
      [2, 5000n, r(25_000n, 3n)],
      [3, 5n, r(25n, 3n)],
    ]);
    // SUM of the second aggregation column alone: ROWS is not released, KEYS picks the groups; k = 3.
    const sum = await noiseOf('SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    expect(sum.noise.thresholdColumn).toBe(KEYS);
    expect(calibration(sum.noise)).toEqual([
      [KEYS, 1n, r(5n, 3n)],
      [2, 5000n, r(25_000n, 3n)],
      [3, 5n, r(25n, 3n)],
    ]);
    expect(scaleOf(sum.noise.padding!.mechanism)).toEqual(r(5n));
    // With GROUP BY, KEYS moves by one in each of up to maxRowsPerKey groups.
    const grouped = await noiseOf(GROUPED_SUM, pair({ advertiser: policy(2, 1e-6, 5) }));
    expect(calibration(grouped.noise)[0]).toEqual([KEYS, 5n, r(25n, 3n)]);
  });

  it('COUNT(DISTINCT key) opens KEYS, COUNT(t.c) its column\'s non-null slot (a counted-only column gets one), each once however many outputs read it', async () => {
    // items summed and counted (one non-null slot, 3); category counted only (its own slot, 4). ROWS not released:
    // KEYS picks the groups and is COUNT(DISTINCT) too. k = 4, ε·9/10 = 27/100: scale = sensitivity x 400/27.
    const sql =
      'SELECT a.category, COUNT(DISTINCT a.email), COUNT(a.items), COUNT(a.category), SUM(a.items), COUNT(a.items) AS again, COUNT(DISTINCT p.email) AS people ' +
      'FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
    const { q, noise } = await noiseOf(sql, pair({ advertiser: policy(0.3, 1e-6, 4) }));
    expect(q).toMatchObject({ sumColumns: ['items'], countColumns: ['category'] });
    expect(releasedSlots(q)).toEqual([KEYS, 2, 3, 4]);
    expect(noise.thresholdColumn).toBe(KEYS);
    expect(calibration(noise)).toEqual([
      [KEYS, 4n, r(1600n, 27n)],
      [2, 4000n, r(1_600_000n, 27n)],
      [3, 4n, r(1600n, 27n)],
      [4, 4n, r(1600n, 27n)],
    ]);
    // With COUNT(*): ROWS picks the groups; COUNT(t.c) of a required column reads ROWS, opened once: k = 2.
    const required = await noiseOf('SELECT a.category, COUNT(*), COUNT(a.amount), COUNT(DISTINCT a.email) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category', pair({ advertiser: policy(0.3, 1e-6, 4), required: true }));
    expect(required.q).toMatchObject({ sumColumns: [], countColumns: [] });
    expect(calibration(required.noise)).toEqual([
      [ROWS, 4n, r(800n, 27n)],
      [KEYS, 4n, r(800n, 27n)],
    ]);
    // Count-only: COUNT(DISTINCT key) is the intersection size, KEYS of sensitivity 1, as COUNT(*).
    const alone = await noiseOf('SELECT COUNT(DISTINCT p.email) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(1, 1e-6, 2) }), PUBLISHER);
    expect(alone.q.mode).toBe('count-only');
    expect(calibration(alone.noise)).toEqual([[KEYS, 1n, r(10n, 9n)]]);
    // Federated: a non-null count moves by maxRowsPerKey per part (3 holders x 2); KEYS by the 3 parts; k = 2, ε = 1/2.
    const fed = await noiseOf('SELECT COUNT(s.kind) FROM salaries s', federated(policy(0.5, 1e-6, 2)), 'reg');
    expect(fed.q).toMatchObject({ sumColumns: [], countColumns: ['kind'] });
    expect(calibration(fed.noise)).toEqual([
      [KEYS, 3n, r(12n)],
      [2, 6n, r(24n)],
    ]);
  });

  it('a decimal bound that is not a whole number rounds the units up (never under-estimates a sum\'s sensitivity)', async () => {
    const m = pair({ advertiser: policy(1, 1e-6, 1) });
    const amount = { name: 'amount', type: 'decimal', scale: 2, min: -0.5, max: 12.345 } as const;
    const tables = m.tables.map((t) => (t.name === ADVERTISER ? { ...t, columns: t.columns.map((c) => (c.name === 'amount' ? amount : c)) } : t));
    const { noise } = await noiseOf('SELECT SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', ManifestSchema.parse({ ...m, tables }));
    // One row adds at most 12.345 -> 1234.5 units, so at least 1235; the code gives ceil(12.345) x 100 = 1300.
    const s = noise.columns.find((c) => c.column === 2)!.sensitivity;
    expect(s).toBeGreaterThanOrEqual(1235n);
  });

  it('federated on its own: one person may be at every holder, so the rows per person are maxRowsPerKey x holders; no PSI, no padding, all of ε to the values', async () => {
    const m = federated(policy(0.5, 1e-6, 2));
    const grouped = await noiseOf('SELECT s.kind, COUNT(*), SUM(s.salary) FROM salaries s GROUP BY s.kind', m, 'reg');
    // 3 holders x 2 rows = 6 per person; salary max |bound| 1_000_000; k = 3, ε = 1/2: scale = sensitivity x 6.
    expect(grouped.noise.thresholdColumn).toBe(ROWS);
    expect(calibration(grouped.noise)).toEqual([
      [ROWS, 6n, r(36n)],
      [2, 6_000_000n, r(36_000_000n)],
      [3, 6n, r(36n)],
    ]);
    expect(grouped.noise.padding).toBeUndefined();
    expect(grouped.noise.dummies).toBeUndefined();
    expect(noiseAdders(grouped.q)).toBe(3);
    // COUNT(*) alone: k = 1.
    const total = await noiseOf('SELECT COUNT(*) FROM salaries s', m, 'reg');
    expect(calibration(total.noise)).toEqual([[ROWS, 6n, r(12n)]]);
    // Without GROUP BY each part counts the person at most once: KEYS moves by the 3 holders.
    const sum = await noiseOf('SELECT SUM(s.salary) FROM salaries s', m, 'reg');
    expect(calibration(sum.noise)).toEqual([
      [KEYS, 3n, r(18n)],
      [2, 6_000_000n, r(36_000_000n)],
      [3, 6n, r(36n)],
    ]);
  });

  it('federated joined with a table: the key sets of the tables with a policy are padded with 1/10 of ε, of sensitivity H', async () => {
    const only = await noiseOf(FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg');
    // k = 3, ε·9/10 = 9/20: scale = sensitivity x 20/3.
    expect(calibration(only.noise)).toEqual([
      [ROWS, 6n, r(40n)],
      [2, 6_000_000n, r(40_000_000n)],
      [3, 6n, r(40n)],
    ]);
    // In a federated join the joined member receives every holder's padded part (one PSI per holder), and one person
    // may be in all H parts: H sizes that one person moves together. H = 3, ε/10 = 1/20: scale 60.
    expect(only.noise.padding).toMatchObject({ mechanism: { kind: 'laplace', scale: r(60n) }, tables: ['salaries'] });
    const both = await noiseOf(FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, { privacy: policy(1, 1e-6, 1) }), 'reg');
    expect(both.noise.padding?.tables).toEqual(['salaries', 'verified']);
  });

  it('the strictest policy wins across the two tables: min ε, min δ, min maxRowsPerKey', async () => {
    const m = pair({ publisher: policy(0.5, 1e-6, 3), advertiser: policy(0.3, 1e-5, 5) });
    for (const querier of [PUBLISHER, ADVERTISER]) {
      const { noise } = await noiseOf(GROUPED_COUNT, m, querier);
      expect(noise.privacy).toMatchObject({ epsilon: r(3n, 10n), delta: r(1n, 1_000_000n), maxRowsPerKey: 3, mechanism: 'laplace' });
      // Both tables governed: ROWS alone is opened (k = 1), sensitivity 3: scale = 3 / (27/100) = 100/9; the
      // padding 1 / (3/100).
      expect(calibration(noise)).toEqual([[ROWS, 3n, r(100n, 9n)]]);
      expect(noise.padding).toMatchObject({ mechanism: { kind: 'laplace', scale: r(100n, 3n) }, tables: [ADVERTISER, PUBLISHER] });
    }
    // The other way round: the stricter values may come from different tables.
    const mixed = await noiseOf(GROUPED_COUNT, pair({ publisher: policy(0.2, 1e-4, 9), advertiser: policy(0.4, 1e-7, 2) }));
    expect(mixed.noise.privacy).toMatchObject({ epsilon: r(1n, 5n), delta: r(1n, 10_000_000n), maxRowsPerKey: 2 });
  });

  it('a column is never opened twice: the threshold column first, then the other released columns in order', async () => {
    const cases: [string, Manifest, string][] = [
      [COUNT_SQL, pair({ advertiser: policy(1, 1e-6, 2) }), PUBLISHER],
      [AGG_SQL, pair({ advertiser: policy(1, 1e-6, 2) }), ADVERTISER],
      [AGG_SQL, pair({ advertiser: policy(1, 1e-6, 2), required: true }), ADVERTISER],
      [GROUPED_SUM, pair({ advertiser: policy(1, 1e-6, 2) }), ADVERTISER],
      ['SELECT a.category, COUNT(*), SUM(a.amount), AVG(a.amount), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category', pair({ advertiser: policy(1, 1e-6, 2), required: true }), ADVERTISER],
      [FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg'],
    ];
    for (const [sql, m, querier] of cases) {
      const { noise } = await noiseOf(sql, m, querier);
      const columns = noise.columns.map((c) => c.column);
      expect(new Set(columns).size, sql).toBe(columns.length);
      expect(columns[0], sql).toBe(noise.thresholdColumn);
      expect(columns.slice(1), sql).toEqual([...columns.slice(1)].sort((a, b) => a - b));
    }
  });

  it('basic composition: the ε shares of the opened columns (Δ / b) and of the padding (H / b) add up to ε exactly', async () => {
    const cases: [string, Manifest, string][] = [
      [COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7) }), PUBLISHER],
      [AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4) }), ADVERTISER],
      [AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4), required: true }), ADVERTISER],
      [GROUPED_COUNT, pair({ publisher: policy(0.7, 1e-6, 3), advertiser: policy(0.9, 1e-6, 2) }), ADVERTISER],
      [GROUPED_SUM, pair({ advertiser: policy(0.7, 1e-6, 3) }), ADVERTISER],
      ['SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ publisher: policy(2, 1e-6, 5) }), ADVERTISER],
      ['SELECT s.kind, COUNT(*), AVG(s.salary) FROM salaries s GROUP BY s.kind', federated(policy(0.5, 1e-6, 2)), 'reg'],
      [FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg'],
      [FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, { privacy: policy(0.3, 1e-6, 1) }), 'reg'],
    ];
    for (const [sql, m, querier] of cases) {
      const { noise, q } = await noiseOf(sql, m, querier);
      expect(noise.privacy.mechanism, sql).toBe('laplace');
      const shares = noise.columns.map((c) => div(rational(c.sensitivity), scaleOf(c.mechanism)));
      if (noise.padding) {
        const padding = div(rational(partsOf(q)), scaleOf(noise.padding.mechanism));
        expect(padding, sql).toEqual(mul(noise.privacy.epsilon, PADDING_SHARE));
        shares.push(padding);
      }
      expect(shares.reduce(add), sql).toEqual(noise.privacy.epsilon);
    }
  });
});

describe('noisePlan: Gaussian noise under zCDP accounting (exact rationals)', () => {
  it('a policy that accounts in zCDP (its own setting or by default) makes the query Gaussian, with ρ = rhoForEpsilon(ε, δ/2) rounded down', async () => {
    const explicit = await noiseOf(GROUPED_COUNT, pair({ advertiser: policy(1, 1e-6, 2, 'zcdp') }));
    expect(explicit.noise.privacy).toMatchObject({ mechanism: 'gaussian', rho: rhoOf(1, 1e-6) });
    // By default: ε = 0.3 against a budget of 10 buys more precision in ρ (privacy-plan.test.ts).
    const byDefault = await noiseOf(GROUPED_COUNT, pair({ advertiser: { ...policy(0.3, 1e-6, 2), accounting: undefined } }));
    expect(byDefault.noise.privacy).toMatchObject({ mechanism: 'gaussian', rho: rhoOf(0.3, 1e-6) });
    // One zCDP policy among the query's tables is enough; the strictest ε and δ set ρ.
    const mixed = await noiseOf(GROUPED_COUNT, pair({ advertiser: policy(0.5, 1e-6, 2), publisher: policy(0.8, 1e-7, 2, 'zcdp') }));
    expect(mixed.noise.privacy).toMatchObject({ mechanism: 'gaussian', rho: rhoOf(0.5, 1e-7) });
    for (const { noise } of [explicit, byDefault, mixed]) for (const c of noise.columns) expect(c.mechanism.kind).toBe('gaussian');
    // Pure everywhere: Laplace, and no ρ.
    const pure = await noiseOf(GROUPED_COUNT, pair({ advertiser: policy(1, 1e-6, 2), publisher: policy(1, 1e-6, 2) }));
    expect(pure.noise.privacy.mechanism).toBe('laplace');
    expect(pure.noise.privacy.rho).toBeUndefined();
  });

  it('σ² = L2² · k / (2ρ · share); KEYS with GROUP BY has L2² = parts² · maxRowsPerKey, not its L1 squared; the padding σ² = H² / (2ρ/10)', async () => {
    const rho = rhoOf(1, 1e-6);
    const sigma2 = (l2Squared: bigint, k: bigint, share: Rational) => div(rational(l2Squared * k), mul(rational(2n), mul(rho, share)));
    const nine = r(9n, 10n);
    const tenth = r(1n, 10n);
    // GROUP BY, SUM of items (integer in [0, 1000]) without COUNT: KEYS opened, L1 = maxRowsPerKey = 4, L2² = 4.
    const grouped = await noiseOf(GROUPED_SUM, pair({ advertiser: policy(1, 1e-6, 4, 'zcdp') }));
    expect(gaussianCalibration(grouped.noise)).toEqual([
      [KEYS, 4n, sigma2(4n, 3n, nine)],
      [2, 4000n, sigma2(4000n ** 2n, 3n, nine)],
      [3, 4n, sigma2(16n, 3n, nine)],
    ]);
    expect(sigma2Of(grouped.noise.padding!.mechanism)).toEqual(sigma2(1n, 1n, tenth));
    // Without GROUP BY, KEYS moves by 1: L2² = 1.
    const total = await noiseOf('SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(1, 1e-6, 4, 'zcdp') }));
    expect(gaussianCalibration(total.noise)[0]).toEqual([KEYS, 1n, sigma2(1n, 3n, nine)]);
    // Federated joined, 3 holders x maxRowsPerKey 2: KEYS L1 = 6, L2² = 3² x 2 = 18; the padding's H² = 9.
    const fed = await noiseOf('SELECT s.kind, SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email GROUP BY s.kind', federated(policy(1, 1e-6, 2, 'zcdp'), 4, {}), 'reg');
    expect(gaussianCalibration(fed.noise)).toEqual([
      [KEYS, 6n, sigma2(18n, 3n, nine)],
      [2, 6_000_000n, sigma2(6_000_000n ** 2n, 3n, nine)],
      [3, 6n, sigma2(36n, 3n, nine)],
    ]);
    expect(sigma2Of(fed.noise.padding!.mechanism)).toEqual(sigma2(9n, 1n, tenth));
    // Federated alone: no padding, all of ρ to the values.
    const alone = await noiseOf('SELECT s.kind, COUNT(*) FROM salaries s GROUP BY s.kind', federated(policy(1, 1e-6, 2, 'zcdp')), 'reg');
    expect(gaussianCalibration(alone.noise)).toEqual([[ROWS, 6n, sigma2(36n, 1n, r(1n))]]);
  });

  it('count-only: the dummies draw from the KEYS column\'s Gaussian', async () => {
    const { noise } = await noiseOf(COUNT_SQL, pair({ advertiser: policy(1, 1e-6, 3, 'zcdp') }), PUBLISHER);
    const rho = rhoOf(1, 1e-6);
    expect(noise.columns).toEqual([{ column: KEYS, sensitivity: 1n, mechanism: { kind: 'gaussian', sigma2: div(r(1n), mul(r(2n), mul(rho, r(9n, 10n)))) } }]);
    expect(noise.dummies?.mechanism).toEqual(noise.columns[0]!.mechanism);
  });

  it('composition: Σ L2² / (2σ²) over the opened columns plus H² / (2σ²) of the padding is ρ exactly', async () => {
    const cases: [string, Manifest, string][] = [
      [COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7, 'zcdp') }), PUBLISHER],
      [AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4, 'zcdp') }), ADVERTISER],
      [AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4, 'zcdp'), required: true }), ADVERTISER],
      [GROUPED_COUNT, pair({ publisher: policy(0.7, 1e-6, 3), advertiser: policy(0.9, 1e-7, 2, 'zcdp') }), ADVERTISER],
      [GROUPED_SUM, pair({ advertiser: policy(0.7, 1e-6, 3, 'zcdp') }), ADVERTISER],
      ['SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ publisher: policy(2, 1e-6, 5, 'zcdp') }), ADVERTISER],
      ['SELECT s.kind, SUM(s.salary) FROM salaries s GROUP BY s.kind', federated(policy(0.5, 1e-6, 2, 'zcdp')), 'reg'],
      ['SELECT s.kind, SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email GROUP BY s.kind', federated(policy(0.5, 1e-6, 2, 'zcdp'), 4, {}), 'reg'],
      [FED_JOIN, federated(policy(0.5, 1e-6, 2, 'zcdp'), 4, { privacy: policy(0.3, 1e-6, 1) }), 'reg'],
    ];
    for (const [sql, m, querier] of cases) {
      const { noise, q } = await noiseOf(sql, m, querier);
      expect(noise.privacy.mechanism, sql).toBe('gaussian');
      const rho = noise.privacy.rho!;
      const shares = noise.columns.map((c) => div(rational(l2Squared(q, noise, c.column, c.sensitivity)), mul(r(2n), sigma2Of(c.mechanism))));
      if (noise.padding) {
        const padding = div(rational(partsOf(q) ** 2n), mul(r(2n), sigma2Of(noise.padding.mechanism)));
        expect(padding, sql).toEqual(mul(rho, PADDING_SHARE));
        shares.push(padding);
      }
      expect(shares.reduce(add), sql).toEqual(rho);
    }
  });
});

describe('noisePlan: the release threshold', () => {
  it('a federated join whose joined table has no policy counts each person of it once per part: a group of fewer people passes with probability at most δ_share (issue 17, found by review)', async () => {
    // 3 holders, 1 row per person; the joined table has no policy, so its minimum (here the query's, 20) holds on
    // its people, each of whom may be matched at every holder: 19 people can show as 57 rows.
    const m = federated(policy(10, 1e-3, 1), 20, {});
    const q = await plan(FED_JOIN, m, 'reg');
    const noise = noisePlan(q, noiseAdders(q))!;
    expect(noise.thresholdColumn).toBe(ROWS);
    const mech = noise.columns[0]!.mechanism;
    if (mech.kind !== 'laplace') throw new Error('expected Laplace noise');
    // δ is shared by the padding (salaries' set) and this margin: 1e-3 / 2.
    const passes = laplaceSumTail(toNumber(mech.scale), noiseAdders(q), Number(noise.threshold) - 19 * 3);
    expect(passes).toBeLessThanOrEqual(1e-3 / 2);
    // Without the factor the same group passed almost surely.
    expect(laplaceSumTail(toNumber(mech.scale), noiseAdders(q), Number(noise.threshold) - 19 * 3 - 2 * 20)).toBeGreaterThan(0.5);
  });

  it('is minDistinctKeys when every table of the query has a policy (post-processing of the noisy count), for any holders', async () => {
    for (const minDistinctKeys of [1, 5, 7]) {
      const m = pair({ advertiser: policy(2, 1e-6, 2), publisher: policy(2, 1e-6, 2), minDistinctKeys });
      const fed = federated(policy(0.5, 1e-6, 2), minDistinctKeys, { privacy: policy(1, 1e-6, 1) });
      const fedAlone = federated(policy(0.5, 1e-6, 2), minDistinctKeys);
      const plans = [
        await plan(COUNT_SQL, m, PUBLISHER),
        await plan(GROUPED_COUNT, m, ADVERTISER),
        await plan(GROUPED_SUM, m, ADVERTISER),
        await plan(AGG_SQL, m, ADVERTISER),
        await plan('SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', m, ADVERTISER),
        await plan('SELECT s.kind, COUNT(*) FROM salaries s GROUP BY s.kind', fedAlone, 'reg'),
        await plan('SELECT COUNT(*) FROM salaries s', fedAlone, 'reg'),
        await plan(FED_JOIN, fed, 'reg'),
      ];
      for (const q of plans) {
        expect(q.minDistinctKeys).toBe(minDistinctKeys);
        for (const holders of [2, 3, 4]) expect(noisePlan(q, holders)!.threshold, `${q.mode} ${holders}`).toBe(BigInt(minDistinctKeys));
      }
    }
  });

  /**
   * A table without a policy keeps its minimum on distinct people, exactly but for δ_share: the bar is
   * rowsPerKey · minDistinctKeys + margin (rowsPerKey = maxRowsPerKey when ROWS picks the groups, 1 for KEYS), with
   * margin the least q with P(S >= q) <= δ_share, S the sum of every holder's draw (count-only: and the clamped
   * dummies'). Judged by the exact law: a group of minDistinctKeys - 1 people, each with every row it may bring,
   * passes with probability at most δ_share; and the margin is not absurdly large (one less would break its bound).
   */
  function judgeMargin(noise: NoisePlan, q: QueryPlan, deltaShare: number, label: string): void {
    const column = noise.columns[0]!;
    expect(column.column, label).toBe(noise.thresholdColumn);
    const rowsPerKey = BigInt(noise.thresholdColumn === ROWS ? noise.privacy.maxRowsPerKey : 1);
    const min = BigInt(q.minDistinctKeys);
    const margin = noise.threshold - rowsPerKey * min;
    expect(margin, label).toBeGreaterThan(0n);
    const law = thresholdNoise(noise);
    expect(atLeast(law, Number(margin)), label).toBeLessThanOrEqual(deltaShare);
    expect(atLeast(law, Number(margin) - 1), label).toBeGreaterThan(deltaShare);
    expect(underMinimumPasses(noise, q, law), label).toBeLessThanOrEqual(deltaShare);
  }

  /** The law of the noise on the threshold column's opened value: every holder's draw (count-only: and the clamped dummies'). */
  function thresholdNoise(noise: NoisePlan): Law {
    const law = sumLaw(noise.columns[0]!.mechanism, noise.holders);
    return noise.dummies ? convolve(law, clamped(lawOf(noise.dummies.mechanism), Number(noise.dummies.shift))) : law;
  }

  /**
   * How often a group of minDistinctKeys - 1 people reaches the bar, each person bringing all it may to the threshold
   * count: to ROWS maxRowsPerKey rows at each of the parts (the holders of a federated table), to KEYS one per part.
   */
  function underMinimumPasses(noise: NoisePlan, q: QueryPlan, law: Law): number {
    const perPerson = partsOf(q) * BigInt(noise.thresholdColumn === ROWS ? noise.privacy.maxRowsPerKey : 1);
    const under = perPerson * (BigInt(q.minDistinctKeys) - 1n);
    return atLeast(law, Number(noise.threshold - under));
  }

  it('when a table has none: rowsPerKey · minDistinctKeys + a margin that a group under the minimum passes with probability at most its δ share (exact law)', async () => {
    for (const [epsilon, delta] of [[1, 1e-6], [0.5, 1e-4], [2, 1e-9]] as const) {
      for (const minDistinctKeys of [1, 5]) {
        const m = pair({ advertiser: policy(epsilon, delta, 3), minDistinctKeys });
        // Aggregate: the clamps are the padding and the margin, δ/2 each. ROWS picks the groups of a COUNT(*), KEYS otherwise.
        for (const [sql, column] of [[GROUPED_COUNT, ROWS], [GROUPED_SUM, KEYS], ['SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', ROWS]] as const) {
          const q = await plan(sql, m, ADVERTISER);
          for (const holders of [2, 3]) {
            const noise = noisePlan(q, holders)!;
            expect(noise.thresholdColumn, sql).toBe(column);
            judgeMargin(noise, q, delta / 2, `${sql} ε=${epsilon} δ=${delta} min=${minDistinctKeys} holders=${holders}`);
          }
        }
        // Count-only: the dummies, the padding and the margin, δ/3 each; the dummies are one more term of the sum.
        const q = await plan(COUNT_SQL, m, PUBLISHER);
        const noise = noisePlan(q, 2)!;
        expect(noise.thresholdColumn).toBe(KEYS);
        judgeMargin(noise, q, delta / 3, `count-only ε=${epsilon} δ=${delta} min=${minDistinctKeys}`);
      }
    }
  });

  it('when a table has none, under Gaussian noise: the same margin from the Gaussian law, with δ/2 split over the clamps', async () => {
    for (const [epsilon, delta] of [[1, 1e-6], [0.5, 1e-4]] as const) {
      const m = pair({ advertiser: policy(epsilon, delta, 3, 'zcdp'), minDistinctKeys: 5 });
      for (const sql of [GROUPED_COUNT, GROUPED_SUM]) {
        const q = await plan(sql, m, ADVERTISER);
        const noise = noisePlan(q, 2)!;
        expect(noise.privacy.mechanism).toBe('gaussian');
        // Half of δ to the conversion from ρ; the other half over the padding and the margin.
        judgeMargin(noise, q, delta / 4, `${sql} ε=${epsilon} δ=${delta}`);
      }
    }
  });

  it('the demo\'s own query: ROWS picks the groups (COUNT(*) asked) at 4 · 50 + margin, the publisher\'s table having no policy', async () => {
    const q = await plan(DEMO_DP_SQL, demoManifest(), ADVERTISER);
    const noise = noisePlan(q, noiseAdders(q))!;
    expect(noise.thresholdColumn).toBe(ROWS);
    judgeMargin(noise, q, 1e-7 / 2, 'demo');
  });
});

describe('noisePlan: the clamps of the dummies and the padding get δ, split evenly, judged by the exact law', () => {
  /**
   * One clamp, clamp(shift + X, 0, 2 shift) with δ share `share`: it acts below with P(X <= -shift - 1) and above
   * with P(X >= shift + 1), each <= share/2; the released count n + D is (1/b, share)-DP exactly (hockey stick,
   * Laplace); and the shift is not absurdly large. The shift is noiseUpperQuantile(share/2), the least q with
   * P(X >= q) <= share/2 (from the exact law): one more than the clamp needs, since it acts only at X >= shift + 1.
   * So one less would still hold, and two less would already break share/2.
   */
  function judge(clamp: DummyPlan, share: number, label: string): void {
    const law = lawOf(clamp.mechanism);
    const shift = Number(clamp.shift);
    expect(atMost(law, -shift - 1), label).toBeLessThanOrEqual(share / 2);
    expect(atLeast(law, shift + 1), label).toBeLessThanOrEqual(share / 2);
    expect(atLeast(law, shift), label).toBeLessThanOrEqual(share / 2);
    expect(atLeast(law, shift - 1), label).toBeGreaterThan(share / 2);
    expect(atMost(law, -shift + 1), label).toBeGreaterThan(share / 2);
    if (clamp.mechanism.kind !== 'laplace') return;
    const b = toNumber(clamp.mechanism.scale);
    expect(hockeyStick(clamped(law, shift), 1 / b), label).toBeLessThanOrEqual(share);
    // And the check can fail: a clamp at half the shift spends more than the share.
    expect(hockeyStick(clamped(law, Math.floor(shift / 2)), 1 / b), label).toBeGreaterThan(share);
  }

  it('count-only: the dummies of the KEYS scale 1/(ε·9/10), the padding of scale 1/(ε/10), and the margin, each with δ/3', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [1, 1e-6], [0.5, 1e-4], [0.25, 1e-9]] as const) {
      const noise = noisePlan(await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, delta, 1) }), PUBLISHER), 2)!;
      const e = fromDecimal(epsilon);
      expect(noise.columns[0]!.mechanism).toEqual({ kind: 'laplace', scale: div(r(10n), mul(e, r(9n))) });
      expect(noise.dummies!.mechanism).toEqual(noise.columns[0]!.mechanism);
      expect(noise.padding!.mechanism).toEqual({ kind: 'laplace', scale: div(r(10n), e) });
      judge(noise.dummies!, delta / 3, `dummies ε=${epsilon} δ=${delta}`);
      judge(noise.padding!, delta / 3, `padding ε=${epsilon} δ=${delta}`);
    }
  });

  it('count-only with both tables governed: no margin, the dummies and the padding with δ/2 each', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [0.5, 1e-4]] as const) {
      const noise = noisePlan(await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, delta, 1), publisher: policy(epsilon, delta, 3) }), PUBLISHER), 2)!;
      expect(noise.threshold).toBe(3n);
      judge(noise.dummies!, delta / 2, `dummies ε=${epsilon} δ=${delta}`);
      judge(noise.padding!, delta / 2, `padding ε=${epsilon} δ=${delta}`);
    }
  });

  it('aggregate and federated joins: the padding of scale H/(ε/10) (H = 1, or the holders, each clamp with δ/H of its share)', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [0.5, 1e-4], [1, 1e-9]] as const) {
      const e = fromDecimal(epsilon);
      // The publisher's table has no policy: the padding and the margin, δ/2 each.
      const grouped = noisePlan(await plan(GROUPED_COUNT, pair({ advertiser: policy(epsilon, delta, 2) }), ADVERTISER), 2)!;
      expect(grouped.dummies).toBeUndefined();
      expect(grouped.padding!.mechanism).toEqual({ kind: 'laplace', scale: div(r(10n), e) });
      judge(grouped.padding!, delta / 2, `grouped ε=${epsilon} δ=${delta}`);
      // Both governed: the padding alone, with all of δ.
      const governed = noisePlan(await plan(GROUPED_COUNT, pair({ advertiser: policy(epsilon, delta, 2), publisher: policy(epsilon, delta, 2) }), ADVERTISER), 2)!;
      judge(governed.padding!, delta, `governed ε=${epsilon} δ=${delta}`);
      // Federated joined with a table without a policy: H = 3 padded parts, each clamp with (δ/2)/3.
      const fed = noisePlan(await plan(FED_JOIN, federated(policy(epsilon, delta, 1), 4, {}), 'reg'), 3)!;
      expect(fed.padding!.mechanism).toEqual({ kind: 'laplace', scale: div(r(30n), e) });
      judge(fed.padding!, delta / 2 / 3, `federated ε=${epsilon} δ=${delta}`);
      // Both governed: (δ/1)/3.
      const fedGoverned = noisePlan(await plan(FED_JOIN, federated(policy(epsilon, delta, 1), 4, { privacy: policy(epsilon, delta, 1) }), 'reg'), 3)!;
      judge(fedGoverned.padding!, delta / 3, `federated governed ε=${epsilon} δ=${delta}`);
    }
  });

  it('Gaussian: half of δ to the conversion from ρ, the other half split over the clamps; each shift from the discrete Gaussian\'s exact law', async () => {
    for (const [epsilon, delta] of [[1, 1e-6], [0.5, 1e-4]] as const) {
      const count = noisePlan(await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, delta, 1, 'zcdp') }), PUBLISHER), 2)!;
      // Dummies, padding and margin: (δ/2)/3 each.
      judge(count.dummies!, delta / 2 / 3, `dummies ε=${epsilon} δ=${delta}`);
      judge(count.padding!, delta / 2 / 3, `padding ε=${epsilon} δ=${delta}`);
      const grouped = noisePlan(await plan(GROUPED_COUNT, pair({ advertiser: policy(epsilon, delta, 2, 'zcdp'), publisher: policy(epsilon, delta, 2) }), ADVERTISER), 2)!;
      // Both governed: the padding alone, δ/2.
      judge(grouped.padding!, delta / 2, `grouped ε=${epsilon} δ=${delta}`);
      const fed = noisePlan(await plan(FED_JOIN, federated(policy(epsilon, delta, 1, 'zcdp'), 4, {}), 'reg'), 3)!;
      // Padding and margin, (δ/2)/2 each, the padding's over 3 clamps.
      judge(fed.padding!, delta / 2 / 2 / 3, `federated ε=${epsilon} δ=${delta}`);
    }
  });
});

describe('errorBound and noiseBounds: the stated 95% is the least width that covers at least 95%, exactly', () => {
  it('for the sum of the holders\' Laplace noise (a GROUP BY query, 2 and 3 holders)', async () => {
    const q = await plan(GROUPED_SUM, pair({ advertiser: policy(2, 1e-6, 2) }), ADVERTISER);
    const counted = await plan(GROUPED_COUNT, pair({ advertiser: policy(2, 1e-6, 2) }), ADVERTISER);
    for (const holders of [2, 3]) {
      for (const [noise, column] of [[noisePlan(q, holders)!, KEYS], [noisePlan(q, holders)!, 3], [noisePlan(counted, holders)!, ROWS]] as const) {
        const w = errorBound(noise, column);
        const law = sumLaw(noise.columns.find((c) => c.column === column)!.mechanism, holders);
        expect(within(law, w), `holders=${holders} column=${column}`).toBeGreaterThanOrEqual(0.95);
        expect(within(law, w - 1n), `holders=${holders} column=${column}`).toBeLessThan(0.95);
      }
    }
  });

  it('for the sum of the holders\' Gaussian noise', async () => {
    for (const [epsilon, rows] of [[1, 2], [0.5, 1], [2, 3]] as const) {
      const q = await plan(GROUPED_COUNT, pair({ advertiser: policy(epsilon, 1e-6, rows, 'zcdp') }), ADVERTISER);
      for (const holders of [2, 3]) {
        const noise = noisePlan(q, holders)!;
        const w = errorBound(noise, ROWS);
        const law = sumLaw(noise.columns[0]!.mechanism, holders);
        expect(within(law, w), `ε=${epsilon} holders=${holders}`).toBeGreaterThanOrEqual(0.95);
        expect(within(law, w - 1n), `ε=${epsilon} holders=${holders}`).toBeLessThan(0.95);
      }
    }
  });

  it('count-only: the holders\' noise plus the clamped dummy noise, all of the KEYS scale', async () => {
    for (const epsilon of [1, 0.5]) {
      const q = await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, 1e-6, 1) }), PUBLISHER);
      const noise = noisePlan(q, noiseAdders(q))!;
      const law = convolve(sumLaw(noise.columns[0]!.mechanism, 2), clamped(lawOf(noise.dummies!.mechanism), Number(noise.dummies!.shift)));
      const w = errorBound(noise, KEYS);
      expect(within(law, w), `ε=${epsilon}`).toBeGreaterThanOrEqual(0.95);
      expect(within(law, w - 1n), `ε=${epsilon}`).toBeLessThan(0.95);
    }
  });

  it('AVG: each of its sum and its count holds at 97.5%, so that both hold together at 95%', async () => {
    const m = pair({ advertiser: policy(1, 1e-6, 1) });
    const amount = { name: 'amount', type: 'decimal', scale: 0, min: -3, max: 3 } as const;
    const tables = m.tables.map((t) => (t.name === ADVERTISER ? { ...t, columns: t.columns.map((c) => (c.name === 'amount' ? amount : c)) } : t));
    const { noise, q } = await noiseOf('SELECT AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', ManifestSchema.parse({ ...m, tables }));
    const bounds = noiseBounds(noise, releasedSlots(q));
    expect(bounds).toMatchObject({ epsilon: '1', delta: '0.000001', confidence: 0.95 });
    expect([...bounds.bound.keys()]).toEqual(noise.columns.map((c) => c.column));
    for (const c of noise.columns) {
      // A two-party aggregate query: the dealer alone adds noise (SPEC §10.1).
      expect(noise.holders).toBe(1);
      const law = sumLaw(c.mechanism, noise.holders);
      expect(within(law, bounds.bound.get(c.column)!), `column ${c.column}`).toBeGreaterThanOrEqual(0.95);
      expect(within(law, bounds.halfBound.get(c.column)!), `column ${c.column}`).toBeGreaterThanOrEqual(0.975);
      expect(within(law, bounds.halfBound.get(c.column)! - 1n), `column ${c.column}`).toBeLessThan(0.975);
    }
  });

  it('refuses a column that carries no noise', async () => {
    const { noise } = await noiseOf(GROUPED_COUNT, pair({ advertiser: policy(1, 1e-6, 1) }));
    expect(() => errorBound(noise, 2)).toThrow(RangeError);
    expect(() => errorBound(noise, 2)).toThrow(/^errorBound:/);
    // ROWS picks the groups: KEYS is not opened at all.
    expect(() => errorBound(noise, KEYS)).toThrow(/^errorBound:/);
  });
});

/** The collaboration of scripts/demo.ts: the advertiser's table under ε = 1, δ = 1e-7, 4 rows per person, 10 a month. */
function demoManifest(): Manifest {
  return ManifestSchema.parse({ ...base, tables: DEMO_TABLES });
}

describe('the demo (scripts/demo.ts): its DP query per campaign and category states a count interval of at most ±75', () => {
  it('Laplace (the default accounting for ε = 1 of 10), k = 2 (ROWS, the sum), two campaigns per person, and COUNT(*) within ±75 at 95%', async () => {
    const q = await plan(DEMO_DP_SQL, demoManifest(), ADVERTISER);
    // The WHERE leaves two of the campaigns' labels (SPEC §4.6): a person's 4 rows count in up to 2 of them.
    expect(q.mode === 'aggregate' && q.partnerGroups).toMatchObject({ labels: [['spring'], ['summer']], perKey: 2 });
    const noise = noisePlan(q, noiseAdders(q))!;
    // The advertiser deals every value: its noise alone protects them from the publisher (SPEC §10.1).
    expect(noise.holders).toBe(1);
    expect(noise.privacy.mechanism).toBe('laplace');
    // amount in [-100, 600] at scale 2: 60,000 units x 4 rows x 2 campaigns; ε·9/10 over k = 2: scale = sensitivity x 20/9.
    expect(calibration(noise)).toEqual([
      [ROWS, 8n, r(160n, 9n)],
      [2, 480_000n, r(9_600_000n, 9n)],
    ]);
    expect(noise.padding).toMatchObject({ mechanism: { kind: 'laplace', scale: r(20n) }, tables: [ADVERTISER] });
    expect(errorBound(noise, ROWS)).toBeLessThanOrEqual(75n);
  });
});

describe('assertAddedPointsFit: a very small ε cannot make a member add points without end', () => {
  it('refuses ε = 0.001 for a count-only query (tens of thousands of dummy slots), accepts ε = 1', async () => {
    const tiny = noisePlan(await plan(COUNT_SQL, buildCollaboration({ privacy: { advertiser: { ...TEST_POLICY, epsilon: 0.001 } } }).manifest, PUBLISHER), 2)!;
    expect(() => assertAddedPointsFit(tiny)).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED', message: expect.stringContaining('raise the policy\'s epsilon') }));
    const fine = noisePlan(await plan(COUNT_SQL, buildCollaboration({ privacy: { advertiser: TEST_POLICY } }).manifest, PUBLISHER), 2)!;
    expect(() => assertAddedPointsFit(fine)).not.toThrow();
  });
});
