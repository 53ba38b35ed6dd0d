/**
 * Attack (privacy review of 273d7db): a column whose rule allows `sum` only may now be multiplied by itself inside
 * SUM. That opens (1) its sum of squares, which is exactly what the separate `variance` function of the rule gates
 * (VAR_POP(a.items) is refused, SUM(a.items * a.items) with SUM(a.items) and COUNT(a.items) gives it exactly), and
 * (2) its higher power sums: SUM(x), SUM(x²), …, SUM(x^k) over a group of k rows determine the multiset of the k
 * values (Newton's identities), so a group at the minimum (3 people here) releases EVERY person's value, not a total.
 * `items` (integer, 0..1000) admits k = 8 under the ring-wrap check and MAX_GROUP_WIDTH, so any group of up to eight
 * rows is read out in full by one query.
 *
 * Before the commit a `sum` rule released the group's total only. The tests FAIL on 273d7db and pass once a column
 * read at degree 2 requires `variance` (and higher degrees are refused without a policy), or products of a column
 * with itself are refused.
 */
import { describe, expect, it } from 'vitest';
import { RuleViolation } from '../../src/errors.js';
import { ADVERTISER, PUBLISHER, buildCollaboration, plan } from '../support/collaboration.js';
import { emailOf, type Dataset } from '../support/datasets.js';
import { runScenario } from './harness.js';

const JOIN = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
// No policy; minDistinctKeys 3; advertiser.items allows ['sum'] only (test/support/collaboration.ts).
const COLLABORATION = buildCollaboration();

describe('attack: power sums of a sum-only column', () => {
  it('SUM(a.items * a.items) is the sum of squares that the rule\'s missing `variance` refuses', async () => {
    // The rule refuses the variance itself ...
    await expect(plan(`SELECT VAR_POP(a.items) ${JOIN}`, COLLABORATION.manifest, PUBLISHER)).rejects.toBeInstanceOf(RuleViolation);
    // ... but not the three values it is computed from (n·Q − S²) / n².
    await expect(plan(`SELECT COUNT(a.items), SUM(a.items) AS s, SUM(a.items * a.items) AS q ${JOIN}`, COLLABORATION.manifest, PUBLISHER)).rejects.toBeInstanceOf(RuleViolation);
  });

  it('a group of exactly minDistinctKeys people: SUM of x, x², x³ gives each person\'s value', async () => {
    const items = [2, 5, 9];
    const data: Dataset = {
      publisher: [1, 2, 3].map((p) => ({ email: emailOf(p), campaign: 'spring', impressions: 1, region: 'eu' })),
      advertiser: [1, 2, 3].map((p, i) => ({ email: emailOf(p), amount: '1.00', category: 'books', items: items[i]!, age: 30 })),
    };
    const sql = `SELECT COUNT(*), SUM(a.items) AS p1, SUM(a.items * a.items) AS p2, SUM(a.items * a.items * a.items) AS p3 ${JOIN}`;
    let row: readonly unknown[] | undefined;
    try {
      const s = await runScenario({ collaboration: COLLABORATION, sql, querier: PUBLISHER, data });
      expect(s.P.member).toBe(ADVERTISER);
      const pub = s.Q;
      row = pub.outcome?.kind === 'result' ? pub.outcome.result.rows[0] : undefined;
    } catch {
      row = undefined; // refused: nothing released
    }
    const recovered = row ? rootsOf(BigInt(String(row[1])), BigInt(String(row[2])), BigInt(String(row[3]))) : [];
    // On 273d7db the publisher recovers [2, 5, 9]: every advertiser value of the group, from a group at the minimum.
    expect(recovered).not.toEqual(items);
  });
});

/** The distinct integers t in [0, 1000] that are roots of the cubic whose roots have power sums p1, p2, p3 (Newton's identities). */
function rootsOf(p1: bigint, p2: bigint, p3: bigint): number[] {
  const e1 = p1;
  const e2 = (e1 * p1 - p2) / 2n;
  const e3 = (e2 * p1 - e1 * p2 + p3) / 3n;
  const out: number[] = [];
  for (let t = 0n; t <= 1000n; t++) if (t * t * t - e1 * t * t + e2 * t - e3 === 0n) out.push(Number(t));
  return out;
}
