/**
 * Attack (privacy review of 273d7db): a CASE inside SUM/AVG selects which rows of a group contribute, on the
 * aggregating table's dimensions, so the released SUM/AVG rests on that subset of rows, not on the group. The group's
 * own count meets minDistinctKeys, so the group is released, while the subset may be ONE person: the minimum of
 * SPEC §1 ("every released row rests on at least this many distinct join keys") and §7 ("never learned by anyone:
 * any value of a group under the minimum count except P's own") no longer hold for the value.
 *
 * Before the commit the only way to restrict which rows a SUM reads was WHERE, which shrinks the group itself and
 * so hits the minimum: `... WHERE a.category = 'toys'` is withheld (one person). The same restriction inside a CASE
 * is released, exactly, to every receiver (here the publisher, the querier, which must never see a value of the
 * advertiser's resting on fewer than 3 people).
 *
 * Each test FAILS on 273d7db and passes once every CASE arm of a value aggregate is held to the minimum (or CASE
 * conditions are refused in value aggregates of a query where some table has no privacy policy).
 */
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../../src/query/result.js';
import { ADVERTISER, PUBLISHER, buildCollaboration } from '../support/collaboration.js';
import { emailOf, type Dataset } from '../support/datasets.js';
import { runScenario } from './harness.js';

const JOIN = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
// No privacy policy anywhere; minDistinctKeys 3 on both tables (the collaboration's defaults).
const COLLABORATION = buildCollaboration();

/** Six people in both tables, one advertiser row each; person 4 alone bought 'toys', for 123.45. */
const DATA: Dataset = {
  publisher: [1, 2, 3, 4, 5, 6].map((p) => ({ email: emailOf(p), campaign: 'spring', impressions: 1, region: 'eu' })),
  advertiser: [1, 2, 3, 4, 5, 6].map((p) => ({
    email: emailOf(p),
    amount: p === 4 ? '123.45' : `${10 + p}.00`,
    category: p === 4 ? 'toys' : 'books',
    items: p,
    age: 30,
  })),
};
const SECRET = '123.45';

/** The result the publisher (querier and receiver, not the aggregator) ends with, or undefined when refused/withheld. */
async function publisherResult(sql: string): Promise<QueryResult | undefined> {
  let s;
  try {
    s = await runScenario({ collaboration: COLLABORATION, sql, querier: PUBLISHER, data: DATA });
  } catch {
    return undefined; // refused while planning: nothing is released
  }
  const pub = s.P.member === PUBLISHER ? s.P : s.Q;
  expect(s.P.member).toBe(ADVERTISER);
  return pub.outcome?.kind === 'result' ? pub.outcome.result : undefined;
}

describe('attack: a CASE inside an aggregate escapes minDistinctKeys', () => {
  it('baseline: the same restriction in WHERE rests on one person and is withheld', async () => {
    const r = await publisherResult(`SELECT COUNT(*), AVG(a.amount) ${JOIN} WHERE a.category = 'toys'`);
    // The group (one person) is under the minimum of 3: no row reaches the receiver.
    expect(r?.rows ?? []).toEqual([]);
  });

  it('AVG(CASE WHEN <one person> THEN a.amount END) releases that one person\'s amount exactly', async () => {
    const r = await publisherResult(`SELECT COUNT(*), AVG(CASE WHEN a.category = 'toys' THEN a.amount END) AS toy ${JOIN}`);
    const released = (r?.rows ?? []).flat().map(String);
    // On 273d7db: [[6, '123.450000']]: the publisher reads person 4's purchase, resting on one join key.
    expect(released.some((v) => v.startsWith(SECRET))).toBe(false);
  });

  it('SUM(CASE ... THEN a.amount ELSE 0 END) needs no NULL: the subset\'s sum is released all the same', async () => {
    const r = await publisherResult(`SELECT COUNT(*), SUM(CASE WHEN a.category = 'toys' THEN a.amount ELSE 0 END) AS toy ${JOIN}`);
    const released = (r?.rows ?? []).flat().map(String);
    expect(released).not.toContain(SECRET);
  });

  it('the subset need not be read from a NULL count: two arms packed in one sum by a large weight', async () => {
    // amount is within [-100000, 100000] (units of 0.01: |x| ≤ 10^7), so x * 10^8 and x never overlap: one SUM carries
    // the one-person arm's sum (high part) and the rest's (low part).
    const r = await publisherResult(`SELECT COUNT(*), SUM(CASE WHEN a.category = 'toys' THEN a.amount * 100000000 ELSE a.amount END) AS packed ${JOIN}`);
    const packed = (r?.rows ?? [])[0]?.[1];
    const total = packed === undefined || packed === null ? undefined : BigInt(String(packed).replace('.', ''));
    // The rest's sum in cents is 11+12+13+15+16 = 67.00 → 6700; the packed sum is 12345 * 10^8 + 6700.
    expect(total).not.toBe(12345n * 100000000n + 6700n);
  });
});
