import { PSI_BATCH_KEYS } from '../../src/limits.js';
import { describe, expect, it } from 'vitest';
import { sampleNoise } from '../../src/dp/mechanism.js';
import { osRandom, seededRandom } from '../../src/dp/random-source.js';
import { toNumber } from '../../src/dp/rational.js';
import { noisePlan, type NoisePlan } from '../../src/query/noise.js';
import type { QueryPlan } from '../../src/query/plan.js';
import type { GroupAggregate, QueryResult } from '../../src/query/result.js';
import { addedCount } from '../../src/session/dummy-matches.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, TEST_POLICY, buildCollaboration, plan as planOf } from '../support/collaboration.js';
import { CATEGORIES, cleanData, makeData } from '../support/datasets.js';
import type { SessionMessage } from '../../src/wire/messages.js';
import { Scenario, failure, runScenario, type Interceptor } from './harness.js';
import { pairRelease } from '../support/pair-release.js';

/**
 * Differential privacy played by the curious member (SPEC §10): the differencing attack that thresholds alone cannot
 * stop, and the count-only flow's dummy matches, each repeated in this process many times.
 */
const EPSILON = TEST_POLICY.epsilon;
/** The best any test can do against ε-DP: guess right with probability e^ε / (1 + e^ε). */
const BEST_GUESS = Math.exp(EPSILON) / (1 + Math.exp(EPSILON));

/** The two queries of the attack: they differ by exactly the people who saw only the autumn campaign. */
const BOTH = "SELECT COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email WHERE p.campaign IN ('spring', 'autumn')";

async function attackPlan(privacy: boolean): Promise<QueryPlan> {
  const { manifest } = buildCollaboration(privacy ? { privacy: { advertiser: TEST_POLICY } } : {});
  // The publisher asks: the advertiser aggregates its matched rows, both hold shares, both receive the result.
  return planOf(BOTH, manifest, PUBLISHER);
}

/** One two-party release (advertiser deals, both hold and receive), the publisher's noise drawn from `seed`. */
function release(plan: QueryPlan, dealt: GroupAggregate, seed: string): QueryResult {
  return pairRelease(plan, { dealer: ADVERTISER, other: PUBLISHER }, [dealt], { dealer: osRandom, other: seededRandom(seed) });
}

/** The publisher's own noise, as it knows it: the same draws from its own seed, in the order Release makes them. */
function ownNoise(noise: NoisePlan, seed: string): Map<number, bigint> {
  const random = seededRandom(seed);
  return new Map(noise.columns.map((c) => [c.column, sampleNoise(c.mechanism, random)]));
}

/** [rows, distinct keys, sum of amount in cents, non-null amounts]: everyone else's rows, known to the attacker. */
const REST = [400n, 300n, 1_234_567n, 380n];
/** The person: two rows (the policy's maxRowsPerKey) at the column's largest amount, so every sensitivity is met. */
const PERSON = [2n, 1n, 2n * 10_000_000n, 2n];

describe('the differencing attack (issue 9): two allowed queries that differ by one person', () => {
  it('without a policy, the difference of the two answers is the person\'s exact total: the attack always wins', async () => {
    const plan = await attackPlan(false);
    const only = release(plan, { labels: [], values: REST }, 'x');
    const both = release(plan, { labels: [], values: REST.map((v, i) => v + PERSON[i]!) }, 'x');
    expect(Number(both.rows[0]![0]) - Number(only.rows[0]![0])).toBe(2);
    expect(Number(both.rows[0]![1]) - Number(only.rows[0]![1])).toBe(200_000);
  });

  it('with ε = 1, the best attacker guesses the person\'s presence no better than e^ε / (1 + e^ε) plus a stated slack', async () => {
    const plan = await attackPlan(true);
    const noise = noisePlan(plan, 2)!;
    const seen = (r: QueryResult, seed: string) => {
      // The publisher sees the opened values (and, at the count stage, the noisy distinct-key count, which carries
      // its own noise too): it removes its own noise and everything it knows, leaving the person plus the
      // advertiser's noise. The result table clamps nothing here (every value stays far from zero).
      const own = ownNoise(noise, seed);
      return { rows: BigInt(r.rows[0]![0] as number) - own.get(0)!, sum: BigInt(Math.round(Number(r.rows[0]![1]) * 100)) - own.get(2)! };
    };
    const scales = new Map(noise.columns.map((c) => [c.column, c.mechanism.kind === 'laplace' ? toNumber(c.mechanism.scale) : NaN]));
    // The likelihood ratio of "present" over "absent" for what it saw: the most powerful test (Neyman-Pearson).
    const logRatio = (v: { rows: bigint; sum: bigint }) => {
      const term = (x: bigint, base: bigint, shift: bigint, scale: number) => (Math.abs(Number(x - base)) - Math.abs(Number(x - base - shift))) / scale;
      return term(v.rows, REST[0]!, PERSON[0]!, scales.get(0)!) + term(v.sum, REST[2]!, PERSON[2]!, scales.get(2)!);
    };
    const TRIALS = 1200;
    let right = 0;
    for (let t = 0; t < TRIALS; t++) {
      const present = t % 2 === 0;
      const seed = `attack-${t}`;
      const r = release(plan, { labels: [], values: present ? REST.map((v, i) => v + PERSON[i]!) : REST }, seed);
      const lr = logRatio(seen(r, seed));
      const guess = lr > 0 || (lr === 0 && t % 4 < 2);
      if (guess === present) right += 1;
    }
    // Slack t: by Hoeffding, the accuracy of TRIALS independent guesses exceeds its expectation (at most BEST_GUESS)
    // by t with probability at most e^(-2·TRIALS·t²) = 1e-9 (the dealer's noise is the OS's, so the run is random).
    // The attacker uses COUNT and SUM; each carries ε/k of the budget.
    const accuracy = right / TRIALS;
    expect(accuracy).toBeLessThanOrEqual(BEST_GUESS + Math.sqrt(Math.log(1e9) / (2 * TRIALS)));
    // And the test can tell: the attack does better than a coin (the noise is not infinite).
    expect(accuracy).toBeGreaterThan(0.5);
  });
});

describe('aggregate DP: what the partner sees of the aggregator\'s table (SPEC §10.2)', () => {
  const data = makeData({ publisherRows: 300, advertiserRows: 300, publisherPeople: [0, 200], advertiserPeople: [100, 300], seed: 11 });
  const collaboration = buildCollaboration({ privacy: { advertiser: TEST_POLICY }, categoryValues: [...CATEGORIES, 'jewels'] });

  it('every declared group is dealt, the empty one included, in an order of the query: the partner learns no group\'s existence', async () => {
    const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, backend: 'sodium' });
    const shares = s.P.sent.find((m) => m.type === 'shares');
    // books, garden, jewels, music, toys and NULL: 'jewels' has no row at all.
    expect(shares).toMatchObject({ groups: 6 });
    // The partner is a receiver: it gets the labels of the groups whose noisy count reached the minimum, declared
    // values all (an empty group can pass on noise: its label says nothing the manifest does not).
    const labels = s.P.sent.find((m) => m.type === 'labels');
    if (labels?.type !== 'labels') throw new Error('no labels for the receiving partner');
    for (const l of labels.labels.flat()) expect([...CATEGORIES, 'jewels', null]).toContain(l);
    if (s.Q.outcome?.kind !== 'result') throw new Error(JSON.stringify(s.Q.outcome));
    expect(s.Q.outcome.result.privacy).toBeDefined();
  });

  it('the aggregator pads its key set with 0 to 2·shift points, a new number each query, in full batches; the answers stay right', async () => {
    const sizes = new Set<number>();
    for (let run = 0; run < 4; run++) {
      const s = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data, backend: 'sodium' });
      // Every batch but the last is full: a short batch followed by more would mark where the real keys end.
      const batches = s.P.sent.flatMap((m) => (m.type === 'points' && m.stage === 'p' ? [m.points.length / 32] : []));
      expect(batches.slice(0, -1).every((n) => n === PSI_BATCH_KEYS)).toBe(true);
      const sent = s.P.sent.reduce((n, m) => n + (m.type === 'points' && m.stage === 'p' ? m.points.length / 32 : 0), 0);
      const padding = sent - s.P.keys.length;
      expect(padding).toBeGreaterThanOrEqual(0);
      expect(padding).toBeLessThanOrEqual(Number(2n * noisePlan(s.P.plan, 2)!.padding!.shift));
      sizes.add(sent);
      // The padding matches nothing: the aggregator aggregated exactly its keys that the publisher has.
      const publisherKeys = new Set(s.Q.keys);
      expect(s.P.matchedIndices!.map((i) => s.P.keys[i]!).every((k) => publisherKeys.has(k))).toBe(true);
      expect(s.P.matchedIndices!.length).toBe(s.P.keys.filter((k) => publisherKeys.has(k)).length);
    }
    expect(sizes.size).toBeGreaterThan(1);
  });

  it('GROUP BY a column without declared values is refused under a policy, before anything runs', async () => {
    await expect(planOf(AGG_SQL, buildCollaboration({ privacy: { advertiser: TEST_POLICY } }).manifest, ADVERTISER)).rejects.toMatchObject({ code: 'RULE_VIOLATION', rule: 'advertiser.columns.category.values' });
  });
});

describe('count-only DP: the aggregator counts dummy matches it cannot tell from real ones', () => {
  const data = cleanData([...Array(60).keys()], [...Array(80).keys()].map((i) => i + 20));

  async function countOnly(intercept?: Interceptor) {
    const collaboration = buildCollaboration({ privacy: { advertiser: TEST_POLICY } });
    return runScenario({ collaboration, sql: COUNT_SQL, querier: PUBLISHER, data, backend: 'sodium', intercept });
  }

  it('the partner always adds 2·shift points to each stream, so their lengths say nothing of how many are dummies', async () => {
    const RUNS = 16;
    const answers = new Set<string>();
    const paddings = new Set<number>();
    const values: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const s = await countOnly();
      const slots = Number(2n * noisePlan(s.P.plan, 2)!.dummies!.shift);
      const count = (from: typeof s.P, stage: string) => from.sent.reduce((n, m) => n + (m.type === 'points' && m.stage === stage ? m.points.length / 32 : 0), 0);
      // The attack of an earlier version: returned points minus points sent was the number of dummies. Now it is
      // the constant number of slots, whatever was drawn.
      expect(count(s.Q, 'pq')).toBe(s.P.keys.length + slots);
      // The advertiser's table has the policy: its own set also carries 0 to 2·shift padding points (SPEC §10.2).
      const padding = count(s.Q, 'q') - s.Q.keys.length - slots;
      expect(padding).toBeGreaterThanOrEqual(0);
      expect(padding).toBeLessThanOrEqual(Number(2n * noisePlan(s.P.plan, 2)!.padding!.shift));
      paddings.add(padding);
      expect(s.P.sent[0]).toMatchObject({ type: 'dummy-base' });
      const result = s.P.outcome?.kind === 'result' ? s.P.outcome.result : undefined;
      expect(result?.privacy?.intervals[0]![0]).toBeDefined();
      answers.add(JSON.stringify(result?.rows));
      values.push(Number(result!.rows[0]![0]));
    }
    // The dummies count as matches and the dealt shift takes them off: the answers sit around |P ∩ Q| = 40; they
    // would sit near 40 - shift if the dummies matched nothing. Each answer carries three noise terms of the
    // distinct-key count's scale (the dummies and two holders' shares), so the mean of RUNS has a standard deviation
    // of sqrt(3 x 2b^2 / RUNS); the bar is half the shift, far more than seven of those deviations away at ε = 1.
    const shift = Number(noisePlan((await countOnly()).P.plan, 2)!.dummies!.shift);
    expect(Math.abs(values.reduce((a, b) => a + b, 0) / values.length - 40)).toBeLessThanOrEqual(shift / 2);
    // Three noise terms of scale 10/9 (ε = 1, a tenth to the padding): no answer is more likely than 0.182
    // (laplaceSumTail), so RUNS answers all alike has probability at most 8e-12 (0.182 to the 15th); the padding
    // count's most likely value has about 0.05, so RUNS paddings all alike, at most 3e-20.
    expect(answers.size).toBeGreaterThan(1);
    expect(paddings.size).toBeGreaterThan(1);
  });

  it('what the aggregator sees, |P ∩ Q| + dummies, is (ε, δ)-DP in one more or one fewer matching key', async () => {
    const plan = noisePlan(await planOf(COUNT_SQL, buildCollaboration({ privacy: { advertiser: TEST_POLICY } }).manifest, PUBLISHER), 2)!;
    const N = 60_000;
    const random = seededRandom('count-only-dp');
    const with0 = new Map<number, number>();
    const with1 = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const a = addedCount(plan.dummies!, random);
      with0.set(a, (with0.get(a) ?? 0) + 1);
      const b = addedCount(plan.dummies!, random) + 1;
      with1.set(b, (with1.get(b) ?? 0) + 1);
    }
    // Where both outcomes are well sampled (>= 400 each: relative error of a bin about 5%), their frequency ratio
    // stays within e^ε, up to three times the sampling error of the ratio.
    for (const [x, c0] of with0) {
      const c1 = with1.get(x) ?? 0;
      if (c0 < 400 || c1 < 400) continue;
      const slack = 3 * Math.sqrt(1 / c0 + 1 / c1);
      expect(Math.abs(Math.log(c0 / c1))).toBeLessThanOrEqual(EPSILON + slack);
    }
    // The clamp is where δ goes: zero dummies is (nearly) never drawn.
    expect(with0.get(0) ?? 0).toBeLessThanOrEqual(2);
  });

  it('a partner that never receives the dummy base refuses the end of the aggregator\'s set', async () => {
    const s = await countOnly((f) => (f.msg.type === 'dummy-base' ? [] : undefined));
    expect(failure(s.Q)).toMatchObject({ code: 'PROTOCOL_VIOLATION', reason: 'wrong-round' });
  });

  it('a dummy base sent twice, or after the aggregator\'s points, is refused', async () => {
    const twice = await countOnly((f) => (f.msg.type === 'dummy-base' ? [f.msg, f.msg] : undefined));
    expect(failure(twice.Q)).toMatchObject({ reason: 'repeated-message' });
    let held: SessionMessage | undefined;
    const late = await countOnly((f) => {
      if (f.msg.type === 'dummy-base') {
        held = f.msg;
        return [];
      }
      if (f.msg.type === 'points' && f.msg.stage === 'p' && held) {
        const m = held;
        held = undefined;
        return [f.msg, m];
      }
      return undefined;
    });
    expect(failure(late.Q)).toMatchObject({ reason: 'wrong-round' });
  });

  it('a small-order dummy base is refused as an invalid point; a dummy base in a query without DP is unexpected', async () => {
    const zero = await countOnly((f) => (f.msg.type === 'dummy-base' ? [{ ...f.msg, point: new Uint8Array(32) }] : undefined));
    expect(failure(zero.Q)).toMatchObject({ code: 'PROTOCOL_VIOLATION' });
    const plain = await Scenario.create({ collaboration: buildCollaboration(), sql: COUNT_SQL, querier: PUBLISHER, data, backend: 'sodium' });
    plain.inject('Q', { type: 'dummy-base', queryId: plain.queryId, point: new Uint8Array(32).fill(9) });
    expect(failure(plain.Q)).toMatchObject({ reason: 'unexpected-message' });
    const toAggregator = await Scenario.create({ collaboration: buildCollaboration({ privacy: { advertiser: TEST_POLICY } }), sql: COUNT_SQL, querier: PUBLISHER, data, backend: 'sodium' });
    toAggregator.inject('P', { type: 'dummy-base', queryId: toAggregator.queryId, point: new Uint8Array(32).fill(9) });
    expect(failure(toAggregator.P)).toMatchObject({ reason: 'unexpected-message' });
  });

  it('more returned points than the aggregator sent plus the most dummies there can be is refused', async () => {
    const s = await countOnly((f, sc) => {
      if (f.msg.type !== 'points-end' || f.msg.stage !== 'pq') return undefined;
      return [{ ...f.msg, count: sc.P.keys.length + 10_000 }];
    });
    expect(failure(s.P)).toMatchObject({ reason: 'bad-count' });
  });
});
