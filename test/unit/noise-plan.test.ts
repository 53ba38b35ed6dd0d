import { describe, expect, it } from 'vitest';
import { convolve, discreteLaplace, sumOf, type Law } from '../support/exact-laplace-law.js';
import { add, div, rational, toNumber, type Rational } from '../../src/dp/rational.js';
import { Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { assertAddedPointsFit, errorBound, noiseBounds, noisePlan, shareHolders, type DummyPlan, type NoisePlan } from '../../src/query/noise.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { KEYS, ROWS } from '../../src/query/result.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, TEST_POLICY, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';

/**
 * The calibration of src/query/noise.ts against the mathematics: sensitivities from the schema, scale = sensitivity
 * x k / ε exactly (k the noisy columns, plus one for the padding of the PSI key sets), the threshold, and the shifts
 * and error bounds judged by the exact law of the noise (test/support/exact-laplace-law.ts).
 */
/** The law of clamp(X, -c, c): what a count-only query's dummy matches add once the shift is taken back off. */
function clamped(x: Law, c: number): Law {
  const p = new Float64Array(2 * c + 1);
  x.p.forEach((m, i) => {
    p[Math.min(Math.max(x.low + i, -c), c) + c]! += m;
  });
  return { low: -c, p };
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

const policy = (epsilon: number, delta: number, maxRowsPerKey: number): PrivacyPolicy => ({ epsilon, delta, maxRowsPerKey, budget: { epsilon: 10, refresh: 'month' } });

const withPolicy = (t: Table, privacy: PrivacyPolicy | undefined, minDistinctKeys?: number): Table => ({
  ...t,
  rules: { ...t.rules, ...(privacy ? { privacy } : {}), ...(minDistinctKeys ? { minDistinctKeys } : {}) },
});

/** Under a policy GROUP BY needs declared values: the advertiser's categories are declared here. */
const declared = (t: Table): Table => ({ ...t, columns: t.columns.map((c) => (c.name === 'category' ? { ...c, values: ['books', 'toys'] } : c)) });

const base = buildCollaboration().manifest;

/** The publisher/advertiser collaboration of the scenario tests with the given policies, checked by the schema. */
function pair(o: { publisher?: PrivacyPolicy; advertiser?: PrivacyPolicy; minDistinctKeys?: number }): Manifest {
  return ManifestSchema.parse({
    ...base,
    tables: [withPolicy(publisherTable(), o.publisher, o.minDistinctKeys), withPolicy(declared(advertiserTable()), o.advertiser, o.minDistinctKeys)],
  });
}

const HOLDERS = ['emp1', 'emp2', 'emp3'];

/**
 * A table held in three parts, with a declared GROUP BY domain; with `joined`, also a table of `reg` that grants
 * the holders their overlap, under that policy (or none).
 */
function federated(privacy: PrivacyPolicy, minDistinctKeys = 4, joined?: { privacy?: PrivacyPolicy }): Manifest {
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
    rules: { aggregations: [{ column: 'salary', functions: ['sum', 'avg'] }], dimensions: ['kind'], minDistinctKeys, overlapDisclosure: [], privacy },
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
const FED_JOIN = 'SELECT s.kind, COUNT(*), SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email GROUP BY s.kind';

async function noiseOf(sql: string, manifest: Manifest, querier = ADVERTISER): Promise<{ q: QueryPlan; noise: NoisePlan }> {
  const q = await plan(sql, manifest, querier);
  const noise = noisePlan(q, shareHolders(q));
  if (!noise) throw new Error('expected a noise plan');
  return { q, noise };
}

/** column -> [sensitivity, scale] */
const calibration = (noise: NoisePlan) => noise.columns.map((c) => [c.column, c.sensitivity, c.scale] as const);
const r = (num: bigint, den = 1n): Rational => rational(num, den);

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

describe('noisePlan: sensitivities and scales (exact rationals)', () => {
  it('count-only: k = 2 (the distinct-key count and the padding), KEYS of sensitivity 1 and scale 2/ε; dummies and padding of that scale', async () => {
    const { noise } = await noiseOf(COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7) }), PUBLISHER);
    expect(calibration(noise)).toEqual([[KEYS, 1n, r(20n, 3n)]]);
    expect(noise.dummies?.scale).toEqual(r(20n, 3n));
    // Only the table with a policy pads its key set.
    expect(noise.padding).toMatchObject({ scale: r(20n, 3n), tables: [ADVERTISER] });
    const both = await noiseOf(COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7), publisher: policy(0.3, 1e-6, 7) }), PUBLISHER);
    expect(both.noise.padding?.tables).toEqual([PUBLISHER, ADVERTISER]);
    expect(calibration(both.noise)).toEqual([[KEYS, 1n, r(20n, 3n)]]);
  });

  it('GROUP BY with COUNT, SUM and AVG: k = 5; KEYS and ROWS move by maxRowsPerKey, a sum by maxRowsPerKey x max|bound| x 10^scale', async () => {
    // amount: decimal(2) in [-100000, 100000] -> 10^7 units per row; k = 4 columns + padding, ε = 0.3:
    // scale = sensitivity x 5 / (3/10) = sensitivity x 50/3.
    const { noise } = await noiseOf(AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4) }));
    expect(calibration(noise)).toEqual([
      [KEYS, 4n, r(4n * 50n, 3n)],
      [ROWS, 4n, r(4n * 50n, 3n)],
      [2, 4n * 10_000_000n, r(4n * 10_000_000n * 50n, 3n)],
      [3, 4n, r(4n * 50n, 3n)],
    ]);
    expect(noise.dummies).toBeUndefined();
    // The padding: sensitivity 1, scale k / ε; the publisher's set carries none (its table has no policy).
    expect(noise.padding).toMatchObject({ scale: r(50n, 3n), tables: [ADVERTISER] });
  });

  it('without GROUP BY: KEYS moves by 1 whatever maxRowsPerKey; only the released columns are noisy and counted in k', async () => {
    const both = await noiseOf('SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    // items: integer in [0, 1000]; k = 5 (KEYS, ROWS, sum, non-null count, padding), ε = 2: scale = sensitivity x 5/2.
    expect(calibration(both.noise)).toEqual([
      [KEYS, 1n, r(5n, 2n)],
      [ROWS, 5n, r(25n, 2n)],
      [2, 5000n, r(12_500n)],
      [3, 5n, r(25n, 2n)],
    ]);
    // SUM of the second aggregation column alone: ROWS is not released, k = 4.
    const sum = await noiseOf('SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    expect(calibration(sum.noise)).toEqual([
      [KEYS, 1n, r(2n)],
      [2, 5000n, r(10_000n)],
      [3, 5n, r(10n)],
    ]);
    expect(sum.noise.padding?.scale).toEqual(r(2n));
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

  it('federated on its own: one person may be at every holder, so the rows per person are maxRowsPerKey x holders; no PSI, no padding', async () => {
    const m = federated(policy(0.5, 1e-6, 2));
    const grouped = await noiseOf('SELECT s.kind, COUNT(*), SUM(s.salary) FROM salaries s GROUP BY s.kind', m, 'reg');
    // 3 holders x 2 rows = 6 per person; salary max |bound| 1_000_000; k = 4, ε = 1/2: scale = sensitivity x 8.
    expect(calibration(grouped.noise)).toEqual([
      [KEYS, 6n, r(48n)],
      [ROWS, 6n, r(48n)],
      [2, 6_000_000n, r(48_000_000n)],
      [3, 6n, r(48n)],
    ]);
    expect(grouped.noise.padding).toBeUndefined();
    expect(grouped.noise.dummies).toBeUndefined();
    expect(shareHolders(grouped.q)).toBe(3);
    const total = await noiseOf('SELECT COUNT(*) FROM salaries s', m, 'reg');
    // Without GROUP BY each part counts the person at most once: 3 holders.
    expect(calibration(total.noise)).toEqual([
      [KEYS, 3n, r(12n)],
      [ROWS, 6n, r(24n)],
    ]);
  });

  it('federated joined with a table: the key sets of the tables with a policy are padded, and k counts the padding', async () => {
    const only = await noiseOf(FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg');
    // k = 4 + 1, ε = 1/2: scale = sensitivity x 10.
    expect(calibration(only.noise)).toEqual([
      [KEYS, 6n, r(60n)],
      [ROWS, 6n, r(60n)],
      [2, 6_000_000n, r(60_000_000n)],
      [3, 6n, r(60n)],
    ]);
    // The padding's sensitivity is the 3 holders' sizes one person moves together: 3 x k / ε = 30.
    expect(only.noise.padding).toMatchObject({ scale: r(30n), tables: ['salaries'] });
    const both = await noiseOf(FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, { privacy: policy(1, 1e-6, 1) }), 'reg');
    expect(both.noise.padding?.tables).toEqual(['salaries', 'verified']);
  });

  // In a federated join the joined member receives every holder's padded part (one PSI per holder), and one person
  // may be in all H parts; the holders each receive their own padded copy of the joined set: H sizes that one
  // person moves together. With H = 3, ε = 1/2, k = 5 the padding needs scale H·k/ε = 30.
  it('federated joined: the padding of a table held in H parts is scaled for the H sizes one person moves', async () => {
    const { noise } = await noiseOf(FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg');
    expect(noise.padding?.scale).toEqual(r(30n));
  });

  it('the strictest policy wins across the two tables: min ε, min δ, min maxRowsPerKey', async () => {
    const m = pair({ publisher: policy(0.5, 1e-6, 3), advertiser: policy(0.3, 1e-5, 5) });
    for (const querier of [PUBLISHER, ADVERTISER]) {
      const { noise } = await noiseOf(GROUPED_COUNT, m, querier);
      expect(noise.privacy).toMatchObject({ epsilon: r(3n, 10n), delta: r(1n, 1_000_000n), maxRowsPerKey: 3 });
      // k = 3 (KEYS, ROWS, padding), sensitivity 3: scale = 3 x 3 / (3/10) = 30; the padding k / ε = 10.
      expect(calibration(noise)).toEqual([
        [KEYS, 3n, r(30n)],
        [ROWS, 3n, r(30n)],
      ]);
      expect(noise.padding).toMatchObject({ scale: r(10n), tables: [ADVERTISER, PUBLISHER] });
    }
    // The other way round: the stricter values may come from different tables.
    const mixed = await noiseOf(GROUPED_COUNT, pair({ publisher: policy(0.2, 1e-4, 9), advertiser: policy(0.4, 1e-7, 2) }));
    expect(mixed.noise.privacy).toMatchObject({ epsilon: r(1n, 5n), delta: r(1n, 10_000_000n), maxRowsPerKey: 2 });
  });

  it('basic composition: the ε shares of the noisy columns (Δ / b) and of the padding (H / b) add up to ε exactly', async () => {
    const cases: [string, Manifest, string][] = [
      [COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7) }), PUBLISHER],
      [AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4) }), ADVERTISER],
      [GROUPED_COUNT, pair({ publisher: policy(0.7, 1e-6, 3), advertiser: policy(0.9, 1e-6, 2) }), ADVERTISER],
      ['SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ publisher: policy(2, 1e-6, 5) }), ADVERTISER],
      ['SELECT s.kind, COUNT(*), AVG(s.salary) FROM salaries s GROUP BY s.kind', federated(policy(0.5, 1e-6, 2)), 'reg'],
      [FED_JOIN, federated(policy(0.5, 1e-6, 2), 4, {}), 'reg'],
    ];
    for (const [sql, m, querier] of cases) {
      const { noise, q } = await noiseOf(sql, m, querier);
      const shares = noise.columns.map((c) => div(rational(c.sensitivity), c.scale));
      // One person moves one padded size, or all H holders' parts of a federated table joined with another.
      const parts = q.mode === 'federated' ? BigInt(q.holders.length) : 1n;
      if (noise.padding) shares.push(div(rational(parts), noise.padding.scale));
      expect(shares.reduce(add), sql).toEqual(noise.privacy.epsilon);
    }
  });
});

describe('noisePlan: the release threshold is minDistinctKeys, applied to the noisy count (no group is selected on data)', () => {
  it('for every DP plan: count-only, aggregate with and without GROUP BY, federated on its own and joined, any holders', async () => {
    for (const minDistinctKeys of [1, 5, 7]) {
      const m = pair({ advertiser: policy(2, 1e-6, 2), minDistinctKeys });
      const fed = federated(policy(0.5, 1e-6, 2), minDistinctKeys, { privacy: policy(1, 1e-6, 1) });
      const plans = [
        await plan(COUNT_SQL, m, PUBLISHER),
        await plan(GROUPED_COUNT, m, ADVERTISER),
        await plan(AGG_SQL, m, ADVERTISER),
        await plan('SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', m, ADVERTISER),
        await plan('SELECT s.kind, COUNT(*) FROM salaries s GROUP BY s.kind', fed, 'reg'),
        await plan('SELECT COUNT(*) FROM salaries s', fed, 'reg'),
        await plan(FED_JOIN, fed, 'reg'),
      ];
      for (const q of plans) {
        expect(q.minDistinctKeys).toBe(minDistinctKeys);
        for (const holders of [2, 3, 4]) expect(noisePlan(q, holders)!.threshold, `${q.mode} ${holders}`).toBe(BigInt(minDistinctKeys));
      }
    }
  });
});

describe('noisePlan: the clamps of the dummies and the padding get δ, split evenly, judged by the exact law', () => {
  /**
   * One clamp, clamp(shift + L, 0, 2 shift) with δ share `share`: it acts below with P(L <= -shift - 1) and above
   * with P(L >= shift + 1), each <= share/2; the released count n + D is (1/b, share)-DP exactly (hockey stick); and
   * the shift is not absurdly large: 4 less would already break share/2. (The least valid shift is 3 below the one
   * chosen: one unit from upperQuantile's extra rounding, see test/unit/tail-bounds.test.ts, one from its "+ 1",
   * one from bounding P(L >= shift) where the clamp needs only P(L > shift).)
   */
  function judge(clamp: DummyPlan, share: number, label: string): void {
    const b = toNumber(clamp.scale);
    const law = discreteLaplace(b);
    const shift = Number(clamp.shift);
    expect(atMost(law, -shift - 1), label).toBeLessThanOrEqual(share / 2);
    expect(atLeast(law, shift + 1), label).toBeLessThanOrEqual(share / 2);
    expect(atMost(law, -shift + 3), label).toBeGreaterThan(share / 2);
    const added = clamped(law, shift);
    expect(hockeyStick(added, 1 / b), label).toBeLessThanOrEqual(share);
    // And the check can fail: a clamp at half the shift spends more than the share.
    expect(hockeyStick(clamped(law, Math.floor(shift / 2)), 1 / b), label).toBeGreaterThan(share);
  }

  it('count-only: dummies and padding of the KEYS scale 2/ε, each with δ/2', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [1, 1e-6], [0.5, 1e-4], [0.25, 1e-9]] as const) {
      for (const m of [pair({ advertiser: policy(epsilon, delta, 1) }), pair({ advertiser: policy(epsilon, delta, 1), publisher: policy(epsilon, delta, 3) })]) {
        const noise = noisePlan(await plan(COUNT_SQL, m, PUBLISHER), 2)!;
        const scale = r(200n, BigInt(epsilon * 100));
        expect(noise.columns[0]!.scale).toEqual(scale);
        expect(noise.dummies!.scale).toEqual(scale);
        expect(noise.padding!.scale).toEqual(scale);
        judge(noise.dummies!, delta / 2, `dummies ε=${epsilon} δ=${delta}`);
        judge(noise.padding!, delta / 2, `padding ε=${epsilon} δ=${delta}`);
      }
    }
  });

  it('aggregate and federated joins: the padding alone, of scale H·k/ε (H = 1, or the holders), with all of δ', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [0.5, 1e-4], [1, 1e-9]] as const) {
      const grouped = noisePlan(await plan(GROUPED_COUNT, pair({ advertiser: policy(epsilon, delta, 2) }), ADVERTISER), 2)!;
      expect(grouped.dummies).toBeUndefined();
      expect(grouped.padding!.scale).toEqual(r(300n, BigInt(epsilon * 100)));
      judge(grouped.padding!, delta, `grouped ε=${epsilon} δ=${delta}`);
      const fed = noisePlan(await plan(FED_JOIN, federated(policy(epsilon, delta, 1), 4, {}), 'reg'), 3)!;
      expect(fed.padding!.scale).toEqual(r(1500n, BigInt(epsilon * 100)));
      judge(fed.padding!, delta, `federated ε=${epsilon} δ=${delta}`);
    }
  });
});

describe('errorBound and noiseBounds: the stated 95% covers at least 95% exactly', () => {
  it('for the sum of the holders\' noise (a GROUP BY query, 2 and 3 holders)', async () => {
    const q = await plan(GROUPED_COUNT, pair({ advertiser: policy(2, 1e-6, 2) }), ADVERTISER);
    for (const holders of [2, 3]) {
      const noise = noisePlan(q, holders)!;
      for (const column of [KEYS, ROWS]) {
        const w = errorBound(noise, column);
        const law = sumOf(toNumber(noise.columns.find((c) => c.column === column)!.scale), holders);
        expect(within(law, w), `holders=${holders} column=${column}`).toBeGreaterThanOrEqual(0.95);
        // One unit less would still be a valid bound only if the method were loose; at least it must be tighter than 99.99%.
        expect(within(law, w - 1n)).toBeLessThan(0.9999);
      }
    }
  });

  it('count-only: the holders\' noise plus the clamped dummy noise, all of the KEYS scale', async () => {
    for (const epsilon of [1, 0.5]) {
      const q = await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, 1e-6, 1) }), PUBLISHER);
      const noise = noisePlan(q, shareHolders(q))!;
      const b = toNumber(noise.columns[0]!.scale);
      const law = convolve(sumOf(b, 2), clamped(discreteLaplace(toNumber(noise.dummies!.scale)), Number(noise.dummies!.shift)));
      const w = errorBound(noise, KEYS);
      expect(within(law, w), `ε=${epsilon}`).toBeGreaterThanOrEqual(0.95);
      expect(within(law, w - 1n), `ε=${epsilon}`).toBeLessThan(0.9999);
    }
  });

  it('AVG: each of its sum and its count holds at 97.5%, so that both hold together at 95%', async () => {
    const m = pair({ advertiser: policy(1, 1e-6, 1) });
    const amount = { name: 'amount', type: 'decimal', scale: 0, min: -3, max: 3 } as const;
    const tables = m.tables.map((t) => (t.name === ADVERTISER ? { ...t, columns: t.columns.map((c) => (c.name === 'amount' ? amount : c)) } : t));
    const { noise } = await noiseOf('SELECT AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', ManifestSchema.parse({ ...m, tables }));
    const bounds = noiseBounds(noise);
    expect(bounds).toMatchObject({ epsilon: '1', delta: '0.000001', confidence: 0.95 });
    for (const c of noise.columns) {
      const law = sumOf(toNumber(c.scale), 2);
      expect(within(law, bounds.bound.get(c.column)!), `column ${c.column}`).toBeGreaterThanOrEqual(0.95);
      expect(within(law, bounds.halfBound.get(c.column)!), `column ${c.column}`).toBeGreaterThanOrEqual(0.975);
    }
  });

  it('refuses a column that carries no noise', async () => {
    const { noise } = await noiseOf(GROUPED_COUNT, pair({ advertiser: policy(1, 1e-6, 1) }));
    expect(() => errorBound(noise, 2)).toThrow(RangeError);
    expect(() => errorBound(noise, 2)).toThrow(/^errorBound:/);
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
