import { describe, expect, it } from 'vitest';
import { fromDecimal, fromFloat, toNumber, type Rational } from '../../src/dp/rational.js';
import { epsilonOfRho, rhoForEpsilon } from '../../src/dp/zcdp.js';
import { RuleViolation } from '../../src/errors.js';
import { Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { accountingOf, privacyOf, tableBudget } from '../../src/query/privacy-plan.js';
import { ADVERTISER, AUDITOR, COUNT_SQL, PUBLISHER, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';

const policy = (epsilon: number, budget: number, refresh: 'month' | 'never' = 'month', accounting?: 'pure' | 'zcdp'): PrivacyPolicy => ({
  epsilon,
  delta: 1e-6,
  maxRowsPerKey: 1,
  budget: { epsilon: budget, refresh },
  ...(accounting ? { accounting } : {}),
});

const governed = (t: Table, privacy?: PrivacyPolicy): Table => (privacy ? { ...t, rules: { ...t.rules, privacy } } : t);

const base = buildCollaboration().manifest;

/** A third table, the auditor's, that grants the advertiser its overlap so that three-table GROUP BY plans (without a policy). */
const panel: Table = {
  name: 'panel',
  owner: AUDITOR,
  columns: [
    { name: 'email', type: 'string' },
    { name: 'segment', type: 'string' },
  ],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [], dimensions: ['segment'], minDistinctKeys: 3, overlapDisclosure: [ADVERTISER] },
};

function manifest(p: { publisher?: PrivacyPolicy; advertiser?: PrivacyPolicy; panel?: PrivacyPolicy }): Manifest {
  return ManifestSchema.parse({
    ...base,
    tables: [governed(publisherTable(), p.publisher), governed(advertiserTable(), p.advertiser), governed(panel, p.panel)],
  });
}

const COUNT3 = 'SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.email JOIN panel x ON a.email = x.email';
const GROUP2 = 'SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';
const GROUP3 = 'SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email JOIN panel x ON a.email = x.email GROUP BY a.category';

/** A budget counted in ρ: the largest ρ whose conversion at the policy's δ is (budget ε, δ)-DP, rounded down to a decimal. */
const rhoBudget = (budget: number, delta: number): Rational => fromFloat(rhoForEpsilon(budget, delta), 'down');

/** Whether a rational is a decimal: its denominator divides a power of ten. */
function isDecimal(x: Rational): boolean {
  let den = x.den;
  for (const p of [2n, 5n]) while (den % p === 0n) den /= p;
  return den === 1n;
}

const FED_HOLDERS = ['emp1', 'emp2', 'emp3'];

/** The salaries of three employers joined with a registry's table, under the given policies. */
function federatedManifest(salariesPolicy: PrivacyPolicy, verifiedPolicy: PrivacyPolicy): Manifest {
  const salaries: Table = {
    name: 'salaries',
    owner: 'emp2',
    holders: FED_HOLDERS,
    columns: [
      { name: 'email', type: 'string' },
      { name: 'salary', type: 'integer', min: 0, max: 1_000_000 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'salary', functions: ['sum'] }], dimensions: [], minDistinctKeys: 3, overlapDisclosure: [], privacy: salariesPolicy },
  };
  const verified: Table = {
    name: 'verified',
    owner: 'reg',
    columns: [{ name: 'email', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 3, overlapDisclosure: FED_HOLDERS, privacy: verifiedPolicy },
  };
  return ManifestSchema.parse({
    format: 'cleanroom-manifest/1',
    collaborationId: 'fed',
    name: 'fed',
    version: 1,
    members: [...FED_HOLDERS, 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
    tables: [salaries, verified],
    queriers: ['reg'],
    receivers: ['reg'],
  });
}

describe('privacyOf: the budget charges', () => {
  it('lists every table of the query with a policy, in query order, with its owner, its budget (tableBudget) and the query\'s cost in its unit', async () => {
    // Both budgets hold few queries: pure accounting, counted in ε; each table is charged the query's (strictest) ε.
    const q = await plan(COUNT_SQL, manifest({ publisher: policy(0.1, 1, 'never'), advertiser: policy(0.5, 2.5) }), PUBLISHER);
    expect(q.privacy).toMatchObject({ mechanism: 'laplace' });
    expect(q.privacy?.rho).toBeUndefined();
    expect(q.privacy?.charges).toEqual([
      { table: PUBLISHER, owners: [PUBLISHER], budget: { unit: 'epsilon', amount: fromDecimal(1), refresh: 'never', delta: 1e-6 }, cost: { unit: 'epsilon', amount: fromDecimal(0.1) } },
      { table: ADVERTISER, owners: [ADVERTISER], budget: { unit: 'epsilon', amount: fromDecimal(2.5), refresh: 'month', delta: 1e-6 }, cost: { unit: 'epsilon', amount: fromDecimal(0.1) } },
    ]);
    expect(q.privacy?.charges.map((c) => c.budget)).toEqual([tableBudget(policy(0.1, 1, 'never')), tableBudget(policy(0.5, 2.5))]);
  });

  it('a table that accounts in ρ is charged the query\'s ρ, one that accounts in ε its ε, though the noise is Gaussian for both', async () => {
    const q = await plan(COUNT_SQL, manifest({ publisher: policy(0.1, 1, 'never'), advertiser: policy(0.5, 2.5, 'month', 'zcdp') }), PUBLISHER);
    const rho = fromFloat(rhoForEpsilon(0.1, 1e-6 / 2), 'down');
    expect(q.privacy).toMatchObject({ mechanism: 'gaussian', rho, epsilon: fromDecimal(0.1) });
    expect(q.privacy?.charges).toEqual([
      { table: PUBLISHER, owners: [PUBLISHER], budget: { unit: 'epsilon', amount: fromDecimal(1), refresh: 'never', delta: 1e-6 }, cost: { unit: 'epsilon', amount: fromDecimal(0.1) } },
      { table: ADVERTISER, owners: [ADVERTISER], budget: { unit: 'rho', amount: rhoBudget(2.5, 1e-6), refresh: 'month', delta: 1e-6 }, cost: { unit: 'rho', amount: rho } },
    ]);
  });

  it('leaves out the tables without a policy, and tables not in the query', async () => {
    const q = await plan(COUNT_SQL, manifest({ advertiser: policy(0.5, 3), panel: policy(0.5, 3) }), PUBLISHER);
    expect(q.privacy?.charges.map((c) => c.table)).toEqual([ADVERTISER]);
    const none = await plan(COUNT_SQL, manifest({ panel: policy(0.5, 3) }), PUBLISHER);
    expect(none.privacy).toBeUndefined();
  });

  it('charges a federated table to every one of its holders', async () => {
    // ε = 0.2 of 4 and 0.3 of 6 (20 queries each): zCDP by default, budgets and costs in ρ.
    const m = federatedManifest(policy(0.2, 4), policy(0.3, 6, 'never'));
    const q = await plan('SELECT SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email', m, 'reg');
    expect(q.mode).toBe('federated');
    const rho = fromFloat(rhoForEpsilon(0.2, 1e-6 / 2), 'down');
    expect(q.privacy).toMatchObject({ epsilon: fromDecimal(0.2), delta: fromDecimal(1e-6), maxRowsPerKey: 1, mechanism: 'gaussian', rho });
    expect(q.privacy?.charges).toEqual([
      { table: 'salaries', owners: ['emp1', 'emp2', 'emp3'], budget: { unit: 'rho', amount: rhoBudget(4, 1e-6), refresh: 'month', delta: 1e-6 }, cost: { unit: 'rho', amount: rho } },
      { table: 'verified', owners: ['reg'], budget: { unit: 'rho', amount: rhoBudget(6, 1e-6), refresh: 'never', delta: 1e-6 }, cost: { unit: 'rho', amount: rho } },
    ]);
    // Pure on both: ε budgets and costs, Laplace noise.
    const pure = await plan('SELECT SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email', federatedManifest(policy(0.2, 4, 'month', 'pure'), policy(0.3, 6, 'never', 'pure')), 'reg');
    expect(pure.privacy?.mechanism).toBe('laplace');
    expect(pure.privacy?.charges.map((c) => [c.table, c.owners, c.budget, c.cost])).toEqual([
      ['salaries', FED_HOLDERS, { unit: 'epsilon', amount: fromDecimal(4), refresh: 'month', delta: 1e-6 }, { unit: 'epsilon', amount: fromDecimal(0.2) }],
      ['verified', ['reg'], { unit: 'epsilon', amount: fromDecimal(6), refresh: 'never', delta: 1e-6 }, { unit: 'epsilon', amount: fromDecimal(0.2) }],
    ]);
  });
});

describe('privacyOf: the mechanism and the query\'s ρ', () => {
  it('Laplace unless some policy of the query accounts in zCDP; then Gaussian, ρ = rhoForEpsilon(min ε, min δ / 2) rounded down to a decimal', async () => {
    for (const [epsilon, delta] of [[1, 1e-7], [0.3, 1e-6], [2, 1e-9], [0.05, 1e-4]] as const) {
      const zcdp: PrivacyPolicy = { epsilon, delta, maxRowsPerKey: 2, budget: { epsilon: 10, refresh: 'month' }, accounting: 'zcdp' };
      const p = privacyOf([governed(advertiserTable(), zcdp)], { mode: 'aggregate', tables: 2 })!;
      expect(p.mechanism).toBe('gaussian');
      const rho = p.rho!;
      expect(rho).toEqual(fromFloat(rhoForEpsilon(epsilon, delta / 2), 'down'));
      expect(isDecimal(rho), `ε=${epsilon}`).toBe(true);
      expect(rho.num.toString().length, `ε=${epsilon}`).toBeLessThanOrEqual(12);
      // Rounded down: no more than the ρ found, and still (ε, δ/2)-DP by the tight conversion.
      expect(toNumber(rho)).toBeLessThanOrEqual(rhoForEpsilon(epsilon, delta / 2));
      expect(toNumber(rho)).toBeGreaterThan(rhoForEpsilon(epsilon, delta / 2) * (1 - 1e-10));
      expect(epsilonOfRho(toNumber(rho), delta / 2), `ε=${epsilon}`).toBeLessThanOrEqual(epsilon);
      const pure = privacyOf([governed(advertiserTable(), { ...zcdp, accounting: 'pure' })], { mode: 'aggregate', tables: 2 })!;
      expect(pure.mechanism).toBe('laplace');
      expect(pure.rho).toBeUndefined();
    }
    // The strictest ε and δ set ρ, from whichever tables they come.
    const mixed = privacyOf(
      [governed(advertiserTable(), { ...policy(0.8, 10, 'month', 'zcdp'), delta: 1e-5 }), governed(publisherTable(), { ...policy(0.4, 10, 'month', 'pure'), delta: 1e-7 })],
      { mode: 'aggregate', tables: 2 },
    )!;
    expect(mixed).toMatchObject({ mechanism: 'gaussian', epsilon: fromDecimal(0.4), delta: fromDecimal(1e-7), rho: fromFloat(rhoForEpsilon(0.4, 1e-7 / 2), 'down') });
  });
});

describe('accountingOf and tableBudget: how a policy\'s budget adds up', () => {
  const of = (epsilon: number, delta: number, budget: number, accounting?: 'pure' | 'zcdp'): PrivacyPolicy => ({
    epsilon,
    delta,
    maxRowsPerKey: 1,
    budget: { epsilon: budget, refresh: 'month' },
    ...(accounting ? { accounting } : {}),
  });

  it('a budget of one query is pure: Laplace is tighter per answer', () => {
    for (const [epsilon, delta] of [[1, 1e-7], [0.1, 1e-6], [2, 1e-9], [10, 1e-3], [0.01, 1e-7]] as const) {
      expect(accountingOf(of(epsilon, delta, epsilon)), `ε=${epsilon} δ=${delta}`).toBe('pure');
    }
  });

  it('ε = 1, δ = 1e-7 of 10 (the demo\'s) is pure; ε = 1 of 1000 and ε = 0.1 of 10 are zCDP', () => {
    expect(accountingOf(of(1, 1e-7, 10))).toBe('pure');
    expect(accountingOf(of(1, 1e-7, 1000))).toBe('zcdp');
    expect(accountingOf(of(0.1, 1e-7, 10))).toBe('zcdp');
  });

  it('as the budget grows by whole queries, the default turns from pure to zCDP once and never back', () => {
    for (const [epsilon, delta] of [[1, 1e-7], [0.1, 1e-7], [0.5, 1e-6], [2, 1e-9]] as const) {
      const kinds = Array.from({ length: 120 }, (_, k) => accountingOf(of(epsilon, delta, Number(((k + 1) * epsilon).toPrecision(12)))));
      const first = kinds.indexOf('zcdp');
      expect(first, `ε=${epsilon}`).toBeGreaterThan(0);
      expect(kinds.slice(first).every((k) => k === 'zcdp'), `ε=${epsilon}`).toBe(true);
    }
  });

  it('a policy\'s own setting wins over the default either way', () => {
    expect(accountingOf(of(1, 1e-7, 1, 'zcdp'))).toBe('zcdp');
    expect(accountingOf(of(1, 1e-7, 1000, 'pure'))).toBe('pure');
    expect(accountingOf(of(1, 1e-7, 10, 'pure'))).toBe('pure');
    expect(accountingOf(of(0.1, 1e-7, 10, 'zcdp'))).toBe('zcdp');
  });

  it('tableBudget: ε budgets exactly as written; ρ budgets rounded down to a decimal that converts back to at most the budget ε', () => {
    expect(tableBudget({ ...of(0.5, 1e-6, 2.5), budget: { epsilon: 2.5, refresh: 'never' } })).toEqual({ unit: 'epsilon', amount: fromDecimal(2.5), refresh: 'never', delta: 1e-6 });
    expect(tableBudget(of(0.1, 1e-7, 0.3, 'pure')).amount).toEqual({ num: 3n, den: 10n });
    for (const [epsilon, delta, budget] of [[1, 1e-7, 1000], [0.1, 1e-7, 10], [0.3, 1e-6, 6], [1, 1e-9, 1]] as const) {
      const b = tableBudget(of(epsilon, delta, budget, 'zcdp'));
      expect(b).toMatchObject({ unit: 'rho', refresh: 'month', delta });
      expect(b.amount).toEqual(rhoBudget(budget, delta));
      expect(isDecimal(b.amount)).toBe(true);
      const back = epsilonOfRho(toNumber(b.amount), delta);
      expect(back, `budget ${budget}`).toBeLessThanOrEqual(budget);
      // Rounded down by a unit in the 12th digit, no more.
      expect(back, `budget ${budget}`).toBeGreaterThan(budget * (1 - 1e-9));
    }
  });
});

describe('privacyOf: joins of more than two tables under a policy', () => {
  it('are refused in every mode with RULE_VIOLATION naming <table>.rules.privacy of the first table that has a policy', async () => {
    const cases = [
      [COUNT3, PUBLISHER, { panel: policy(1, 5) }, 'panel'],
      [COUNT3, PUBLISHER, { advertiser: policy(1, 5) }, ADVERTISER],
      [GROUP3, ADVERTISER, { panel: policy(1, 5) }, 'panel'],
      [GROUP3, ADVERTISER, { advertiser: policy(1, 5), panel: policy(1, 5) }, ADVERTISER],
      [GROUP3, ADVERTISER, { publisher: policy(1, 5), panel: policy(1, 5) }, PUBLISHER],
    ] as const;
    for (const [sql, querier, policies, name] of cases) {
      const err = await plan(sql, manifest(policies), querier).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${sql} ${name}`).toBeInstanceOf(RuleViolation);
      expect(err).toMatchObject({ code: 'RULE_VIOLATION', rule: `${name}.rules.privacy` });
      expect((err as Error).message).toContain('3 tables');
    }
  });

  it('are planned without a policy; two tables are planned with one', async () => {
    await expect(plan(COUNT3, manifest({}), PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
    await expect(plan(GROUP3, manifest({}), ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate' });
    await expect(plan(COUNT_SQL, manifest({ advertiser: policy(1, 5) }), PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
    const q = await plan('SELECT SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', manifest({ advertiser: policy(1, 5) }), ADVERTISER);
    expect(q.mode).toBe('aggregate');
    expect(q.privacy?.charges.map((c) => c.table)).toEqual([ADVERTISER]);
  });

  it('privacyOf itself: refused over 3 tables count-only or aggregate; not for 2 tables, nor a federated table (joined with one)', () => {
    const tables = manifest({ advertiser: policy(1, 5) }).tables;
    for (const mode of ['count-only', 'aggregate']) {
      expect(() => privacyOf(tables, { mode, tables: 3 }), mode).toThrow(expect.objectContaining({ rule: `${ADVERTISER}.rules.privacy` }));
      expect(privacyOf(tables, { mode, tables: 2 }), mode).toBeDefined();
    }
    expect(privacyOf(tables, { mode: 'federated', tables: 2 })).toBeDefined();
    expect(privacyOf([publisherTable()], { mode: 'aggregate', tables: 3 })).toBeUndefined();
  });
});

describe('GROUP BY under a privacy policy: declared values, and the domain of every group', () => {
  /** The advertiser's table with a second dimension; `values` declared per column as given. */
  function advertiser(values: { category?: string[]; tier?: string[] }, privacy?: PrivacyPolicy): Table {
    const t = advertiserTable();
    const columns = [...t.columns, { name: 'tier', type: 'string' as const }].map((c) => {
      const v = values[c.name as 'category' | 'tier'];
      return v ? { ...c, values: v } : c;
    });
    return governed({ ...t, columns, rules: { ...t.rules, dimensions: ['category', 'tier'] } }, privacy);
  }
  const pairOf = (adv: Table, publisher?: PrivacyPolicy) => ManifestSchema.parse({ ...base, tables: [governed(publisherTable(), publisher), adv] });
  const BY2 = 'SELECT a.category, a.tier, COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category, a.tier';

  const refusal = (sql: string, m: Manifest) =>
    plan(sql, m, ADVERTISER).then(
      () => undefined,
      (e: unknown) => e,
    );

  it('is refused with RULE_VIOLATION <table>.columns.<col>.values for a column without declared values, whichever table has the policy', async () => {
    for (const m of [pairOf(advertiser({}, policy(1, 5))), pairOf(advertiser({}), policy(1, 5))]) {
      const err = await refusal(GROUP2, m);
      expect(err).toBeInstanceOf(RuleViolation);
      expect(err).toMatchObject({ code: 'RULE_VIOLATION', rule: `${ADVERTISER}.columns.category.values` });
    }
    // One column of two declared: the other is named.
    const err = await refusal(BY2, pairOf(advertiser({ category: ['toys'] }, policy(1, 5))));
    expect(err).toMatchObject({ code: 'RULE_VIOLATION', rule: `${ADVERTISER}.columns.tier.values` });
  });

  it('without a policy, GROUP BY needs no declared values; with them all declared, the plan deals every group all the same', async () => {
    const q = await plan(GROUP2, pairOf(advertiser({})), ADVERTISER);
    expect(q).toMatchObject({ mode: 'aggregate', groupBy: [{ kind: 'column', column: { table: 'advertiser', column: 'category' } }] });
    expect(q.privacy).toBeUndefined();
    expect('domain' in q).toBe(false);
    // Issue 10: which groups have rows is data even without a policy; declared values let P deal them all.
    const declared = await plan(BY2, pairOf(advertiser({ category: ['toys'], tier: ['gold'] })), ADVERTISER);
    expect(declared.mode === 'aggregate' && declared.domain).toEqual([['toys', 'gold'], ['toys', null], [null, 'gold'], [null, null]]);
    const half = await plan(BY2, pairOf(advertiser({ category: ['toys'] })), ADVERTISER);
    expect('domain' in half).toBe(false);
  });

  it('with declared values, the plan carries the product of the columns\' values, each sorted and deduplicated, NULL last', async () => {
    const adv = advertiser({ category: ['toys', 'books', 'toys'], tier: ['gold', 'basic'] }, policy(1, 5));
    const q = await plan(BY2, pairOf(adv), ADVERTISER);
    expect(q.mode).toBe('aggregate');
    const domain = q.mode === 'aggregate' ? q.domain : undefined;
    const categories = ['books', 'toys', null];
    const tiers = ['basic', 'gold', null];
    expect(domain).toEqual(categories.flatMap((c) => tiers.map((t) => [c, t])));
    const one = await plan(GROUP2, pairOf(adv), ADVERTISER);
    expect(one.mode === 'aggregate' ? one.domain : undefined).toEqual([['books'], ['toys'], [null]]);
    // No GROUP BY: the one group, no domain.
    const total = await plan('SELECT COUNT(*), SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email', pairOf(adv), ADVERTISER);
    expect(total.privacy).toBeDefined();
    expect('domain' in total).toBe(false);
  });
});

describe('the manifest schema on privacy policies', () => {
  const attempt = (tables: Table[]) => ManifestSchema.safeParse({ ...base, tables });

  it('refuses a per-query epsilon above the whole budget, at tables.N.rules.privacy.epsilon', () => {
    const res = attempt([publisherTable(), governed(advertiserTable(), policy(2, 1.5))]);
    expect(res.success).toBe(false);
    const paths = res.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(['tables.1.rules.privacy.epsilon']);
    expect(res.error!.issues[0]!.message).toContain('advertiser');
  });

  it('accepts an epsilon equal to the budget, and one below it', () => {
    expect(attempt([publisherTable(), governed(advertiserTable(), policy(1.5, 1.5))]).success).toBe(true);
    expect(attempt([governed(publisherTable(), policy(0.1, 1)), advertiserTable()]).success).toBe(true);
  });

  it('refuses out-of-range policy fields: epsilon <= 0 or > 10, delta <= 0 or > 1e-3, maxRowsPerKey < 1', () => {
    const bad: Partial<PrivacyPolicy>[] = [{ epsilon: 0 }, { epsilon: 11 }, { delta: 0 }, { delta: 0.01 }, { maxRowsPerKey: 0 }, { maxRowsPerKey: 1.5 }];
    for (const b of bad) {
      const res = attempt([publisherTable(), governed(advertiserTable(), { ...policy(0.5, 20), ...b })]);
      expect(res.success, JSON.stringify(b)).toBe(false);
      expect(res.error!.issues[0]!.path.slice(0, 4)).toEqual(['tables', 1, 'rules', 'privacy']);
    }
  });
});
