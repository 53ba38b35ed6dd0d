import { describe, expect, it } from 'vitest';
import { osRandom } from '../../src/dp/random-source.js';
import { Manifest as ManifestSchema } from '../../src/manifest/schema.js';
import { CATEGORIES } from '../../scripts/demo-data.js';
import { DEMO_DP_SQL, DEMO_TABLES } from '../../scripts/demo-tables.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type QueryPlan } from '../../src/query/plan.js';
import { errorBound, noisePlan } from '../../src/query/noise.js';
import { ROWS } from '../../src/query/group-vector.js';
import type { GroupAggregate, QueryResult } from '../../src/query/result.js';
import { pairRelease } from '../support/pair-release.js';

/**
 * The demo's differentially private query (scripts/demo.ts: ε = 1, δ = 1e-7, 4 rows per person, amounts in
 * [-100, 600] declared required), released many times by the two members' Release machines in this process: its
 * count interval is at most ±45 (issue 17; the tail bounds of before gave ±143), and the stated 95% intervals hold
 * the exact values as often as they say.
 */
async function demoPlan(): Promise<QueryPlan> {
  const manifest = ManifestSchema.parse({
    format: 'cleanroom-manifest/1',
    collaborationId: 'demo-intervals',
    name: 'demo',
    version: 1,
    members: ['publisher', 'advertiser'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7300 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: DEMO_TABLES,
    queriers: ['advertiser'],
    receivers: ['publisher', 'advertiser'],
  });
  return planQuery(await parseQuery(DEMO_DP_SQL), manifest, 'advertiser');
}

/** The exact per-group vectors [rows, distinct keys, sum in cents, non-null count], about the demo's sizes. */
const EXACT: GroupAggregate[] = CATEGORIES.map((c, i) => {
  const rows = 1850n + 20n * BigInt(i);
  return { labels: [c], values: [rows, (rows * 3n) / 4n, rows * 23_750n, rows] };
});

/** One release of EXACT: the advertiser deals, both add their noise, the publisher (a receiver) gets the result. */
const release = (plan: QueryPlan): QueryResult => pairRelease(plan, { dealer: 'advertiser', other: 'publisher' }, EXACT, { dealer: osRandom, other: osRandom });

describe('the demo\'s DP query (issue 17)', () => {
  it('states a count interval of at most ±45 at ε = 1', async () => {
    const noise = noisePlan(await demoPlan(), 2)!;
    expect(noise.thresholdColumn).toBe(ROWS);
    expect(errorBound(noise, ROWS)).toBeLessThanOrEqual(45n);
  });

  /*
   * 2,500 releases of ten groups: 25,000 intervals per output column, each holding its exact value with probability
   * at least 0.95 independently (every group of every run has its own noise). Fewer than 94% of them holding has
   * probability at most e^(-25000 KL(0.94 || 0.95)) = e^(-24.8) = 1.7e-11 per column by Chernoff's bound, 5e-11 for
   * the three columns. Every group, 1850 rows or more, passes the threshold of about 365 noisy rows except with
   * probability far below 1e-12.
   */
  it('holds the exact values in at least 94% of 25,000 intervals per column (95% in expectation)', async () => {
    const plan = await demoPlan();
    const inside = [0, 0, 0];
    let cells = 0;
    for (let run = 0; run < 2500; run++) {
      const result = release(plan);
      expect(result.rows).toHaveLength(CATEGORIES.length);
      result.rows.forEach((row, g) => {
        const exact = EXACT.find((e) => e.labels[0] === row[0])!.values;
        const truth = [Number(exact[0]), Number(exact[2]) / 100, Number(exact[2]) / Number(exact[3]) / 100];
        [1, 2, 3].forEach((c, i) => {
          const [lo, hi] = result.privacy!.intervals[g]![c]!;
          if (Number(lo) <= truth[i]! + 1e-9 && truth[i]! - 1e-9 <= Number(hi)) inside[i]! += 1;
        });
        cells += 1;
      });
    }
    expect(cells).toBe(25_000);
    for (const n of inside) expect(n / cells).toBeGreaterThanOrEqual(0.94);
  });
});
