import { describe, expect, it } from 'vitest';
import { QuerySecret } from '../../src/crypto/secret.js';
import { ProtocolViolation } from '../../src/errors.js';
import { noisePlan, noiseAdders } from '../../src/query/noise.js';
import { ADVERTISER, PUBLISHER, TEST_POLICY, buildCollaboration, plan } from '../support/collaboration.js';
import { CAMPAIGNS, CATEGORIES, emailOf, makeData, type Dataset, type Row } from '../support/datasets.js';
import { computableOverlaps, pointHexes, streamOf } from '../support/curious.js';
import { expectedResult, sortRows } from '../support/expected-result.js';
import { backendNames, failure, runScenario, type Scenario } from './harness.js';

/**
 * SPEC §4.6: GROUP BY the partner's dimensions. The partner Q cuts its filtered key set by their labels, blinds each
 * part under a secret of its own and returns P's stream raised to each; P learns, for each of its keys, the parts it
 * is in, and the size of Q's parts together. Results against the plaintext oracle, the §7 line played by P, the
 * layout of the returned stream enforced, and the noise scaled under a policy.
 */

const PER_CAMPAIGN = `SELECT p.campaign, a.category, COUNT(*), SUM(a.amount), AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY p.campaign, a.category`;
const collaboration = () => buildCollaboration({ campaignValues: CAMPAIGNS, categoryValues: CATEGORIES });
const messy = makeData({ seed: 19, publisherPeople: [0, 90], advertiserPeople: [30, 140], publisherRows: 200, advertiserRows: 160 });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function expectOracle(s: Scenario): void {
  const expected = expectedResult(s.P.plan, s.options.data);
  for (const party of [s.P, s.Q]) {
    if (party.outcome?.kind !== 'result') throw new Error(`${party.role}: ${JSON.stringify(party.outcome)}`);
    expect(party.outcome.result.columns).toEqual(expected.columns);
    expect(sortRows(party.outcome.result.rows)).toEqual(expected.rows);
  }
  // A result the oracle leaves empty would check nothing.
  expect(expected.rows.length).toBeGreaterThan(1);
}

describe.each(backendNames())('GROUP BY the partner\'s dimension on the %s backend', (backend) => {
  it('purchases per campaign and category, asked by the aggregating member, equal the oracle\'s; every secret is zeroed', async () => {
    const s = await runScenario({ collaboration: collaboration(), sql: PER_CAMPAIGN, querier: ADVERTISER, data: messy, backend, batchKeys: 7 });
    expect(s.P.member).toBe(ADVERTISER);
    // A part per declared campaign, and one for a NULL campaign (the column is not required).
    expect(s.Q.parts).toHaveLength(CAMPAIGNS.length + 1);
    expectOracle(s);
    expect(s.P.secret.isZeroed && s.Q.secret.isZeroed).toBe(true);
  });

  it('asked by the partner, its dimension first, narrowed by its own filter: equal the oracle\'s', async () => {
    const sql = `SELECT p.campaign, COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign IN ('spring', 'winter') AND a.category <> 'toys' GROUP BY p.campaign`;
    const s = await runScenario({ collaboration: collaboration(), sql, querier: PUBLISHER, data: messy, backend });
    expect(s.P.member).toBe(ADVERTISER);
    expectOracle(s);
  });
});

describe('§7 two-party aggregate by the partner\'s dimension, P', () => {
  // The publisher's people 0-199, each seen in two campaigns (i and i+1 in turn); the advertiser's people 100-299.
  const data: Dataset = {
    [PUBLISHER]: range(0, 200).flatMap((p) => [0, 1].map((k): Row => ({ email: emailOf(p), campaign: CAMPAIGNS[(p + k) % 4]!, impressions: 1, region: 'eu' }))),
    [ADVERTISER]: range(100, 300).map((p): Row => ({ email: emailOf(p), amount: '1.00', category: CATEGORIES[p % 4]!, items: 1, age: 30 })),
  };

  it('§7 P: for each own key, the campaigns it is in, and the total size of Q\'s parts are computable; nothing links Q\'s points of one person across parts', async () => {
    const s = await runScenario({ collaboration: collaboration(), sql: PER_CAMPAIGN, querier: ADVERTISER, data });
    const q = streamOf(s.P.received, 'q');
    // Every publisher person is in two parts: 400 points, as one shuffled stream whose parts P cannot tell apart.
    expect(pointHexes(q)).toHaveLength(400);
    expect(new Set(pointHexes(q)).size).toBe(400);
    // What P learns is the per-campaign overlap: each of its keys with the campaigns it was seen in.
    const seen = new Map<string, Set<string>>();
    for (const r of data[PUBLISHER]!) seen.set(r.email as string, new Set([...(seen.get(r.email as string) ?? []), r.campaign as string]));
    const labels = s.P.plan.mode === 'aggregate' ? s.P.plan.partnerGroups!.labels : [];
    const learnt = s.P.matchedIndices!.map((i, at) => `${s.P.keys[i]} ${labels[s.P.matchedParts![at]!]![0]}`).sort();
    const granted = s.P.keys.flatMap((k) => [...(seen.get(k) ?? [])].map((v) => `${k} ${v}`)).sort();
    expect(learnt).toEqual(granted);
    expect(granted).toHaveLength(200);
    // Raised to P's secret, Q's stream meets the returned one exactly at those (key, campaign) pairs; no guess of Q's
    // other keys, nor P's own hashes, meets anything: under DDH nothing else links two points.
    const outside = range(0, 100).map(emailOf);
    const found = computableOverlaps(
      s.group,
      { 'own H(p)': s.hash(s.P.keys), 'guessed H(k)': s.hash(outside), q, pq: streamOf(s.P.received, 'pq') },
      [QuerySecret.fromBytes(s.P.secretBytes)],
    );
    expect(found).toEqual({ 'q ~ pq': 200 });
    // With one secret for every part, a person in two campaigns would show as two equal points of q raised to a:
    // here the parts' secrets differ, so even Q's own points of one person never coincide.
    const [b0, b1] = s.Q.partSecretBytes!.map((b) => QuerySecret.fromBytes(b));
    const k = s.hash([emailOf(0)]);
    expect(Buffer.from(s.group.blind(b0!, k)).equals(Buffer.from(s.group.blind(b1!, k)))).toBe(false);
  });
});

describe('§7 two-party aggregate by the partner\'s dimension, Q', () => {
  it('§7 Q: |P\'| is computable; which of P\'s keys are in any of its parts is not, whatever secret of its own it applies', async () => {
    const data: Dataset = {
      [PUBLISHER]: range(0, 200).map((p): Row => ({ email: emailOf(p), campaign: CAMPAIGNS[p % 4]!, impressions: 1, region: 'eu' })),
      [ADVERTISER]: range(100, 300).map((p): Row => ({ email: emailOf(p), amount: '1.00', category: CATEGORIES[p % 4]!, items: 1, age: 30 })),
    };
    const s = await runScenario({ collaboration: collaboration(), sql: PER_CAMPAIGN, querier: ADVERTISER, data });
    expect(s.Q.member).toBe(PUBLISHER);
    // The p stream: P's 200 keys, nothing else about them.
    expect(pointHexes(streamOf(s.Q.received, 'p'))).toHaveLength(200);
    const secrets = [s.Q.secretBytes, ...s.Q.partSecretBytes!].map((b) => QuerySecret.fromBytes(b));
    // Q raised to each of its secrets, alone or with another, meets P's points nowhere: P's stream is H(p)^a, and a
    // is P's alone. (Its own keys hashed and its guesses of P's: both are plain H(k).)
    for (const b of secrets) {
      const found = computableOverlaps(s.group, { 'own H(q)': s.hash(s.Q.keys), 'guessed H(p)': s.hash(range(100, 300).map(emailOf)), p: streamOf(s.Q.received, 'p') }, [b]);
      expect(found).toEqual({ 'own H(q) ~ guessed H(p)': 100 });
    }
  });
});

describe('the returned stream\'s layout (SPEC §4.6)', () => {
  it('a returned batch shorter than the batch it answers is a protocol violation before anything is dealt', async () => {
    const s = await runScenario({
      collaboration: collaboration(),
      sql: PER_CAMPAIGN,
      querier: ADVERTISER,
      data: messy,
      batchKeys: 10,
      intercept: ({ from, msg }) => (from === 'Q' && msg.type === 'points' && msg.stage === 'pq' && msg.seq === 2 ? [{ ...msg, points: msg.points.subarray(32) }] : undefined),
    });
    const err = failure(s.P);
    expect(err).toBeInstanceOf(ProtocolViolation);
    expect((err as ProtocolViolation).reason).toBe('bad-count');
    expect(err.message).toMatch(/returned batch 2 holds \d+ points for a batch of \d+/);
    expect(s.P.sent.some((m) => m.type === 'shares')).toBe(false);
  });

  it('a part left out is a count the end marker cannot meet', async () => {
    const s = await runScenario({
      collaboration: collaboration(),
      sql: PER_CAMPAIGN,
      querier: ADVERTISER,
      data: messy,
      intercept: ({ from, msg }, sc) => {
        if (from !== 'Q' || msg.type !== 'points' || msg.stage !== 'pq') return undefined;
        // Only part 0 of each batch goes out, renumbered: the stream is consistent but holds a quarter of the points.
        if (msg.seq % 4 !== 0) return [];
        return [{ ...msg, seq: msg.seq / 4 }];
      },
    });
    const err = failure(s.P);
    expect((err as ProtocolViolation).reason).toBe('bad-count');
  });
});

describe('under a privacy policy', () => {
  it('Q keeps at most maxRowsPerKey parts per key, pads its set, and the noise scales with that many parts', async () => {
    const c = buildCollaboration({ campaignValues: CAMPAIGNS, categoryValues: CATEGORIES, privacy: { publisher: TEST_POLICY, advertiser: TEST_POLICY } });
    const withParts = await plan(PER_CAMPAIGN, c.manifest, ADVERTISER);
    const without = await plan(PER_CAMPAIGN.replace('p.campaign, a.category', 'a.category').replace('p.campaign, a.category', 'a.category'), c.manifest, ADVERTISER);
    expect(withParts.mode === 'aggregate' && withParts.partnerGroups?.perKey).toBe(TEST_POLICY.maxRowsPerKey);
    expect(withParts.mode === 'aggregate' && withParts.domain).toHaveLength((CAMPAIGNS.length + 1) * (CATEGORIES.length + 1));
    const a = noisePlan(withParts, noiseAdders(withParts))!;
    const b = noisePlan(without, noiseAdders(without))!;
    // One person's rows move up to perKey times as many groups: every sensitivity is that many times larger.
    for (const [i, c0] of a.columns.entries()) expect(c0.sensitivity).toBe(b.columns[i]!.sensitivity * BigInt(TEST_POLICY.maxRowsPerKey));
    expect(a.padding!.shift).toBeGreaterThan(b.padding!.shift);
  });
});
