import { describe, expect, it } from 'vitest';
import { RuleViolation } from '../../src/errors.js';
import { Manifest as ManifestSchema, type Manifest, type Table } from '../../src/manifest/schema.js';
import { noisePlan, noiseAdders } from '../../src/query/noise.js';
import { ADVERTISER, PUBLISHER, TEST_POLICY, advertiserTable, buildCollaboration, plan, publisherTable } from '../support/collaboration.js';
import { emailOf, type Dataset, type Row } from '../support/datasets.js';
import { expectedResult, sortRows } from '../support/expected-result.js';
import { backendNames, runScenario } from './harness.js';

/**
 * SPEC §4.7, several join keys: what the manifest accepts, which ON clauses plan and how (the key of each side), what
 * is refused with which rule, and the noise of alternatives under a policy. Answers against the oracle are in
 * test/e2e/query-language.test.ts.
 */

const withPhones = (o: { advertiserGrants?: boolean; privacy?: boolean } = {}): Manifest => {
  const base = buildCollaboration({ privacy: o.privacy ? { publisher: TEST_POLICY, advertiser: TEST_POLICY } : {} }).manifest;
  const phone = (t: Table): Table => ({
    ...t,
    columns: [...t.columns, { name: 'phone', type: 'string' }, { name: 'country', type: 'string' }],
    joinKey: [
      { column: 'email', normalization: 'email' },
      { column: 'phone', normalization: 'phone' },
      { column: 'country', normalization: 'exact' },
    ],
  });
  const adv = advertiserTable({ categoryValues: ['books', 'toys'], ...(o.privacy ? { privacy: { advertiser: TEST_POLICY } } : {}) });
  const tables = [phone(publisherTable(o.privacy ? { privacy: { publisher: TEST_POLICY } } : {})), phone(o.advertiserGrants ? { ...adv, rules: { ...adv.rules, overlapDisclosure: [PUBLISHER] } } : adv)];
  return ManifestSchema.parse({ ...base, tables });
};

const refused = async (sql: string, m: Manifest, querier: string): Promise<RuleViolation> => {
  const err = await plan(sql, m, querier).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RuleViolation);
  return err as RuleViolation;
};

describe('the manifest (SPEC §4.7)', () => {
  it('accepts a list of join keys, and refuses one listed twice, one that is a dimension, or one of another type', () => {
    const m = withPhones();
    expect(m.tables[0]!.joinKey).toHaveLength(3);
    const twice = { ...m, tables: [{ ...m.tables[0]!, joinKey: [{ column: 'email', normalization: 'email' }, { column: 'email', normalization: 'exact' }] }, m.tables[1]!] };
    expect(() => ManifestSchema.parse(twice)).toThrow(/join key publisher\.email is listed twice/);
    const dim = { ...m, tables: [{ ...m.tables[0]!, rules: { ...m.tables[0]!.rules, dimensions: ['campaign', 'phone'] } }, m.tables[1]!] };
    expect(() => ManifestSchema.parse(dim)).toThrow(/the join key publisher\.phone can never be a dimension/);
    const typed = { ...m, tables: [{ ...m.tables[0]!, joinKey: [{ column: 'email', normalization: 'email' }, { column: 'impressions', normalization: 'exact' }] }, m.tables[1]!] };
    expect(() => ManifestSchema.parse(typed)).toThrow(/join key publisher\.impressions must be a string column/);
  });
});

describe('planning a JOIN on several keys', () => {
  const J = 'FROM advertiser a JOIN publisher p ON';

  it('one key of several: the side keys are that column; a compound keeps the ON\'s order on both sides', async () => {
    const one = await plan(`SELECT COUNT(*) ${J} a.phone = p.phone`, withPhones(), ADVERTISER);
    expect(one.aggregator.key).toEqual({ columns: [{ column: 'phone', normalization: 'phone' }], combine: 'and' });
    const both = await plan(`SELECT a.category, COUNT(*) ${J} p.country = a.country AND a.email = p.email GROUP BY a.category`, withPhones(), ADVERTISER);
    expect(both.mode).toBe('aggregate');
    expect(both.aggregator.key?.columns.map((k) => k.column)).toEqual(['country', 'email']);
    expect(both.others[0]!.key?.columns.map((k) => k.column)).toEqual(['country', 'email']);
  });

  it('alternatives run in aggregate mode, COUNT(*) alone included (over the first table), and need the other table\'s grant', async () => {
    const count = await plan(`SELECT COUNT(*) ${J} a.email = p.email OR a.phone = p.phone`, withPhones(), ADVERTISER);
    expect(count.mode).toBe('aggregate');
    expect(count.aggregator.table.name).toBe(ADVERTISER);
    expect(count.aggregator.key?.combine).toBe('or');
    // Counting the publisher's rows needs the advertiser's grant, which it does not give.
    const r = await refused(`SELECT COUNT(*) FROM publisher p JOIN advertiser a ON a.email = p.email OR a.phone = p.phone`, withPhones(), PUBLISHER);
    expect(r.rule).toBe('advertiser.rules.overlapDisclosure');
    expect(r.message).toMatch(/would count a person matched on two keys twice/);
    expect(r.allowed).toBe('a JOIN on one key, or on a compound key (AND)');
    await expect(plan(`SELECT COUNT(*) FROM publisher p JOIN advertiser a ON a.email = p.email OR a.phone = p.phone`, withPhones({ advertiserGrants: true }), PUBLISHER)).resolves.toMatchObject({ mode: 'aggregate' });
  });

  it('refuses a column that is no join key, and the partner\'s GROUP BY with alternatives', async () => {
    expect((await refused(`SELECT COUNT(*) ${J} a.email = p.email AND a.category = p.campaign`, withPhones(), ADVERTISER)).rule).toBe('advertiser.joinKey');
    const grouped = await refused(`SELECT p.campaign, SUM(a.amount) ${J} a.email = p.email OR a.phone = p.phone GROUP BY p.campaign`, buildPartnerCampaigns(withPhones()), ADVERTISER);
    expect(grouped.rule).toBe('privacy-model.several-join-keys');
  });

  it('under a policy, alternatives scale every sensitivity by their number: one person may match through each', async () => {
    const m = withPhones({ privacy: true, advertiserGrants: true });
    const sql = (on: string) => `SELECT a.category, COUNT(*), SUM(a.amount) ${J} ${on} GROUP BY a.category`;
    const one = await plan(sql('a.email = p.email'), m, ADVERTISER);
    const two = await plan(sql('a.email = p.email OR a.phone = p.phone'), m, ADVERTISER);
    const [n1, n2] = [noisePlan(one, noiseAdders(one))!, noisePlan(two, noiseAdders(two))!];
    n2.columns.forEach((c, i) => expect(c.sensitivity).toBe(2n * n1.columns[i]!.sensitivity));
    // A compound is one key per person: no more noise than one key.
    const and = await plan(sql('a.email = p.email AND a.country = p.country'), m, ADVERTISER);
    expect(noisePlan(and, noiseAdders(and))!.columns.map((c) => c.sensitivity)).toEqual(n1.columns.map((c) => c.sensitivity));
  });
});

/** The publisher's campaign declared and granted as a filter, so that only the OR is left to refuse. */
function buildPartnerCampaigns(m: Manifest): Manifest {
  const [pub, adv] = m.tables as [Table, Table];
  const campaign = pub.columns.map((c) => (c.name === 'campaign' ? { ...c, values: ['spring', 'summer'] } : c));
  return ManifestSchema.parse({ ...m, tables: [{ ...pub, columns: campaign }, adv] });
}

/**
 * People 0-99 at the publisher and 50-149 at the advertiser: every person has a phone, the advertiser knows 60-89 by
 * another email (only the phone can match them), and a country that is theirs but for every seventh row.
 */
function phoneData(): Dataset {
  const phone = (p: number) => `+33 6 ${10_000 + p}`;
  const country = (p: number, row: number) => (row % 7 === 0 ? 'xx' : ['fr', 'de'][p % 2]!);
  return {
    [PUBLISHER]: Array.from({ length: 100 }, (_, p): Row => ({ email: emailOf(p), campaign: 'spring', impressions: 1, region: 'eu', phone: phone(p), country: country(p, p) })),
    [ADVERTISER]: Array.from({ length: 100 }, (_, i): Row => {
      const p = 50 + i;
      return { email: p >= 60 && p < 90 ? `other${p}@elsewhere.net` : emailOf(p), amount: `${p}.00`, category: ['books', 'toys'][p % 2]!, items: 1, age: 30, phone: phone(p), country: country(p, i) };
    }),
  };
}

describe.each(backendNames())('several join keys through both machines on the %s backend, against the oracle', (backend) => {
  const J = 'FROM advertiser a JOIN publisher p ON';
  it.each([
    ['one other key', `SELECT a.category, COUNT(*), SUM(a.amount) ${J} a.phone = p.phone GROUP BY a.category`],
    ['a compound', `SELECT a.category, COUNT(*), SUM(a.amount), COUNT(DISTINCT a.email) ${J} a.email = p.email AND a.country = p.country GROUP BY a.category`],
    ['alternatives', `SELECT a.category, COUNT(*), SUM(a.amount), COUNT(DISTINCT a.email) ${J} a.email = p.email OR a.phone = p.phone GROUP BY a.category`],
    ['alternatives, COUNT alone', `SELECT COUNT(*) ${J} a.phone = p.phone OR a.email = p.email`],
  ])('%s', async (_name, sql) => {
    const s = await runScenario({ collaboration: { ...buildCollaboration(), manifest: withPhones() }, sql, querier: ADVERTISER, data: phoneData(), backend, batchKeys: 9 });
    const expected = expectedResult(s.P.plan, s.options.data);
    if (s.P.outcome?.kind !== 'result') throw new Error(JSON.stringify(s.P.outcome));
    expect(sortRows(s.P.outcome.result.rows)).toEqual(expected.rows);
    expect(expected.rows.length).toBeGreaterThan(0);
  });

  it('alternatives match the people email alone misses, and count each row once', async () => {
    const count = async (on: string) => {
      const s = await runScenario({ collaboration: { ...buildCollaboration(), manifest: withPhones() }, sql: `SELECT COUNT(*), SUM(a.items) ${J} ${on}`, querier: ADVERTISER, data: phoneData(), backend });
      return s.P.outcome?.kind === 'result' ? s.P.outcome.result.rows[0]![0] : undefined;
    };
    // Advertiser people 50-99 are the publisher's: 20 by email and phone, 30 by phone only (60-89).
    expect(await count('a.email = p.email')).toBe(20);
    expect(await count('a.phone = p.phone')).toBe(50);
    expect(await count('a.email = p.email OR a.phone = p.phone')).toBe(50);
  });

  it('under a policy on both tables: the query runs, every value with its interval', async () => {
    const s = await runScenario({ collaboration: { ...buildCollaboration(), manifest: withPhones({ privacy: true, advertiserGrants: true }) }, sql: `SELECT a.category, COUNT(*), SUM(a.amount) ${J} a.email = p.email OR a.phone = p.phone GROUP BY a.category`, querier: ADVERTISER, data: phoneData(), backend });
    if (s.P.outcome?.kind !== 'result') throw new Error(JSON.stringify(s.P.outcome));
    expect(s.P.outcome.result.privacy?.intervals.length).toBe(s.P.outcome.result.rows.length);
  });
});
