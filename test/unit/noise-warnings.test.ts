import { describe, expect, it } from 'vitest';
import type { PrivacyPolicy } from '../../src/manifest/schema.js';
import { noisePlan, noiseAdders } from '../../src/query/noise.js';
import { previewWarnings, resultWarnings } from '../../src/query/noise-warnings.js';
import type { QueryPlan } from '../../src/query/plan.js';
import { AGG_SQL, ADVERTISER, buildCollaboration, plan } from '../support/collaboration.js';

/** The README's example policy; test/support/collaboration.ts declares the README's amount bounds, ±100,000. */
const README_POLICY: PrivacyPolicy = { epsilon: 0.5, delta: 1e-7, maxRowsPerKey: 4, budget: { epsilon: 10, refresh: 'month' } };

const both = (policy: PrivacyPolicy) => buildCollaboration({ categoryValues: ['a', 'b'], minDistinctKeys: { publisher: 50, advertiser: 50 }, privacy: { advertiser: policy, publisher: policy } }).manifest;

async function warned(sql: string, policy: PrivacyPolicy) {
  const p = await plan(sql, both(policy), ADVERTISER);
  return { plan: p, warnings: previewWarnings(p, noisePlan(p, noiseAdders(p))!) };
}

describe('noise warnings before a query runs (the preview)', () => {
  it("the README's bounds and policy: the count, the SUM and the AVG of a GROUP BY are each noisier than the smallest group they may describe", async () => {
    const { warnings } = await warned(AGG_SQL, README_POLICY);
    expect(warnings.map((w) => [w.output, w.code])).toEqual([
      ['count', 'NOISE_WIDER_THAN_VALUE'],
      ['sum_amount', 'NOISE_WIDER_THAN_VALUE'],
      ['avg_amount', 'NOISE_WIDER_THAN_RANGE'],
    ]);
    const avg = warnings[2]!.message;
    expect(avg).toMatch(/^avg_amount: noisy sum ±[\d,.]+ over noisy count ±\d+ at 95%: over fewer than [\d,]+ rows its interval spans more than half of amount's declared range \[-100,000, 100,000\] \(groups are released from 50\): /);
    // What would help, each where it applies: the bounds, the three opened values sharing ε, ε, the GROUP BY.
    expect(avg).toMatch(/: declare tighter bounds, ask fewer values \(3 share ε\), raise ε \(now 0\.5\) or group by fewer or coarser columns$/);
    // A count's noise does not depend on any bound: that remedy is not offered for it.
    expect(warnings[0]!.message).toMatch(/^count: ±\d+ at 95%, more than the smallest group released \(50\): a count under \d+ is mostly noise: ask fewer values/);
    expect(warnings[0]!.message).not.toContain('bounds');
  });

  it('without GROUP BY the remedy of coarser groups is not offered', async () => {
    const { warnings } = await warned('SELECT AVG(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', README_POLICY);
    expect(warnings.map((w) => w.code)).toEqual(['NOISE_WIDER_THAN_RANGE']);
    expect(warnings[0]!.message).not.toContain('group by');
  });

  it('a count alone at a larger ε, and the same GROUP BY of a narrow column, warn of nothing', async () => {
    expect((await warned('SELECT COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email', { ...README_POLICY, epsilon: 2 })).warnings).toEqual([]);
    expect((await warned('SELECT a.category, COUNT(*), SUM(a.items) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category', { ...README_POLICY, epsilon: 8, maxRowsPerKey: 1 })).warnings).toEqual([]);
  });
});

describe('noise warnings of a released result (its intervals)', () => {
  let p: QueryPlan;
  const privacy = (intervals: (readonly [string | number, string | number] | null)[][]) => ({ epsilon: '0.5', delta: '1/10000000', confidence: 0.95, intervals });

  it("an AVG whose interval is the whole declared range, as the README's example gave, and a SUM smaller than its noise", async () => {
    p = (await warned(AGG_SQL, README_POLICY)).plan;
    const rows = [
      ['a', 300, '24000.00', '-14173.000000'],
      ['b', 5000, '30000000.00', '6000.000000'],
    ];
    const intervals = [
      [null, [100, 500], ['-19938005.23', '19986005.23'], ['-100000.000000', '100000.000000']],
      [null, [4800, 5200], ['10037994.77', '49962005.23'], ['5100.000000', '6900.000000']],
    ] as const;
    const warnings = resultWarnings(p, { rows, privacy: privacy(intervals.map((r) => [...r])) });
    expect(warnings).toEqual([
      { code: 'NOISE_WIDER_THAN_VALUE', output: 'sum_amount', message: 'sum_amount: in 1 of 2 groups the noise (up to ±19,962,005.23 at 95%) exceeds the sum itself: declare tighter bounds, ask fewer values (3 share ε), raise ε (now 0.5) or group by fewer or coarser columns' },
      { code: 'NOISE_WIDER_THAN_RANGE', output: 'avg_amount', message: "avg_amount: in 1 of 2 groups the interval spans more than half of amount's declared range [-100,000, 100,000] (all of it): declare tighter bounds, ask fewer values (3 share ε), raise ε (now 0.5) or group by fewer or coarser columns" },
    ]);
  });

  it('counts cut at zero, and intervals narrower than their values, warn only where the noise outweighs the value', async () => {
    p = (await warned(AGG_SQL, README_POLICY)).plan;
    const rows = [['a', 120, '30000000.00', '6000.000000'], ['b', 6000, '30000000.00', '6000.000000']];
    // The first count is 120 ± 200, cut at zero: [0, 320]. An AVG interval of exactly half the range is not warned of.
    const intervals = [
      [null, [0, 320], ['10037994.77', '49962005.23'], ['-44000.000000', '56000.000000']],
      [null, [5800, 6200], ['10037994.77', '49962005.23'], ['5100.000000', '6900.000000']],
    ];
    const warnings = resultWarnings(p, { rows, privacy: privacy(intervals as never) });
    expect(warnings.map((w) => [w.output, w.message.split(':')[1]])).toEqual([['count', ' in 1 of 2 groups the noise (up to ±200 at 95%) exceeds the count itself']]);
  });

  it('an exact result warns of nothing', async () => {
    p = (await warned(AGG_SQL, README_POLICY)).plan;
    expect(resultWarnings(p, { rows: [['a', 3, '1.00', '0.333333']] })).toEqual([]);
  });
});
