import { describe, expect, it } from 'vitest';
import { fromText, toText } from '../../src/dp/rational.js';
import { tableBudget } from '../../src/query/privacy-plan.js';
import { queriesLeft, queriesLeftText } from '../../src/query/queries-left.js';
import { TEST_POLICY, advertiserTable } from '../support/collaboration.js';

describe('how many queries a remaining budget buys', () => {
  it('pure accounting: ⌊remaining ε / the table\'s ε⌋', () => {
    const t = advertiserTable({ privacy: { advertiser: { ...TEST_POLICY, epsilon: 0.3, accounting: 'pure' } } });
    const left = queriesLeft(t, fromText('1'));
    expect(left).toEqual({ perQuery: { unit: 'epsilon', amount: fromText('0.3') }, queries: 3n });
    expect(queriesLeftText(t, left, fromText('1'))).toBe('the remaining ε = 1 buys 3 more queries at ε = 0.3 each');
    expect(queriesLeft(t, fromText('0.29')).queries).toBe(0n);
    expect(queriesLeft(t, fromText('0.6')).queries).toBe(2n);
  });

  it('zCDP accounting: the ρ a query at the table\'s ε is charged, into the remaining ρ', () => {
    const t = advertiserTable({ privacy: { advertiser: { ...TEST_POLICY, epsilon: 0.1, accounting: 'zcdp' } } });
    const budget = tableBudget(t.rules.privacy!);
    const left = queriesLeft(t, budget.amount);
    expect(left.perQuery.unit).toBe('rho');
    // SPEC §10.4: at ε = 0.1, δ = 1e-7 and a budget of ε = 10, about 5,680 queries.
    expect(Number(left.queries)).toBeGreaterThan(5_600);
    expect(Number(left.queries)).toBeLessThan(5_800);
    expect(queriesLeftText(t, left, budget.amount)).toBe(`the remaining ρ = ${toText(budget.amount)} buys ${left.queries} more queries at ρ = ${toText(left.perQuery.amount)} each (ε = 0.1 a query)`);
  });
});
