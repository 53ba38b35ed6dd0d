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

/** A third table, the auditor's, that grants the advertiser its overlap so that three-table GROUP BY plans. */
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

describe('privacyOf: count-only over more than two tables', () => {
  it('is refused with RULE_VIOLATION naming <table>.rules.privacy of a table that has the policy', async () => {
    for (const [where, name] of [['panel', 'panel'], ['advertiser', ADVERTISER]] as const) {
      const err = await plan(COUNT3, manifest({ [where]: policy(1, 5) }), PUBLISHER).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuleViolation);
      expect(err).toMatchObject({ code: 'RULE_VIOLATION', rule: `${name}.rules.privacy` });
      expect((err as Error).message).toContain('3 tables');
    }
  });

  it('is planned without a policy, and with one for two tables or for GROUP BY over three', async () => {
    await expect(plan(COUNT3, manifest({}), PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
    await expect(plan(COUNT_SQL, manifest({ advertiser: policy(1, 5) }), PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
    const q = await plan(GROUP3, manifest({ panel: policy(1, 5) }), ADVERTISER);
    expect(q.mode).toBe('aggregate');
    expect(q.privacy?.charges.map((c) => c.table)).toEqual(['panel']);
  });

  it('privacyOf itself: the same refusal for count-only over 3 tables, none for 2 or for another mode', () => {
    const tables = manifest({ advertiser: policy(1, 5) }).tables;
    expect(() => privacyOf(tables, { mode: 'count-only', tables: 3 })).toThrow(expect.objectContaining({ rule: `${ADVERTISER}.rules.privacy` }));
    expect(privacyOf(tables, { mode: 'count-only', tables: 2 })).toBeDefined();
    expect(privacyOf(tables, { mode: 'aggregate', tables: 3 })).toBeDefined();
    expect(privacyOf([publisherTable()], { mode: 'count-only', tables: 3 })).toBeUndefined();
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
