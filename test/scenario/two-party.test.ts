import { type QueryResult } from '../../src/query/result.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SessionMessage } from '../../src/wire/messages.js';
import { QuerySecret } from '../../src/crypto/secret.js';
import { MAX_FRAME_BYTES, MAX_GROUPS, MAX_GROUP_WIDTH, PSI_BATCH_KEYS } from '../../src/limits.js';
import { ADVERTISER, AGG_SQL, AUDITOR, COUNT_SQL, PUBLISHER, TEST_POLICY, buildCollaboration } from '../support/collaboration.js';
import { CATEGORIES, cleanData, emailOf, makeData, type Dataset, type Row } from '../support/datasets.js';
import { expectedResult, sortRows } from '../support/expected-result.js';
import { Scenario, backendNames, encodeAll, kinds, runScenario, type Party } from './harness.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function resultOf(p: Party): QueryResult {
  if (p.outcome?.kind !== 'result') throw new Error(`${p.role} (${p.member}) has outcome ${JSON.stringify(p.outcome)}`);
  return p.outcome.result;
}

function expectMatchesReference(s: Scenario, p: Party): void {
  const result = resultOf(p);
  const expected = expectedResult(s.P.plan, s.options.data);
  expect(result.queryId).toBe(s.queryId);
  expect(result.mode).toBe(s.P.plan.mode);
  expect(result.columns).toEqual(expected.columns);
  expect(sortRows(result.rows)).toEqual(expected.rows);
  expect(result.minDistinctKeys).toBe(s.P.plan.minDistinctKeys);
}

function expectSecretsZeroed(s: Scenario): void {
  expect(s.P.secret.isZeroed).toBe(true);
  expect(s.Q.secret.isZeroed).toBe(true);
}

function points(ms: readonly SessionMessage[], stage: 'p' | 'q' | 'pq'): Uint8Array {
  return Buffer.concat(ms.flatMap((m) => (m.type === 'points' && m.stage === stage ? [m.points] : [])));
}

function chunks(b: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 32) out.push(Buffer.from(b.subarray(i, i + 32)).toString('hex'));
  return out;
}

/** Messy demo-like data: overlapping populations, repeated people, stray whitespace and case, NULL and empty keys. */
const messy = makeData({ seed: 11, publisherPeople: [0, 90], advertiserPeople: [45, 140], publisherRows: 120, advertiserRows: 130 });

describe.each(backendNames())('two parties on the %s backend', (backend) => {
  it('count-only: both receivers get the number of distinct common keys after filters, and both secrets are zeroed', async () => {
    const sql = `${COUNT_SQL} WHERE p.campaign IN ('spring', 'summer') AND a.category != 'toys'`;
    const s = await runScenario({ collaboration: buildCollaboration(), sql, querier: PUBLISHER, data: messy, backend });
    expect(s.P.plan.mode).toBe('count-only');
    // The querier owns a table, so it is the one who learns |P ∩ Q|.
    expect(s.P.member).toBe(PUBLISHER);
    expectMatchesReference(s, s.P);
    expectMatchesReference(s, s.Q);
    const pRows = new Set(s.P.keys);
    const common = s.Q.keys.filter((k) => pRows.has(k)).length;
    expect(common).toBeGreaterThanOrEqual(3);
    expect(resultOf(s.P).rows).toEqual([[common]]);
    expect(resultOf(s.Q).rows).toEqual([[common]]);
    // Count-only never asks the driver for per-key aggregates: P never learns which keys matched.
    expect(s.P.matchedIndices).toBeUndefined();
    expectSecretsZeroed(s);
  });

  it('aggregate mode: GROUP BY with SUM and AVG equals the semi-join computed over the pooled tables', async () => {
    const sql = AGG_SQL.replace(' GROUP BY', " WHERE p.campaign IN ('spring', 'summer', 'autumn') AND a.category != 'music' GROUP BY");
    const s = await runScenario({ collaboration: buildCollaboration(), sql, querier: ADVERTISER, data: messy, backend });
    expect(s.P.plan.mode).toBe('aggregate');
    expect(s.P.member).toBe(ADVERTISER);
    expectMatchesReference(s, s.P);
    expectMatchesReference(s, s.Q);
    expect(resultOf(s.P).rows.length).toBeGreaterThan(1);
    expect(resultOf(s.P).columns).toEqual(['category', 'count', 'sum_amount', 'avg_amount']);
    // The aggregator learnt exactly which of its own keys are in the partner's filtered set.
    const qKeys = new Set(s.Q.keys);
    expect(s.P.matchedIndices!.map((i) => s.P.keys[i]).sort()).toEqual(s.P.keys.filter((k) => qKeys.has(k)).sort());
    expectSecretsZeroed(s);
  });

  it('aggregate mode: duplicates count once per P row, the strictest minDistinctKeys drops small groups, a NULL label is a group', async () => {
    // books: 6 matched keys (8 rows), garden: exactly 4 (the boundary), toys: 3 (passes the advertiser's 3,
    // fails the publisher's 4), music: 1; one NULL-category group with 4 keys; unmatched rows on both sides.
    const adv: Row[] = [];
    const add = (category: string | null, people: number[], amount: (p: number) => string | null) =>
      people.forEach((p) => adv.push({ email: emailOf(p), amount: amount(p), category, items: 1, age: 40 }));
    add('books', range(0, 6), (p) => `${p}.25`);
    add('books', [0, 1], () => '-3.10'); // the same customers again: two more rows, no more keys
    add('garden', range(10, 14), (p) => (p === 10 ? null : `${p * 3}.05`));
    add('toys', range(20, 23), () => '1.00');
    add('music', [30], () => '99.99');
    add(null, range(40, 44), () => '0.01');
    add('books', range(500, 520), () => '1000.00'); // nobody the publisher knows
    const pub: Row[] = [...range(0, 50), ...range(600, 640)].flatMap((p) => [
      { email: ` ${emailOf(p).toUpperCase()}`, campaign: 'spring', impressions: 1, region: 'eu' },
      { email: emailOf(p), campaign: 'summer', impressions: 2, region: 'us' }, // a key twice on Q's side matches once
    ]);
    const data: Dataset = { [PUBLISHER]: pub, [ADVERTISER]: adv };
    const collaboration = buildCollaboration({ minDistinctKeys: { publisher: 4, advertiser: 3 } });
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, backend });
    expect(s.P.plan.minDistinctKeys).toBe(4);
    expectMatchesReference(s, s.P);
    // books: 0.25 + 1.25 + ... + 5.25 = 16.50, then two refunds of -3.10: 10.30 over 8 rows.
    // garden: one NULL amount, so AVG divides 33.05 + 36.05 + 39.05 by 3 non-null values, COUNT(*) is still 4.
    expect(sortRows(resultOf(s.P).rows)).toEqual(
      sortRows([
        ['books', 8, '10.30', '1.287500'],
        ['garden', 4, '108.15', '36.050000'],
        [null, 4, '0.04', '0.010000'],
      ]),
    );
    expect(resultOf(s.Q).rows).toEqual(resultOf(s.P).rows);
    expectSecretsZeroed(s);
  });

  it('COUNT(t.c) counts a column\'s non-NULL values, COUNT(DISTINCT key) the matched people; alone, it is the count-only intersection size', async () => {
    const adv: Row[] = [];
    const add = (category: string | null, people: number[], amount: (p: number) => string | null, items: number | null = 1) =>
      people.forEach((p) => adv.push({ email: emailOf(p), amount: amount(p), category, items, age: 40 }));
    add('books', range(0, 6), (p) => `${p}.25`);
    add('books', [0, 1], () => null, null); // the same customers again, without an amount or items
    add('garden', range(10, 14), (p) => (p === 10 ? null : `${p}.05`));
    add(null, range(40, 45), () => '0.01');
    add('books', range(500, 520), () => '1000.00'); // nobody the publisher knows
    const pub: Row[] = range(0, 50).map((p) => ({ email: emailOf(p), campaign: 'spring', impressions: 1, region: 'eu' }));
    const data: Dataset = { [PUBLISHER]: pub, [ADVERTISER]: adv };
    const sql = 'SELECT a.category, COUNT(*), COUNT(a.amount), COUNT(DISTINCT a.email), COUNT(a.items), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
    const s = await runScenario({ collaboration: buildCollaboration(), sql, querier: ADVERTISER, data, backend });
    expect(s.P.plan).toMatchObject({ mode: 'aggregate', sumColumns: ['items'], countColumns: ['amount'] });
    expectMatchesReference(s, s.P);
    expectMatchesReference(s, s.Q);
    expect(resultOf(s.P).columns).toEqual(['category', 'count', 'count_amount', 'count_distinct_email', 'count_items', 'sum_items']);
    expect(sortRows(resultOf(s.P).rows)).toEqual(
      sortRows([
        ['books', 8, 6, 6, 6, '6'],
        ['garden', 4, 3, 4, 4, '4'],
        [null, 5, 5, 5, 5, '5'],
      ]),
    );
    // Alone, COUNT(DISTINCT key) of either table is the size of the intersection: count-only.
    for (const key of ['p.email', 'a.email']) {
      const c = await runScenario({ collaboration: buildCollaboration(), sql: `SELECT COUNT(DISTINCT ${key}) AS people FROM advertiser a JOIN publisher p ON a.email = p.email`, querier: ADVERTISER, data, backend });
      expect(c.P.plan.mode).toBe('count-only');
      expectMatchesReference(c, c.Q);
      expect(resultOf(c.Q).rows).toEqual([[15]]);
    }
    expectSecretsZeroed(s);
  });

  it('empty intersection: both sides complete, one empty group is exchanged, the result has no rows', async () => {
    const data = cleanData(range(0, 30), range(100, 130));
    for (const [sql, querier] of [
      [COUNT_SQL, PUBLISHER],
      [AGG_SQL, ADVERTISER],
    ] as const) {
      const s = await runScenario({ collaboration: buildCollaboration(), sql, querier, data, backend });
      expect(resultOf(s.P).rows).toEqual([]);
      expect(resultOf(s.Q).rows).toEqual([]);
      // The shape of the exchange does not depend on the data: one group, even when nothing matched.
      const shares = s.P.sent.find((m) => m.type === 'shares');
      expect(shares).toMatchObject({ type: 'shares', groups: 1 });
      expectSecretsZeroed(s);
    }
  });

  it('one side with no keys at all (a filter nobody passes) still completes with an empty result', async () => {
    const data = cleanData(range(0, 30), range(0, 30));
    const s = await runScenario({ collaboration: buildCollaboration(), sql: `${COUNT_SQL} WHERE a.category = 'nothing'`, querier: PUBLISHER, data, backend });
    expect(s.Q.keys).toEqual([]);
    expect(resultOf(s.P).rows).toEqual([]);
    expect(resultOf(s.Q).rows).toEqual([]);
    const t = await runScenario({ collaboration: buildCollaboration(), sql: AGG_SQL.replace(' GROUP BY', " WHERE a.category = 'nothing' GROUP BY"), querier: ADVERTISER, data, backend });
    expect(t.P.keys).toEqual([]);
    expect(resultOf(t.P).rows).toEqual([]);
    expect(resultOf(t.Q).rows).toEqual([]);
    expectSecretsZeroed(s);
    expectSecretsZeroed(t);
  });

  it('full intersection: every key matches', async () => {
    const data = cleanData(range(0, 40), range(0, 40));
    const s = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data, backend });
    expect(resultOf(s.P).rows).toEqual([[40]]);
    const t = await runScenario({ collaboration: buildCollaboration(), sql: 'SELECT COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email', querier: ADVERTISER, data, backend });
    expect(t.P.matchedIndices).toHaveLength(40);
    expectMatchesReference(t, t.P);
    expect(resultOf(t.Q).rows).toEqual([[40, String(range(0, 40).reduce((x, p) => x + (p % 7), 0))]]);
  });
});

describe('receivers', () => {
  const data = makeData({ seed: 5, publisherPeople: [0, 60], advertiserPeople: [20, 90], publisherRows: 80, advertiserRows: 90 });

  /** Message kinds a side may only receive when it is a result receiver. */
  const RESULT_ONLY = ['open:values', 'labels'];

  it('only P (the aggregator) receives: Q is released and never receives values or labels', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ receivers: [ADVERTISER] }), sql: AGG_SQL, querier: ADVERTISER, data });
    expectMatchesReference(s, s.P);
    expect(s.Q.outcome).toEqual({ kind: 'released', groups: resultOf(s.P).rows.length, receivers: [ADVERTISER] });
    expect(kinds(s.Q.received).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
    expect(kinds(s.P.sent)).not.toContain('open:values');
    expect(kinds(s.P.sent)).not.toContain('labels');
    // Q opened its value shares to P, and P got them.
    expect(kinds(s.P.received)).toContain('open:values');
    expectSecretsZeroed(s);
  });

  it('only Q (the partner) receives: P is released, opens its values and the labels to Q, and never receives values', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ receivers: [PUBLISHER] }), sql: AGG_SQL, querier: ADVERTISER, data });
    expectMatchesReference(s, s.Q);
    expect(s.P.outcome).toEqual({ kind: 'released', groups: resultOf(s.Q).rows.length, receivers: [PUBLISHER] });
    expect(kinds(s.P.received).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
    expect(kinds(s.Q.sent)).not.toContain('open:values');
    expect(kinds(s.Q.received)).toEqual(expect.arrayContaining(['shares', 'open:counts', 'open:values', 'labels']));
    expectSecretsZeroed(s);
  });

  it('both receive: identical results, and each side sends exactly the protocol sequence', async () => {
    const s = await runScenario({ collaboration: buildCollaboration(), sql: AGG_SQL, querier: ADVERTISER, data, batchKeys: 10 });
    expectMatchesReference(s, s.P);
    expect(resultOf(s.Q)).toEqual(resultOf(s.P));
    const pBatches = Math.ceil(s.P.keys.length / 10);
    const qBatches = 1; // Q's set leaves in one shuffled stream once it is complete
    expect(kinds(s.P.sent)).toEqual([...Array(pBatches).fill('points:p'), 'points-end:p', 'shares', 'open:counts', 'open:values', 'labels']);
    const qSent = kinds(s.Q.sent);
    expect(qSent.slice(0, qBatches + 1)).toEqual(['points:q', 'points-end:q']);
    expect(qSent.filter((k) => k === 'points:pq')).toHaveLength(pBatches);
    expect(qSent.slice(-3)).toEqual(['points-end:pq', 'open:counts', 'open:values']);
    expect(kinds(s.P.received)).not.toContain('labels');
    expectSecretsZeroed(s);
  });

  it('neither party receives (the receiver is a third member): both are released, nothing is opened to either', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ receivers: [AUDITOR] }), sql: AGG_SQL, querier: ADVERTISER, data });
    // Released to nobody: a receiver outside the join takes no part (SPEC §9), and the audit log must not say it got anything.
    expect(s.P.outcome).toMatchObject({ kind: 'released', receivers: [] });
    expect(s.Q.outcome).toMatchObject({ kind: 'released', receivers: [] });
    for (const p of [s.P, s.Q]) expect(kinds(p.received).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
    expectSecretsZeroed(s);
  });

  it('count-only with only Q receiving: P, who computed the intersection size, only sees shares of it', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ receivers: [ADVERTISER] }), sql: COUNT_SQL, querier: PUBLISHER, data });
    expect(s.P.member).toBe(PUBLISHER);
    expectMatchesReference(s, s.Q);
    expect(s.P.outcome).toEqual({ kind: 'released', groups: 1, receivers: [ADVERTISER] });
    expect(kinds(s.P.received).filter((k) => RESULT_ONLY.includes(k))).toEqual([]);
    expectSecretsZeroed(s);
  });
});

describe('what crosses the wire', () => {
  const data = cleanData(range(0, 40), range(20, 70));

  it('Q sends its set in the order of its key stream (the store\'s salted order); in aggregate mode Q returns H(p)^ab in P\'s order, in count-only shuffled', async () => {
    for (const [sql, querier] of [
      [AGG_SQL, ADVERTISER],
      [COUNT_SQL, PUBLISHER],
    ] as const) {
      const s = await runScenario({ collaboration: buildCollaboration(), sql, querier, data });
      const a = QuerySecret.fromBytes(s.P.secretBytes);
      const b = QuerySecret.fromBytes(s.Q.secretBytes);
      const hq = s.group.blind(b, s.hash(s.Q.keys));
      const qStream = points(s.P.received, 'q');
      // No padding nor dummies here: the stream is the key stream blinded, batch by batch, as it came (SPEC §4.2 step
      // 1; the order is the store's, new each query: test/unit/table-store.test.ts).
      expect(chunks(qStream)).toEqual(chunks(hq));
      const hpab = s.group.blind(b, s.group.blind(a, s.hash(s.P.keys)));
      const returned = points(s.P.received, 'pq');
      expect(chunks(returned).sort()).toEqual(chunks(hpab).sort());
      if (s.P.plan.mode === 'aggregate') expect(chunks(returned)).toEqual(chunks(hpab));
      else expect(chunks(returned)).not.toEqual(chunks(hpab));
    }
  });

  it('no frame carries a join key, a label of an unreleased group or P\'s raw values in clear', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ minDistinctKeys: { advertiser: 6 } }), sql: AGG_SQL, querier: ADVERTISER, data });
    const frames = Buffer.concat(encodeAll(s.wire.map((w) => w.msg))).toString('latin1');
    expect(frames).not.toMatch(/person\d+@/);
    expect(frames.toLowerCase()).not.toContain('example');
    // Every group has 5 keys here: all are under the minimum, so no label is ever sent.
    expect(resultOf(s.P).rows).toEqual([]);
    for (const c of CATEGORIES) expect(frames).not.toContain(c);
  });

  it('spans several protocol batches when a side has more than PSI_BATCH_KEYS keys', async () => {
    const n = PSI_BATCH_KEYS + 900;
    const big = cleanData(range(0, n), range(n - 3000, n + 500));
    const s = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data: big, batchKeys: PSI_BATCH_KEYS, feed: 'first' });
    expect(kinds(s.P.sent).filter((k) => k === 'points:p')).toHaveLength(2);
    expect(kinds(s.Q.sent).filter((k) => k === 'points:pq')).toHaveLength(2);
    expect(s.P.sent.find((m) => m.type === 'points-end')).toMatchObject({ stage: 'p', batches: 2, count: n });
    expect(resultOf(s.P).rows).toEqual([[3000]]);
  });

  it('both nodes plan the proposal independently and arrive at the same plan', async () => {
    const s = await Scenario.create({ collaboration: buildCollaboration(), sql: AGG_SQL, querier: ADVERTISER, data });
    expect(s.Q.plan).toEqual(s.P.plan);
    expect(s.P.plan).not.toBe(s.Q.plan);
  });
});

describe('singleton probing (issue 10): a querier that narrows its own set to one key', () => {
  it('is refused by the other member without a policy; with one, the count is noisy and the query runs', async () => {
    // The publisher's only person in its own filtered set is person 5; it asks whether the advertiser has them.
    const data = cleanData([5], [...Array(40).keys()]);
    const plain = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data, backend: 'sodium' });
    expect(plain.Q.outcome).toMatchObject({ kind: 'failed', error: { code: 'RULE_VIOLATION', rule: 'minDistinctKeys' } });
    expect(plain.P.outcome?.kind).toBe('failed');
    // Nothing was opened: the advertiser refused at the end of the publisher's set, before returning any point.
    expect(plain.Q.sent.some((m) => m.type === 'points' && m.stage === 'pq')).toBe(false);
    const noisy = await runScenario({ collaboration: buildCollaboration({ privacy: { advertiser: TEST_POLICY } }), sql: COUNT_SQL, querier: PUBLISHER, data, backend: 'sodium' });
    expect(noisy.P.outcome?.kind).toBe('result');
  });

  it('a policy on the querier\'s own table lifts nothing of the other table\'s: the advertiser still refuses the padded singleton (issue 17)', async () => {
    // The loosest policy the schema allows, on the publisher's own table: its set of one person goes out padded
    // with at most 2·shift random points (ε 10: a shift of 10), still under the advertiser's minimum of 30.
    const loosest = { epsilon: 10, delta: 1e-3, maxRowsPerKey: 1, budget: { epsilon: 1000, refresh: 'never' as const } };
    const collaboration = buildCollaboration({ privacy: { publisher: loosest }, minDistinctKeys: { advertiser: 30 } });
    const s = await runScenario({ collaboration, sql: COUNT_SQL, querier: PUBLISHER, data: cleanData([5], [...Array(40).keys()]), backend: 'sodium' });
    expect(s.P.member).toBe(PUBLISHER);
    expect(s.Q.outcome).toMatchObject({ kind: 'failed', error: { code: 'RULE_VIOLATION', rule: 'minDistinctKeys' } });
    expect(s.Q.sent.some((m) => m.type === 'points' && m.stage === 'pq')).toBe(false);
    // A policy on the advertiser's own table is what lets the same probe run, its answer noisy at the advertiser's ε.
    const own = buildCollaboration({ privacy: { publisher: loosest, advertiser: TEST_POLICY }, minDistinctKeys: { advertiser: 30 } });
    const t = await runScenario({ collaboration: own, sql: COUNT_SQL, querier: PUBLISHER, data: cleanData([5], [...Array(40).keys()]), backend: 'sodium' });
    expect(t.P.outcome?.kind).toBe('result');
  });
});

describe('singleton probing of the other table (issue 17, found by review): the querier narrows the table without a policy', () => {
  /** 40 people at each member; the target alone is in category 'toys' at the advertiser, and maybe at the publisher. */
  function data(publisherHasTarget: boolean) {
    const target = 5;
    const pub = Array.from({ length: 40 }, (_, i) => (i === 0 && publisherHasTarget ? target : 100 + i));
    const adv = Array.from({ length: 40 }, (_, i) => (i === 7 ? target : 200 + i));
    return {
      [PUBLISHER]: pub.map((p) => ({ email: emailOf(p), campaign: 'spring', impressions: 1, region: 'eu' })),
      [ADVERTISER]: adv.map((p) => ({ email: emailOf(p), amount: '1.00', category: p === target ? 'toys' : 'books', items: 1, age: 30 })),
    };
  }
  const loosest = { epsilon: 10, delta: 1e-3, maxRowsPerKey: 1, budget: { epsilon: 1000, refresh: 'never' as const } };

  it('count-only, asked by P with the loosest policy on its own table: the advertiser refuses its own one-key set before anything is matched', async () => {
    const collaboration = buildCollaboration({ privacy: { publisher: loosest }, minDistinctKeys: { advertiser: 30, publisher: 1 } });
    const s = await runScenario({ collaboration, sql: `${COUNT_SQL} WHERE a.category = 'toys'`, querier: PUBLISHER, data: data(true), backend: 'sodium' });
    expect(s.P.member).toBe(PUBLISHER);
    expect(s.Q.outcome).toMatchObject({ kind: 'failed', error: { code: 'RULE_VIOLATION', rule: 'minDistinctKeys' } });
    // The refusal says that the set is small, never how small, and Q's set never left.
    expect(s.Q.outcome?.kind === 'failed' && s.Q.outcome.error.message).not.toMatch(/\b1 key/);
    expect(s.Q.sent.some((m) => m.type === 'points')).toBe(false);
  });

  it('aggregate, asked by Q with the loosest policy on its own table: the advertiser (P) refuses its own one-key set', async () => {
    const collaboration = buildCollaboration({ privacy: { publisher: loosest }, minDistinctKeys: { advertiser: 30, publisher: 1 } });
    const sql = "SELECT COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE a.category = 'toys'";
    const s = await runScenario({ collaboration, sql, querier: PUBLISHER, data: data(true), backend: 'sodium' });
    expect(s.P.member).toBe(ADVERTISER);
    expect(s.P.outcome).toMatchObject({ kind: 'failed', error: { code: 'RULE_VIOLATION', rule: 'minDistinctKeys' } });
    expect(s.Q.received.some((m) => m.type === 'shares' || m.type === 'open')).toBe(false);
  });
});

describe('property: random sets and filters agree with the plaintext reference (sodium when available)', () => {
  const backend = backendNames().includes('sodium') ? 'sodium' : 'noble';
  const people = fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { maxLength: 40 });

  it('count-only and aggregate results for arbitrary key sets, feeds and batch sizes', async () => {
    await fc.assert(
      fc.asyncProperty(people, people, fc.integer({ min: 1, max: 9 }), fc.constantFrom<('first' | 'interleaved')[]>('first', 'interleaved'), fc.integer({ min: 1, max: 4 }), async (ps, qs, batchKeys, feed, min) => {
        const data = cleanData(ps, qs);
        const collaboration = buildCollaboration({ minDistinctKeys: { publisher: min, advertiser: 1 } });
        for (const [sql, querier] of [
          [COUNT_SQL, PUBLISHER],
          ["SELECT a.category, COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign != 'winter' GROUP BY a.category", ADVERTISER],
        ] as const) {
          const s = await runScenario({ collaboration, sql, querier, data, backend, batchKeys, feed });
          expectSecretsZeroed(s);
          // A non-empty set under the minimum is refused by the other side (SPEC §4.2, sets below the minimum).
          if ([s.P.keys.length, s.Q.keys.length].some((n) => n > 0 && n < min)) {
            const codes = [s.P, s.Q].map((p) => (p.outcome?.kind === 'failed' ? p.outcome.error.code : p.outcome?.kind));
            // The side that refuses says why; the other is told by its abort.
            expect(codes).toContain('RULE_VIOLATION');
            expect(codes.every((c) => c === 'RULE_VIOLATION' || c === 'ABORTED')).toBe(true);
            continue;
          }
          expectMatchesReference(s, s.P);
          expect(resultOf(s.Q)).toEqual(resultOf(s.P));
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('limits', () => {
  // The share matrix of MAX_GROUPS groups at the widest vector must fit one frame (src/limits.ts).
  it('a query with as many groups as MAX_GROUPS allows completes, and the widest share matrix fits a frame', async () => {
    const groups = MAX_GROUPS;
    expect(groups * MAX_GROUP_WIDTH * 16 + 64).toBeLessThan(MAX_FRAME_BYTES);
    const s = await runScenario({
      collaboration: buildCollaboration(),
      sql: 'SELECT a.category, SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category',
      querier: ADVERTISER,
      data: cleanData(range(0, 10), range(0, 10)),
      aggregates: () => Array.from({ length: groups }, (_, i) => ({ labels: [`c${String(i).padStart(5, '0')}`], values: [3n, 3n, 300n, 3n] })),
    });
    expect(s.Q.frameError).toBeUndefined();
    expect(resultOf(s.P).rows).toHaveLength(groups);
    expect(resultOf(s.Q).rows[0]).toEqual(['c00000', '3.00']);
  });
});
