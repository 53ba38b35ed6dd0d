import { describe, expect, it } from 'vitest';
import { rational, toNumber, type Rational } from '../../src/dp/rational.js';
import { Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { errorBound, noiseBounds, noisePlan, shareHolders, type NoisePlan } from '../../src/query/noise.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { KEYS, ROWS } from '../../src/query/result.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';

/**
 * The calibration of src/query/noise.ts against the mathematics: sensitivities from the schema, scale = sensitivity
 * x k / ε exactly, and the threshold, shift and error bounds judged by the exact law of the noise, computed here by
 * convolving the discrete Laplace pmf (1-p)/(1+p) p^|x|, p = e^(-1/b), each variable cut at |x| <= 60b + 2 (it drops
 * at most e^-60 of mass, nothing next to the δ = 1e-6 judged here).
 */
interface Law {
  readonly low: number;
  readonly p: Float64Array;
}

function discreteLaplace(b: number): Law {
  const cut = Math.ceil(60 * b) + 2;
  const p = Math.exp(-1 / b);
  const c = (1 - p) / (1 + p);
  return { low: -cut, p: Float64Array.from({ length: 2 * cut + 1 }, (_, i) => c * p ** Math.abs(i - cut)) };
}

function convolve(x: Law, y: Law): Law {
  const out = new Float64Array(x.p.length + y.p.length - 1);
  for (let i = 0; i < x.p.length; i++) for (let j = 0; j < y.p.length; j++) out[i + j]! += x.p[i]! * y.p[j]!;
  return { low: x.low + y.low, p: out };
}

function sumOf(b: number, terms: number): Law {
  const one = discreteLaplace(b);
  let law = one;
  for (let t = 1; t < terms; t++) law = convolve(law, one);
  return law;
}

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

const policy = (epsilon: number, delta: number, maxRowsPerKey: number): PrivacyPolicy => ({ epsilon, delta, maxRowsPerKey, budget: { epsilon: 10, refresh: 'month' } });

const withPolicy = (t: Table, privacy: PrivacyPolicy | undefined, minDistinctKeys?: number): Table => ({
  ...t,
  rules: { ...t.rules, ...(privacy ? { privacy } : {}), ...(minDistinctKeys ? { minDistinctKeys } : {}) },
});

const base = buildCollaboration().manifest;

/** The publisher/advertiser collaboration of the scenario tests with the given policies, checked by the schema. */
function pair(o: { publisher?: PrivacyPolicy; advertiser?: PrivacyPolicy; minDistinctKeys?: number }): Manifest {
  return ManifestSchema.parse({
    ...base,
    tables: [withPolicy(publisherTable(), o.publisher, o.minDistinctKeys), withPolicy(advertiserTable(), o.advertiser, o.minDistinctKeys)],
  });
}

const HOLDERS = ['emp1', 'emp2', 'emp3'];

/** A table held in three parts, with a declared GROUP BY domain. */
function federated(privacy: PrivacyPolicy, minDistinctKeys = 4): Manifest {
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
  return ManifestSchema.parse({
    format: 'cleanroom-manifest/1',
    collaborationId: 'fed',
    name: 'fed',
    version: 1,
    members: [...HOLDERS, 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: [salaries],
    queriers: ['reg'],
    receivers: ['reg'],
  });
}

const GROUPED_COUNT = 'SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';

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
  it('count-only: one noisy column, the distinct-key count, sensitivity 1, scale 1/ε; dummies of scale 1/ε', async () => {
    const { noise } = await noiseOf(COUNT_SQL, pair({ advertiser: policy(0.3, 1e-6, 7) }), PUBLISHER);
    expect(calibration(noise)).toEqual([[KEYS, 1n, r(10n, 3n)]]);
    expect(noise.dummies?.scale).toEqual(r(10n, 3n));
  });

  it('GROUP BY with COUNT, SUM and AVG: k = 4; KEYS and ROWS move by maxRowsPerKey, a sum by maxRowsPerKey x max|bound| x 10^scale', async () => {
    // amount: decimal(2) in [-100000, 100000] -> 10^7 units per row; ε = 0.3, so scale = sensitivity x 4 / (3/10).
    const { noise } = await noiseOf(AGG_SQL, pair({ advertiser: policy(0.3, 1e-6, 4) }));
    expect(calibration(noise)).toEqual([
      [KEYS, 4n, r(4n * 40n, 3n)],
      [ROWS, 4n, r(4n * 40n, 3n)],
      [2, 4n * 10_000_000n, r(4n * 10_000_000n * 40n, 3n)],
      [3, 4n, r(4n * 40n, 3n)],
    ]);
    expect(noise.dummies).toBeUndefined();
  });

  it('without GROUP BY: KEYS moves by 1 whatever maxRowsPerKey; only the released columns are noisy and counted in k', async () => {
    const both = await noiseOf('SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    // items: integer in [0, 1000]; k = 4 (KEYS, ROWS, sum, non-null count), ε = 2: scale = sensitivity x 2.
    expect(calibration(both.noise)).toEqual([
      [KEYS, 1n, r(2n)],
      [ROWS, 5n, r(10n)],
      [2, 5000n, r(10_000n)],
      [3, 5n, r(10n)],
    ]);
    // SUM of the second aggregation column alone: ROWS is not released, k = 3.
    const sum = await noiseOf('SELECT SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', pair({ advertiser: policy(2, 1e-6, 5) }));
    expect(calibration(sum.noise)).toEqual([
      [KEYS, 1n, r(3n, 2n)],
      [2, 5000n, r(7500n)],
      [3, 5n, r(15n, 2n)],
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

  it('federated: one person may be at every holder, so the rows per person are maxRowsPerKey x holders', async () => {
    const m = federated(policy(0.5, 1e-6, 2));
    const grouped = await noiseOf('SELECT s.kind, COUNT(*), SUM(s.salary) FROM salaries s GROUP BY s.kind', m, 'reg');
    // 3 holders x 2 rows = 6 per person; salary max |bound| 1_000_000; k = 4, ε = 1/2: scale = sensitivity x 8.
    expect(calibration(grouped.noise)).toEqual([
      [KEYS, 6n, r(48n)],
      [ROWS, 6n, r(48n)],
      [2, 6_000_000n, r(48_000_000n)],
      [3, 6n, r(48n)],
    ]);
    expect(shareHolders(grouped.q)).toBe(3);
    const total = await noiseOf('SELECT COUNT(*) FROM salaries s', m, 'reg');
    // Without GROUP BY each part counts the person at most once: 3 holders.
    expect(calibration(total.noise)).toEqual([
      [KEYS, 3n, r(12n)],
      [ROWS, 6n, r(24n)],
    ]);
  });

  it('the strictest policy wins across the two tables: min ε, min δ, min maxRowsPerKey', async () => {
    const m = pair({ publisher: policy(0.5, 1e-6, 3), advertiser: policy(0.3, 1e-5, 5) });
    for (const querier of [PUBLISHER, ADVERTISER]) {
      const { noise } = await noiseOf(GROUPED_COUNT, m, querier);
      expect(noise.privacy).toMatchObject({ epsilon: r(3n, 10n), delta: r(1n, 1_000_000n), maxRowsPerKey: 3 });
      // k = 2 (KEYS, ROWS), sensitivity 3: scale = 3 x 2 / (3/10) = 20.
      expect(calibration(noise)).toEqual([
        [KEYS, 3n, r(20n)],
        [ROWS, 3n, r(20n)],
      ]);
    }
    // The other way round: the stricter values may come from different tables.
    const mixed = await noiseOf(GROUPED_COUNT, pair({ publisher: policy(0.2, 1e-4, 9), advertiser: policy(0.4, 1e-7, 2) }));
    expect(mixed.noise.privacy).toMatchObject({ epsilon: r(1n, 5n), delta: r(1n, 10_000_000n), maxRowsPerKey: 2 });
  });
});

describe('noisePlan: the release threshold, judged by the exact law of the noise', () => {
  const DELTA = 1e-6;

  it('a group of minDistinctKeys - 1 people reaches the threshold with probability <= δ / sensitivity(KEYS), for 2 to 4 holders', async () => {
    for (const maxRowsPerKey of [1, 2]) {
      // ε = 2, k = 2: the KEYS scale is maxRowsPerKey (1 or 2).
      const q = await plan(GROUPED_COUNT, pair({ advertiser: policy(2, DELTA, maxRowsPerKey), minDistinctKeys: 5 }), ADVERTISER);
      for (const holders of [2, 3, 4]) {
        const noise = noisePlan(q, holders)!;
        const keys = noise.columns[0]!;
        expect(keys.column).toBe(KEYS);
        const law = sumOf(toNumber(keys.scale), holders);
        const p = atLeast(law, Number(noise.threshold) - (q.minDistinctKeys - 1));
        expect(p, `maxRowsPerKey=${maxRowsPerKey} holders=${holders}`).toBeLessThanOrEqual(DELTA / Number(keys.sensitivity));
        // And the threshold means something: without it such a group would open half the time or more.
        expect(atLeast(law, 1)).toBeGreaterThan(0.3);
      }
    }
  });

  it('with minDistinctKeys = 1, a group made by one person alone still opens with probability <= δ / sensitivity(KEYS)', async () => {
    const q = await plan(GROUPED_COUNT, pair({ advertiser: policy(2, DELTA, 1), minDistinctKeys: 1 }), ADVERTISER);
    for (const holders of [2, 3]) {
      const noise = noisePlan(q, holders)!;
      const keys = noise.columns[0]!;
      // The one person's own key is in the count: 1 + noise >= threshold.
      expect(atLeast(sumOf(toNumber(keys.scale), holders), Number(noise.threshold) - 1)).toBeLessThanOrEqual(DELTA / Number(keys.sensitivity));
    }
  });

  it('count-only: the single count, with the dummies\' clamped noise as a third term, opens under the minimum with probability <= δ', async () => {
    const q = await plan(COUNT_SQL, pair({ advertiser: policy(2, DELTA, 1), minDistinctKeys: 4 }), PUBLISHER);
    const noise = noisePlan(q, shareHolders(q))!;
    const b = toNumber(noise.columns[0]!.scale);
    const law = convolve(sumOf(b, 2), clamped(discreteLaplace(b), Number(noise.dummies!.shift)));
    expect(atLeast(law, Number(noise.threshold) - 3)).toBeLessThanOrEqual(DELTA);
  });

  it('a federated query over a declared domain opens on the noisy count at minDistinctKeys itself', async () => {
    const m = federated(policy(0.5, DELTA, 2), 7);
    for (const sql of ['SELECT s.kind, COUNT(*) FROM salaries s GROUP BY s.kind', 'SELECT COUNT(*) FROM salaries s']) {
      const { noise } = await noiseOf(sql, m, 'reg');
      expect(noise.threshold).toBe(7n);
    }
  });
});

describe('noisePlan: the count-only dummies', () => {
  it('shift: exact P(DLap(1/ε) < -shift) <= δ/2, and so is the clamp at 2 shift, P(DLap > shift)', async () => {
    for (const [epsilon, delta] of [[2, 1e-6], [1, 1e-6], [0.5, 1e-4], [0.25, 1e-9]] as const) {
      const q = await plan(COUNT_SQL, pair({ advertiser: policy(epsilon, delta, 1) }), PUBLISHER);
      const dummies = noisePlan(q, 2)!.dummies!;
      expect(dummies.scale).toEqual(r(100n, BigInt(epsilon * 100)));
      const law = discreteLaplace(1 / epsilon);
      const shift = Number(dummies.shift);
      expect(atMost(law, -shift - 1), `ε=${epsilon}`).toBeLessThanOrEqual(delta / 2);
      expect(atLeast(law, shift + 1), `ε=${epsilon}`).toBeLessThanOrEqual(delta / 2);
      // Not absurdly large: a shift 4 smaller would already break δ/2. (The least valid shift is 3 below the one
      // chosen: one unit from upperQuantile's extra rounding, see test/unit/tail-bounds.test.ts, one from its "+ 1",
      // one from bounding P(L >= shift) where the clamp needs only P(L > shift).)
      expect(atMost(law, -shift + 3)).toBeGreaterThan(delta / 2);
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

  it('count-only: the holders\' noise plus the clamped dummy noise', async () => {
    const q = await plan(COUNT_SQL, pair({ advertiser: policy(1, 1e-6, 1) }), PUBLISHER);
    const noise = noisePlan(q, shareHolders(q))!;
    const b = toNumber(noise.columns[0]!.scale);
    const law = convolve(sumOf(b, 2), clamped(discreteLaplace(b), Number(noise.dummies!.shift)));
    expect(within(law, errorBound(noise, KEYS))).toBeGreaterThanOrEqual(0.95);
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
