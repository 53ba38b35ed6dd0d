/**
 * HAVING, ORDER BY, LIMIT and OFFSET through both parties of a query in this process: every receiver shows the
 * plaintext oracle's rows in the oracle's order, and the groups opened, and to whom, are those of the same query
 * without the clauses (SPEC §5, §7).
 */
import { describe, expect, it } from 'vitest';
import { answerQuery, type PlaintextAnswer } from '../../scripts/plaintext/answer.js';
import { parseQuery } from '../../src/query/parse.js';
import type { QueryResult } from '../../src/query/result.js';
import type { SessionMessage } from '../../src/wire/messages.js';
import { ADVERTISER, AGG_SQL, COUNT_SQL, PUBLISHER, TEST_POLICY, buildCollaboration, type Collaboration } from '../support/collaboration.js';
import { CATEGORIES, makeData } from '../support/datasets.js';
import { runScenario, type Party } from './harness.js';

const data = makeData({ seed: 11, publisherPeople: [0, 90], advertiserPeople: [45, 140], publisherRows: 120, advertiserRows: 130 });
const FROM = 'FROM advertiser a JOIN publisher p ON a.email = p.email';

function resultOf(p: Party): QueryResult {
  if (p.outcome?.kind !== 'result') throw new Error(`${p.role} (${p.member}) has outcome ${JSON.stringify(p.outcome)}`);
  return p.outcome.result;
}

async function oracle(sql: string, c: Collaboration): Promise<PlaintextAnswer> {
  return answerQuery(await parseQuery(sql), c.manifest.tables, data);
}

/** What a party opened to the other: the labels of the released groups (in no particular order) and how many values. */
function opened(sent: readonly SessionMessage[]): { labels: string[]; values: number } {
  const labels = sent.flatMap((m) => (m.type === 'labels' ? m.labels.map((l) => JSON.stringify(l)) : []));
  const values = sent.reduce((n, m) => n + (m.type === 'open' && m.stage === 'values' ? m.values.length : 0), 0);
  return { labels: labels.sort(), values };
}

describe('after release, two parties, exact values', () => {
  const collaboration = buildCollaboration();

  it.each([
    ['HAVING on a count, ORDER BY a sum DESC', `${AGG_SQL} HAVING COUNT(*) >= 5 ORDER BY sum_amount DESC`, ADVERTISER],
    ['aliases in ORDER BY, NULLS FIRST, LIMIT with OFFSET', `SELECT a.category AS cat, COUNT(*) AS n, AVG(a.amount) AS mean ${FROM} GROUP BY a.category ORDER BY mean NULLS FIRST, cat LIMIT 3 OFFSET 1`, PUBLISHER],
    ['HAVING on an average and a label, ORDER BY the label DESC', `${AGG_SQL} HAVING AVG(a.amount) > 100 AND a.category != 'toys' ORDER BY category DESC`, ADVERTISER],
    ['count-only, HAVING keeps the one row', `${COUNT_SQL} HAVING COUNT(*) BETWEEN 1 AND 1000`, PUBLISHER],
  ])('%s: each receiver shows the oracle\'s rows, in its order', async (_what, sql, querier) => {
    const s = await runScenario({ collaboration, sql, querier, data });
    const want = await oracle(sql, collaboration);
    expect(want.rows.length).toBeGreaterThan(0);
    for (const p of [s.P, s.Q]) {
      const result = resultOf(p);
      expect(result.rows).toStrictEqual(want.rows);
      expect(result.afterRelease).toStrictEqual({ released: want.released });
    }
  });

  it('HAVING and LIMIT that show nothing open every released group all the same, to the same receivers', async () => {
    const plain = await runScenario({ collaboration, sql: AGG_SQL, querier: ADVERTISER, data });
    const sql = `${AGG_SQL} HAVING COUNT(*) > 100000 ORDER BY count LIMIT 0`;
    const shaped = await runScenario({ collaboration, sql, querier: ADVERTISER, data });
    const released = (await oracle(AGG_SQL, collaboration)).rows.length;
    expect(released).toBeGreaterThan(1);
    expect(opened(shaped.P.sent)).toStrictEqual(opened(plain.P.sent));
    expect(opened(shaped.Q.sent)).toStrictEqual(opened(plain.Q.sent));
    expect(opened(shaped.P.sent).labels).toHaveLength(released);
    for (const p of [shaped.P, shaped.Q]) expect(resultOf(p)).toMatchObject({ rows: [], afterRelease: { released } });
  });
});

describe('after release, two parties, under a privacy policy', () => {
  // Policies on both tables: the minimum applies to the noisy counts as they are, and each category has about 150
  // matched rows, far above it: every declared group is released but with negligible probability.
  const collaboration = buildCollaboration({ privacy: { advertiser: TEST_POLICY, publisher: TEST_POLICY }, categoryValues: [...CATEGORIES] });
  const larger = makeData({ publisherRows: 1200, advertiserRows: 1200, publisherPeople: [0, 800], advertiserPeople: [400, 1200], seed: 11 });

  it('HAVING and ORDER BY act on the noisy values, the result says so, and every row keeps its own intervals', async () => {
    const sql = `SELECT a.category, COUNT(*) AS n, SUM(a.amount) AS total ${FROM} GROUP BY a.category HAVING n >= 3 AND a.category != 'books' ORDER BY total DESC`;
    const s = await runScenario({ collaboration, sql, querier: ADVERTISER, data: larger });
    const result = resultOf(s.Q);
    expect(resultOf(s.P)).toStrictEqual(result);
    expect(result.afterRelease).toMatchObject({ onNoisyValues: ['HAVING', 'ORDER BY'] });
    expect(result.rows.length).toBeGreaterThan(1);
    expect(result.rows.every((r) => Number(r[1]) >= 3 && r[0] !== 'books')).toBe(true);
    const totals = result.rows.flatMap((r) => (r[2] === null ? [] : [Number(r[2])]));
    expect(totals).toStrictEqual([...totals].sort((x, y) => y - x));
    // A sum's interval is centred on the row's own noisy sum: after filtering and sorting, still on the same row.
    result.rows.forEach((row, i) => {
      const interval = result.privacy!.intervals[i]![2];
      if (row[2] === null) return;
      expect((Number(interval![0]) + Number(interval![1])) / 2).toBeCloseTo(Number(row[2]), 6);
    });
    // The groups opened are every declared one whose noisy count reached the minimum, books among them: HAVING
    // dropped none of them.
    expect(opened(s.P.sent).labels).toContain('["books"]');
    expect(result.afterRelease!.released).toBe(opened(s.P.sent).labels.length);
    expect(result.afterRelease!.released).toBeGreaterThan(result.rows.length);
  });
});
