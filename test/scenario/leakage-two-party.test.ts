import { describe, expect, it } from 'vitest';
import { QuerySecret } from '../../src/crypto/secret.js';
import { reconstruct } from '../../src/crypto/shares.js';
import { PSI_BATCH_KEYS } from '../../src/limits.js';
import { KEYS } from '../../src/query/group-vector.js';
import { pad } from '../../src/transport/frame-padding.js';
import { encodeFrame } from '../../src/wire/codec.js';
import { ADVERTISER, AGG_SQL, AUDITOR, COUNT_SQL, PUBLISHER, buildCollaboration, plan } from '../support/collaboration.js';
import { CATEGORIES, cleanData, emailOf, type Dataset, type Row } from '../support/datasets.js';
import { computableOverlaps, pointHexes, ringValuesOf, streamOf } from '../support/curious.js';
import { kinds, runScenario, type Scenario } from './harness.js';

/**
 * SPEC §7, two-party lines: each test plays one member of a two-party query run in this process, takes everything
 * that member received and its own secret and keys, computes all it can, and checks that exactly what the line of
 * the table lists is computable: the listed things are (so no test passes for want of data), the rest is not.
 */

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const secretOf = (bytes: Uint8Array) => QuerySecret.fromBytes(bytes);
const outside = (keys: readonly string[], of: readonly string[]) => {
  const set = new Set(of);
  return keys.filter((k) => !set.has(k));
};
const inside = (keys: readonly string[], of: readonly string[]) => {
  const set = new Set(of);
  return keys.filter((k) => set.has(k));
};

/** The returned points (H(p)^ab) that P can match against Q's set raised to its own secret, by position. */
function matchedPositions(s: Scenario): number[] {
  const qa = new Set(pointHexes(s.group.blind(secretOf(s.P.secretBytes), streamOf(s.P.received, 'q'))));
  return pointHexes(streamOf(s.P.received, 'pq')).flatMap((h, i) => (qa.has(h) ? [i] : []));
}

/** Q's share of every group's distinct-key count plus P's opened share of it: the counts Q reconstructs. */
function countsSeenByQ(s: Scenario): bigint[] {
  const shares = s.Q.received.find((m) => m.type === 'shares');
  if (shares?.type !== 'shares') throw new Error('Q received no shares');
  const held = ringValuesOf([shares], 'shares');
  const opened = ringValuesOf(s.Q.received, 'open', 'counts');
  expect(opened).toHaveLength(shares.groups);
  return opened.map((c, g) => reconstruct([held[g * shares.width + KEYS]!, c]));
}

describe('§7 two-party count-only', () => {
  // 200 keys each, 100 in common: P = the publisher (the querier owns a table), Q = the advertiser.
  const data = cleanData(range(0, 200), range(100, 300));

  it('§7 two-party count-only, P: |Q\'| and |P\' ∩ Q\'| are computable; which of its keys matched and Q\'s other keys are not', async () => {
    const s = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data });
    expect(s.P.member).toBe(PUBLISHER);
    const common = inside(s.P.keys, s.Q.keys);
    expect(common).toHaveLength(100);
    // |Q'|: the number of points of Q's stream.
    expect(pointHexes(streamOf(s.P.received, 'q'))).toHaveLength(s.Q.keys.length);
    // Every comparison P can make with its secret a: its own keys, keys of Q's it might guess (a dictionary
    // attack), Q's set and the returned points. Only Q's set raised to a against the returned points has common
    // points, and exactly |P' ∩ Q'| of them.
    const found = computableOverlaps(
      s.group,
      { 'own H(p)': s.hash(s.P.keys), 'guessed H(k)': s.hash(outside(s.Q.keys, s.P.keys)), q: streamOf(s.P.received, 'q'), pq: streamOf(s.P.received, 'pq') },
      [secretOf(s.P.secretBytes)],
    );
    expect(found).toEqual({ 'q ~ pq': common.length });
    // Which of its keys matched: P's best guess maps the i-th returned point to the i-th point it sent. Q shuffled
    // them, so the guess holds about |P' ∩ Q'|² / |P'| = 50 true matches (sd ≈ 3.5), not 100 (returned in order).
    const guessed = matchedPositions(s).map((i) => s.P.keys[i]!);
    const hits = inside(guessed, common).length;
    expect(hits).toBeGreaterThan(25);
    expect(hits).toBeLessThan(75);
    // The permutation itself (known to the test, with both secrets): about one point of 200 comes back where it
    // was sent (Poisson(1): eight or more with probability about 1e-5).
    const sentAb = pointHexes(s.group.blind(secretOf(s.Q.secretBytes), streamOf(s.P.sent, 'p')));
    const returned = pointHexes(streamOf(s.P.received, 'pq'));
    expect(returned.filter((h, i) => sentAb[i] === h).length).toBeLessThan(8);
  });

  it('§7 two-party count-only, Q: |P\'| is computable; which of its own keys matched, and P\'s keys, are not', async () => {
    const s = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data });
    expect(s.Q.member).toBe(ADVERTISER);
    expect(pointHexes(streamOf(s.Q.received, 'p'))).toHaveLength(s.P.keys.length);
    const found = computableOverlaps(
      s.group,
      { 'own H(q)': s.hash(s.Q.keys), 'guessed H(k)': s.hash(outside(s.P.keys, s.Q.keys)), p: streamOf(s.Q.received, 'p') },
      [secretOf(s.Q.secretBytes)],
    );
    expect(found).toEqual({});
    // As a receiver, the result: the intersection size.
    expect(s.Q.outcome).toMatchObject({ kind: 'result', result: { rows: [[100]] } });
  });

  // P opens its share of the distinct-key count to Q (§4.3 step 1, the count opening every holder gets, so that each
  // owner's node enforces its own minimum on the real count): Q reconstructs |P' ∩ Q'| whether or not it is a
  // receiver, and also when the count is under the minimum and no result is released. §7 states it.
  it('§7 two-party count-only, Q not a receiver: |P\' ∩ Q\'| is computable from the count opening, and no value or label', async () => {
    const s = await runScenario({ collaboration: buildCollaboration({ receivers: [PUBLISHER] }), sql: COUNT_SQL, querier: PUBLISHER, data });
    expect(s.Q.outcome).toMatchObject({ kind: 'released', receivers: [PUBLISHER] });
    expect(kinds(s.Q.received).filter((k) => k === 'open:values' || k === 'labels')).toEqual([]);
    const n = BigInt(inside(s.P.keys, s.Q.keys).length);
    expect(countsSeenByQ(s)).toEqual([n]);
  });

  it('§7 two-party count-only, Q a receiver: a count under the minimum is computable from the count opening though no result is released', async () => {
    const s = await runScenario({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data: cleanData(range(0, 20), range(18, 40)) });
    expect(s.Q.outcome).toMatchObject({ kind: 'result', result: { rows: [] } });
    expect(countsSeenByQ(s)).toEqual([2n]);
  });
});

describe('§7 two-party aggregate', () => {
  it('§7 two-party aggregate, P: |Q\'| and which of its own keys are in Q\' are computable; Q\'s other keys are not', async () => {
    // P = the advertiser (its table has the GROUP BY and SUM columns), Q = the publisher, whose grant names it.
    const data = cleanData(range(0, 200), range(100, 300));
    const s = await runScenario({ collaboration: buildCollaboration(), sql: AGG_SQL, querier: ADVERTISER, data });
    expect(s.P.member).toBe(ADVERTISER);
    const common = inside(s.P.keys, s.Q.keys);
    expect(pointHexes(streamOf(s.P.received, 'q'))).toHaveLength(s.Q.keys.length);
    // From the wire alone: the returned points come in P's order, so position i matches exactly when P's i-th key
    // is in Q'. This is the grant, and it is what the node hands its table to aggregate.
    expect(matchedPositions(s).map((i) => s.P.keys[i]!)).toEqual(common);
    expect(s.P.matchedIndices!.map((i) => s.P.keys[i]!)).toEqual(common);
    const found = computableOverlaps(
      s.group,
      { 'own H(p)': s.hash(s.P.keys), 'guessed H(k)': s.hash(outside(s.Q.keys, s.P.keys)), q: streamOf(s.P.received, 'q'), pq: streamOf(s.P.received, 'pq') },
      [secretOf(s.P.secretBytes)],
    );
    expect(found).toEqual({ 'q ~ pq': common.length });
  });

  it('§7 two-party aggregate, P: the disclosed set is narrowed only by the filters the grant lists', async () => {
    // The publisher's people 0-199, campaigns in turn: P learns which of its keys are among the spring ones only.
    const data = cleanData(range(0, 200), range(100, 300));
    const sql = AGG_SQL.replace(' GROUP BY', " WHERE p.campaign = 'spring' GROUP BY");
    const s = await runScenario({ collaboration: buildCollaboration(), sql, querier: ADVERTISER, data });
    const spring = (data[PUBLISHER] as Row[]).filter((r) => r.campaign === 'spring').map((r) => r.email as string);
    expect(s.Q.keys).toEqual(spring);
    expect(matchedPositions(s).map((i) => s.P.keys[i]!)).toEqual(inside(s.P.keys, spring));
    const everyone = (data[PUBLISHER] as Row[]).map((r) => r.email as string);
    expect(inside(s.P.keys, spring).length).toBeLessThan(inside(s.P.keys, everyone).length);
    // A grant without filters refuses the same narrowing (test/scenario/rules.test.ts has every case).
    const bare = buildCollaboration({ overlapDisclosure: { publisher: [ADVERTISER] } }).manifest;
    await expect(plan(sql, bare, ADVERTISER)).rejects.toMatchObject({ code: 'RULE_VIOLATION', rule: 'publisher.rules.overlapDisclosure' });
  });

  /** The advertiser's customers 0-25, all known to the publisher: books 5, garden 6, toys 7, music 8 distinct keys. */
  function groupedData(): Dataset {
    const sizes = [5, 6, 7, 8];
    const adv: Row[] = [];
    let person = 0;
    sizes.forEach((n, c) => {
      for (let i = 0; i < n; i++, person++) adv.push({ email: emailOf(person), amount: `${person}.50`, category: CATEGORIES[c]!, items: 1, age: 30 });
    });
    for (let p = 100; p < 120; p++) adv.push({ email: emailOf(p), amount: '1.00', category: 'books', items: 1, age: 30 });
    const pub = cleanData(range(0, 60), [])[PUBLISHER]!;
    return { [PUBLISHER]: pub, [ADVERTISER]: adv };
  }

  it('§7 two-party aggregate, Q: |P\'|, the number of groups and their distinct-key counts without labels, in an order drawn per query; no match, value or label', async () => {
    const data = groupedData();
    const runs: Scenario[] = [];
    for (let i = 0; i < 6; i++) runs.push(await runScenario({ collaboration: buildCollaboration({ receivers: [ADVERTISER] }), sql: AGG_SQL, querier: ADVERTISER, data }));
    const orders: string[] = [];
    const sumShares = new Map<bigint, Set<bigint>>();
    for (const s of runs) {
      expect(s.Q.member).toBe(PUBLISHER);
      expect(pointHexes(streamOf(s.Q.received, 'p'))).toHaveLength(s.P.keys.length);
      // What a non-receiving Q gets besides P's points: its shares and P's count shares. No value, no label.
      expect([...new Set(kinds(s.Q.received))].sort()).toEqual(['open:counts', 'points-end:p', 'points:p', 'shares']);
      const counts = countsSeenByQ(s);
      expect([...counts].sort()).toEqual([5n, 6n, 7n, 8n]);
      orders.push(counts.join(','));
      // Q's share of each group's sum (identified here by its count): a fresh uniform share in every run.
      const shares = s.Q.received.find((m) => m.type === 'shares')!;
      const held = ringValuesOf([shares], 'shares');
      const width = shares.type === 'shares' ? shares.width : 0;
      counts.forEach((c, g) => {
        const seen = sumShares.get(c) ?? new Set();
        seen.add(held[g * width + 2]!);
        sumShares.set(c, seen);
      });
      // Nothing links P's points to Q's own keys or to keys it might guess.
      expect(computableOverlaps(s.group, { 'own H(q)': s.hash(s.Q.keys), 'guessed H(k)': s.hash(outside(s.P.keys, s.Q.keys)), p: streamOf(s.Q.received, 'p') }, [secretOf(s.Q.secretBytes)])).toEqual({});
    }
    // The order of the groups is drawn per query: six identical queries all in one order has probability 24^-5.
    expect(new Set(orders).size).toBeGreaterThan(1);
    for (const seen of sumShares.values()) expect(seen.size).toBe(runs.length);
    // Across two queries, P's points under two secrets have nothing in common, whatever Q raises them to.
    const [r1, r2] = runs;
    const across = computableOverlaps(r1!.group, { 'p, query 1': streamOf(r1!.Q.received, 'p'), 'p, query 2': streamOf(r2!.Q.received, 'p') }, [secretOf(r1!.Q.secretBytes), secretOf(r2!.Q.secretBytes)]);
    expect(across).toEqual({});
  });
});

describe('§7 two-party aggregate, a receiving Q', () => {
  /**
   * Fourteen categories; category c has 5 + c customers (all known to the publisher), five of whom have an amount of
   * 1.00 and the rest NULL: every released value (SUM 5.00 over 5 non-null rows) is the same, so nothing but the
   * order of the messages could pair a label with the distinct-key count Q reconstructs.
   */
  function manyGroups(): Dataset {
    const adv: Row[] = [];
    let person = 0;
    for (let c = 0; c < 14; c++) {
      for (let i = 0; i < 5 + c; i++, person++) adv.push({ email: emailOf(person), amount: i < 5 ? '1.00' : null, category: `cat${String(c).padStart(2, '0')}`, items: 1, age: 30 });
    }
    return { [PUBLISHER]: cleanData(range(0, person), [])[PUBLISHER]!, [ADVERTISER]: adv };
  }

  it('§7 two-party aggregate, Q a receiver: the counts it reconstructs come in an order unrelated to the released labels', async () => {
    const sql = 'SELECT a.category, SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
    const s = await runScenario({ collaboration: buildCollaboration(), sql, querier: ADVERTISER, data: manyGroups() });
    expect(s.Q.member).toBe(PUBLISHER);
    const labels = s.Q.received.find((m) => m.type === 'labels');
    if (labels?.type !== 'labels') throw new Error('Q received no labels');
    const counts = countsSeenByQ(s);
    expect([...counts].sort((a, b) => Number(a - b))).toEqual(range(5, 19).map(BigInt));
    expect(s.Q.outcome).toMatchObject({ kind: 'result' });
    if (s.Q.outcome?.kind === 'result') expect(s.Q.outcome.result.rows.every((r) => r[1] === '5.00')).toBe(true);
    // Q's best pairing: the i-th released label with the count at the i-th position that met the minimum (every group
    // did). Counts and values are dealt in two independent orders drawn per query, so this pairing is right for all
    // fourteen with probability 1/14! ≈ 1.1e-11; with one order (the old dealing) it always was.
    const truth = (label: string) => BigInt(5 + Number(label.slice(3)));
    const right = labels.labels.filter((l, i) => counts[i] === truth(l[0] as string)).length;
    expect(labels.labels).toHaveLength(14);
    expect(right).toBeLessThan(14);
  });
});

describe('§7 two-party, any', () => {
  it('§7 two-party, a receiver that is neither: it takes no part, so it receives nothing (results to receivers outside a join are §9)', async () => {
    const data = cleanData(range(0, 40), range(20, 60));
    const collaboration = buildCollaboration({ receivers: [ADVERTISER, AUDITOR] });
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data });
    expect((await plan(AGG_SQL, collaboration.manifest, ADVERTISER)).members).not.toContain(AUDITOR);
    // Each machine talks to its one peer: nothing is ever addressed to the auditor.
    expect(s.P.machine.peers).toEqual([PUBLISHER]);
    expect(s.Q.machine.peers).toEqual([ADVERTISER]);
    expect(s.P.outcome?.kind).toBe('result');
    expect(s.Q.outcome).toMatchObject({ kind: 'released' });
  });
});

describe('§7 every flow, a network observer', () => {
  /** Every frame's padded plaintext length (what the sealed frame's length follows), with its direction. */
  const observed = (s: Scenario) => s.wire.map((w) => `${w.from}${pad(w.msg.type, encodeFrame(w.msg)).length}`);
  const run = (sql: string, querier: string, publisher: number, advertiser: number) =>
    runScenario({
      collaboration: buildCollaboration({ categoryValues: CATEGORIES }),
      sql,
      querier,
      // The first 100 people in both tables, the rest apart: four groups of 25 matched keys whatever the sizes.
      data: cleanData([...range(0, 100), ...range(10_000, 10_000 + publisher - 100)], [...range(0, 100), ...range(20_000, 20_000 + advertiser - 100)]),
      batchKeys: PSI_BATCH_KEYS,
      feed: 'first',
    });

  it('§7 every flow, a network observer: set sizes within one 4,096-key batch give the same frame lengths in the same order', async () => {
    for (const [sql, querier] of [
      [COUNT_SQL, PUBLISHER],
      [AGG_SQL, ADVERTISER],
    ] as const) {
      const small = await run(sql, querier, 120, 150);
      const large = await run(sql, querier, 3000, 2500);
      expect(small.P.outcome?.kind).toBe('result');
      expect(observed(small)).toEqual(observed(large));
      // One key more than a batch shows: the observer learns the size to the batch, as the line says.
      const over = await run(sql, querier, PSI_BATCH_KEYS + 1, 150);
      expect(observed(over)).not.toEqual(observed(small));
    }
  });
});
