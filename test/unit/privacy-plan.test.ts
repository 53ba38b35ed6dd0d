import { describe, expect, it } from 'vitest';
import { fromDecimal } from '../../src/dp/rational.js';
import { RuleViolation } from '../../src/errors.js';
import { Manifest as ManifestSchema, type Manifest, type PrivacyPolicy, type Table } from '../../src/manifest/schema.js';
import { privacyOf } from '../../src/query/privacy-plan.js';
import { ADVERTISER, AUDITOR, COUNT_SQL, PUBLISHER, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';

const policy = (epsilon: number, budget: number, refresh: 'month' | 'never' = 'month'): PrivacyPolicy => ({
  epsilon,
  delta: 1e-6,
  maxRowsPerKey: 1,
  budget: { epsilon: budget, refresh },
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

describe('privacyOf: the budget charges', () => {
  it('lists every table of the query with a policy, in query order, with its owner and exact budget', async () => {
    const q = await plan(COUNT_SQL, manifest({ publisher: policy(0.1, 1, 'never'), advertiser: policy(0.5, 2.5) }), PUBLISHER);
    expect(q.privacy?.charges).toEqual([
      { table: PUBLISHER, owners: [PUBLISHER], budget: { epsilon: fromDecimal(1), refresh: 'never' } },
      { table: ADVERTISER, owners: [ADVERTISER], budget: { epsilon: fromDecimal(2.5), refresh: 'month' } },
    ]);
  });

  it('leaves out the tables without a policy, and tables not in the query', async () => {
    const q = await plan(COUNT_SQL, manifest({ advertiser: policy(0.5, 3), panel: policy(0.5, 3) }), PUBLISHER);
    expect(q.privacy?.charges.map((c) => c.table)).toEqual([ADVERTISER]);
    const none = await plan(COUNT_SQL, manifest({ panel: policy(0.5, 3) }), PUBLISHER);
    expect(none.privacy).toBeUndefined();
  });

  it('charges a federated table to every one of its holders', async () => {
    const salaries: Table = {
      name: 'salaries',
      owner: 'emp2',
      holders: ['emp1', 'emp2', 'emp3'],
      columns: [
        { name: 'email', type: 'string' },
        { name: 'salary', type: 'integer', min: 0, max: 1_000_000 },
      ],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'salary', functions: ['sum'] }], dimensions: [], minDistinctKeys: 3, overlapDisclosure: [], privacy: policy(0.2, 4) },
    };
    const verified: Table = {
      name: 'verified',
      owner: 'reg',
      columns: [{ name: 'email', type: 'string' }],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [], dimensions: [], minDistinctKeys: 3, overlapDisclosure: ['emp1', 'emp2', 'emp3'], privacy: policy(0.3, 6, 'never') },
    };
    const m = ManifestSchema.parse({
      format: 'cleanroom-manifest/1',
      collaborationId: 'fed',
      name: 'fed',
      version: 1,
      members: ['emp1', 'emp2', 'emp3', 'reg'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
      tables: [salaries, verified],
      queriers: ['reg'],
      receivers: ['reg'],
    });
    const q = await plan('SELECT SUM(s.salary) FROM salaries s JOIN verified v ON s.email = v.email', m, 'reg');
    expect(q.mode).toBe('federated');
    expect(q.privacy).toMatchObject({ epsilon: fromDecimal(0.2), delta: fromDecimal(1e-6), maxRowsPerKey: 1 });
    expect(q.privacy?.charges).toEqual([
      { table: 'salaries', owners: ['emp1', 'emp2', 'emp3'], budget: { epsilon: fromDecimal(4), refresh: 'month' } },
      { table: 'verified', owners: ['reg'], budget: { epsilon: fromDecimal(6), refresh: 'never' } },
    ]);
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
    expect(q).toMatchObject({ mode: 'aggregate', groupBy: ['category'] });
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
