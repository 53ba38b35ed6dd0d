/**
 * What is refused before any cryptography runs: queries that a table owner's analysis rules or the privacy
 * model forbid (planQuery), and manifests that are not the agreement every member signed (parseSignedManifest
 * and the Manifest schema's cross-field checks).
 */
import { describe, expect, it } from 'vitest';
import { CleanroomError, RuleViolation } from '../../src/errors.js';
import { Manifest as ManifestSchema, type Manifest, type Table } from '../../src/manifest/schema.js';
import { parseSignedManifest, signManifest, unsignedMembers } from '../../src/manifest/signature.js';
import { ADVERTISER, AUDITOR, PUBLISHER, TEST_POLICY, advertiserTable, buildCollaboration, plan, publisherTable, type Collaboration } from '../support/collaboration.js';

const JOIN = 'FROM publisher p JOIN advertiser a ON p.email = a.email';

async function refusal(sql: string, manifest: Manifest, querier: string): Promise<CleanroomError> {
  try {
    await plan(sql, manifest, querier);
  } catch (err) {
    expect(err).toBeInstanceOf(CleanroomError);
    return err as CleanroomError;
  }
  throw new Error(`planQuery accepted: ${sql}`);
}

async function expectRule(sql: string, manifest: Manifest, querier: string, rule: string, allowed: string | RegExp, problem?: RegExp): Promise<RuleViolation> {
  const err = await refusal(sql, manifest, querier);
  expect(err).toBeInstanceOf(RuleViolation);
  const v = err as RuleViolation;
  expect(v.code).toBe('RULE_VIOLATION');
  expect(v.rule).toBe(rule);
  if (typeof allowed === 'string') expect(v.allowed).toBe(allowed);
  else expect(v.allowed).toMatch(allowed);
  // The message names the rule and what to do instead.
  expect(v.message).toContain(`(rule: ${rule}; allowed: ${v.allowed})`);
  if (problem) expect(v.message).toMatch(problem);
  return v;
}

describe('planQuery refusals, one per rule', () => {
  const { manifest } = buildCollaboration();

  it('a filter on the granting table that its overlap grant does not list: it would read that column person by person', async () => {
    // Publisher grants the advertiser its overlap, narrowed by campaign only (the collaboration's default).
    await expect(plan(`SELECT a.category, COUNT(*) ${JOIN} WHERE p.campaign = 'spring' GROUP BY a.category`, manifest, ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate' });
    const bare = buildCollaboration({ overlapDisclosure: { publisher: [ADVERTISER] } }).manifest;
    await expectRule(`SELECT a.category, COUNT(*) ${JOIN} WHERE p.campaign = 'spring' GROUP BY a.category`, bare, ADVERTISER, 'publisher.rules.overlapDisclosure', 'no filter on publisher (or a count-only query)', /filtering publisher on campaign/);
    // Count-only discloses no membership: any dimension filters it.
    await expect(plan(`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 'spring'`, bare, ADVERTISER)).resolves.toMatchObject({ mode: 'count-only' });
    // A grant's filters must be the granting table's dimensions.
    const t = publisherTable();
    const wrong = { ...t, rules: { ...t.rules, overlapDisclosure: [{ member: ADVERTISER, filters: ['region'] }] } };
    const parsed = ManifestSchema.safeParse({ ...manifest, tables: [wrong, advertiserTable()] });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('region is not a dimension of publisher');
  });

  it('AVG of a column whose rule allows only avg, without a privacy policy: AVG would open its exact sum and count', async () => {
    const avgOnly = (privacy: boolean): Manifest => {
      const t = advertiserTable();
      const rules = { ...t.rules, aggregations: [{ column: 'amount', functions: ['avg' as const] }] };
      const a = { ...t, rules: privacy ? { ...rules, privacy: TEST_POLICY } : rules };
      return ManifestSchema.parse({ ...manifest, tables: [publisherTable(), a] });
    };
    const sql = `SELECT AVG(a.amount) ${JOIN}`;
    await expectRule(sql, avgOnly(false), ADVERTISER, 'advertiser.rules.aggregations', /privacy policy/, /exact sum and count/);
    // Under a policy the sum and count behind the AVG are noisy: the rule's intent holds.
    await expect(plan(sql, avgOnly(true), ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate' });
    // A policy on the other table (the querier's own, say, at the loosest ε) does not make this owner's values noisy
    // enough for its rule: only a policy on the advertiser's table lifts it (issue 17).
    const t = avgOnly(false);
    const theirs = ManifestSchema.parse({ ...t, tables: [{ ...publisherTable(), rules: { ...publisherTable().rules, privacy: { ...TEST_POLICY, epsilon: 10 } } }, t.tables[1]] });
    await expectRule(sql, theirs, ADVERTISER, 'advertiser.rules.aggregations', /privacy policy on advertiser/, /exact sum and count/);
  });

  it('a querier the collaboration does not list', async () => {
    const m = buildCollaboration({ queriers: [ADVERTISER] }).manifest;
    await expectRule(`SELECT COUNT(*) ${JOIN}`, m, PUBLISHER, 'queriers', 'queriers: advertiser', /publisher may not submit queries/);
    await expectRule(`SELECT COUNT(*) ${JOIN}`, manifest, AUDITOR, 'queriers', 'queriers: publisher, advertiser');
    await expect(plan(`SELECT COUNT(*) ${JOIN}`, m, ADVERTISER)).resolves.toMatchObject({ querier: ADVERTISER });
  });

  it('WHERE on a column that is not a dimension (including the join key)', async () => {
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE p.region = 'eu'`, manifest, PUBLISHER, 'publisher.rules.dimensions', 'publisher.campaign', /publisher\.region may not be used in WHERE/);
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE a.email = 'ann@example.com'`, manifest, PUBLISHER, 'advertiser.rules.dimensions', 'advertiser.category', /advertiser\.email may not be used in WHERE/);
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE a.amount > 100`, manifest, PUBLISHER, 'advertiser.rules.dimensions', 'advertiser.category');
  });

  it('GROUP BY on a column that is not a dimension (including the join key, which can never be output)', async () => {
    await expectRule(`SELECT p.region, COUNT(*) ${JOIN} GROUP BY p.region`, manifest, ADVERTISER, 'publisher.rules.dimensions', 'publisher.campaign', /may not be used in GROUP BY/);
    await expectRule(`SELECT a.email, SUM(a.amount) ${JOIN} GROUP BY a.email`, manifest, ADVERTISER, 'advertiser.rules.dimensions', 'advertiser.category', /advertiser\.email may not be used in GROUP BY/);
  });

  it('SUM or AVG of a column without an aggregation rule, or with a function the rule does not allow', async () => {
    const allowed = 'COUNT(*), SUM(advertiser.amount), AVG(advertiser.amount), SUM(advertiser.items)';
    await expectRule(`SELECT SUM(a.age) ${JOIN}`, manifest, ADVERTISER, 'advertiser.rules.aggregations', allowed, /SUM\(advertiser\.age\) is not allowed/);
    await expectRule(`SELECT AVG(a.items) ${JOIN}`, manifest, ADVERTISER, 'advertiser.rules.aggregations', allowed, /AVG\(advertiser\.items\) is not allowed/);
    await expectRule(`SELECT SUM(a.category) ${JOIN}`, manifest, ADVERTISER, 'advertiser.rules.aggregations', allowed);
    await expectRule(`SELECT SUM(p.region) ${JOIN}`, manifest, ADVERTISER, 'publisher.rules.aggregations', 'COUNT(*), SUM(publisher.impressions), AVG(publisher.impressions)');
    // The allowed ones pass.
    await expect(plan(`SELECT SUM(a.items), AVG(a.amount) ${JOIN}`, manifest, ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate', sumColumns: ['items', 'amount'] });
  });

  it('COUNT(t.c) of a column that is neither a dimension nor an aggregation column: it would reveal which rows have a value', async () => {
    const allowed = 'COUNT(*), COUNT(advertiser.category), COUNT(advertiser.amount), COUNT(advertiser.items)';
    await expectRule(`SELECT COUNT(a.age) ${JOIN}`, manifest, ADVERTISER, 'advertiser.rules.aggregations', allowed, /COUNT\(advertiser\.age\) would reveal which rows have a value/);
    // The join key is neither either: COUNT(DISTINCT key) is the count of matched people.
    await expectRule(`SELECT COUNT(a.email) ${JOIN}`, manifest, ADVERTISER, 'advertiser.rules.aggregations', allowed);
    await expectRule(`SELECT COUNT(p.region) ${JOIN}`, manifest, ADVERTISER, 'publisher.rules.aggregations', 'COUNT(*), COUNT(publisher.campaign), COUNT(publisher.impressions)');
    // A dimension (any type) or a column with any aggregation rule passes; a summed column keeps one non-null slot.
    await expect(plan(`SELECT a.category, COUNT(a.category), COUNT(a.items), COUNT(a.amount), SUM(a.amount) ${JOIN} GROUP BY a.category`, manifest, ADVERTISER)).resolves.toMatchObject({
      mode: 'aggregate',
      sumColumns: ['amount'],
      countColumns: ['category', 'items'],
    });
    // COUNT(t.c) reads t.c's values: it is an aggregated column like SUM's, so single-aggregator holds.
    await expectRule(`SELECT SUM(a.amount), COUNT(p.impressions) ${JOIN}`, manifest, ADVERTISER, 'privacy-model.single-aggregator', /all of them from one table/);
  });

  it('COUNT(DISTINCT c) of anything but a join key; the join key of either table counts the matched people', async () => {
    const allowed = 'COUNT(DISTINCT publisher.email), COUNT(DISTINCT advertiser.email)';
    await expectRule(`SELECT COUNT(DISTINCT a.amount) ${JOIN}`, manifest, ADVERTISER, 'advertiser.joinKey', allowed, /DISTINCT counts the matched join keys only/);
    await expectRule(`SELECT a.category, COUNT(DISTINCT a.category) ${JOIN} GROUP BY a.category`, manifest, ADVERTISER, 'advertiser.joinKey', allowed);
    await expectRule(`SELECT COUNT(DISTINCT p.campaign) ${JOIN}`, manifest, ADVERTISER, 'publisher.joinKey', allowed);
    // Alone, it is the intersection size: count-only, as COUNT(*); with GROUP BY it reads the distinct-key count.
    await expect(plan(`SELECT COUNT(DISTINCT p.email) ${JOIN}`, manifest, ADVERTISER)).resolves.toMatchObject({ mode: 'count-only' });
    await expect(plan(`SELECT a.category, COUNT(DISTINCT p.email) ${JOIN} GROUP BY a.category`, manifest, ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate', sumColumns: [], countColumns: [] });
  });

  it('a join on a column that is not the join key, on either side', async () => {
    await expectRule('SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.campaign = a.category', manifest, PUBLISHER, 'publisher.joinKey', 'publisher.email', /publisher cannot be joined on campaign/);
    await expectRule('SELECT COUNT(*) FROM publisher p JOIN advertiser a ON p.email = a.category', manifest, PUBLISHER, 'advertiser.joinKey', 'advertiser.email', /advertiser cannot be joined on category/);
  });

  it('SUM, AVG or COUNT(column) drawing on both tables (privacy-model.single-aggregator)', async () => {
    const allowed = /all of them from one table, the aggregating member's/;
    await expectRule(`SELECT a.category, SUM(a.amount), SUM(p.impressions) ${JOIN} GROUP BY a.category`, manifest, ADVERTISER, 'privacy-model.single-aggregator', allowed, /read columns of more than one table/);
    await expectRule(`SELECT SUM(a.amount), AVG(p.impressions) ${JOIN}`, manifest, PUBLISHER, 'privacy-model.single-aggregator', allowed);
  });

  it('GROUP BY the partner\'s dimension (SPEC §4.6): its grant names the aggregating member and lists the column among its filters, which declares its values', async () => {
    // SUM(p.impressions) makes the publisher the aggregating member; the advertiser grants it nothing.
    await expectRule(`SELECT a.category, SUM(p.impressions) ${JOIN} GROUP BY a.category`, manifest, ADVERTISER, 'advertiser.rules.overlapDisclosure', /COUNT\(\*\) without GROUP BY/);
    // The publisher grants the advertiser its campaign, but the manifest does not say which campaigns exist.
    await expectRule(`SELECT p.campaign, SUM(a.amount) ${JOIN} GROUP BY p.campaign`, manifest, ADVERTISER, 'publisher.columns.campaign.values', 'values for campaign in the manifest', /over the partner's table publisher needs every group known from the manifest/);
    const declared = buildCollaboration({ campaignValues: ['spring', 'summer'] }).manifest;
    await expect(plan(`SELECT p.campaign, a.category, SUM(a.amount) ${JOIN} GROUP BY p.campaign, a.category`, declared, ADVERTISER)).resolves.toMatchObject({
      mode: 'aggregate',
      partnerGroups: { positions: [0], labels: [['spring'], ['summer'], [null]], perKey: 3 },
    });
    // A grant without campaign among its filters allows the join, not the grouping.
    const bare = buildCollaboration({ campaignValues: ['spring', 'summer'], overlapDisclosure: { publisher: [ADVERTISER] } }).manifest;
    await expectRule(`SELECT p.campaign, SUM(a.amount) ${JOIN} GROUP BY p.campaign`, bare, ADVERTISER, 'publisher.rules.overlapDisclosure', 'no GROUP BY over publisher', /for each value of campaign/);
  });

  it('aggregate mode over a table whose partner has not granted overlap disclosure; COUNT(*) alone runs as count-only', async () => {
    // advertiser.rules.overlapDisclosure is [] in the default collaboration: the publisher may not learn who bought.
    const v = await expectRule(
      `SELECT p.campaign, COUNT(*) ${JOIN} GROUP BY p.campaign`,
      manifest,
      PUBLISHER,
      'advertiser.rules.overlapDisclosure',
      'COUNT(*) without GROUP BY, SUM or AVG, which runs as count-only PSI and reveals the size of the intersection and of each key set',
      /need publisher to learn which of its keys are in advertiser, which advertiser has not granted/,
    );
    expect(v.peerFault).toBe(false);
    await expectRule(`SELECT SUM(p.impressions) ${JOIN}`, manifest, PUBLISHER, 'advertiser.rules.overlapDisclosure', /^COUNT\(\*\) without GROUP BY/);
    // The same question as a bare count is fine, and the querier is the one who learns the count.
    const count = await plan(`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 'spring'`, manifest, PUBLISHER);
    expect(count).toMatchObject({ mode: 'count-only', groupBy: [], sumColumns: [] });
    expect(count.aggregator.table.name).toBe('publisher');
    expect(count.others[0]!.table.name).toBe('advertiser');
    const asked = await plan(`SELECT COUNT(*) ${JOIN}`, manifest, ADVERTISER);
    expect(asked.aggregator.table.owner).toBe(ADVERTISER);
    // A grant to someone else does not help; a grant to the aggregating member does.
    const toAuditor = buildCollaboration({ overlapDisclosure: { advertiser: [AUDITOR] } }).manifest;
    await expectRule(`SELECT p.campaign, COUNT(*) ${JOIN} GROUP BY p.campaign`, toAuditor, PUBLISHER, 'advertiser.rules.overlapDisclosure', /^COUNT/);
    const granted = buildCollaboration({ overlapDisclosure: { advertiser: [PUBLISHER] } }).manifest;
    await expect(plan(`SELECT p.campaign, COUNT(*) ${JOIN} GROUP BY p.campaign`, granted, PUBLISHER)).resolves.toMatchObject({ mode: 'aggregate', groupBy: [{ kind: 'column', column: { table: 'publisher', column: 'campaign' } }] });
  });

  it('the strictest minDistinctKeys of the two tables wins, whichever side it is on', async () => {
    for (const [publisher, advertiser] of [
      [7, 12],
      [12, 7],
      [5, 5],
    ] as const) {
      const m = buildCollaboration({ minDistinctKeys: { publisher, advertiser } }).manifest;
      for (const sql of [`SELECT COUNT(*) ${JOIN}`, `SELECT a.category, SUM(a.amount) ${JOIN} GROUP BY a.category`]) {
        expect((await plan(sql, m, ADVERTISER)).minDistinctKeys).toBe(Math.max(publisher, advertiser));
      }
    }
  });

  it('a literal of the wrong type for its column (QUERY_INVALID)', async () => {
    // A numeric dimension is needed to compare a number column with a string.
    const m = buildCollaboration().manifest;
    const withNumeric: Manifest = { ...m, tables: m.tables.map((t) => (t.name === 'publisher' ? { ...t, rules: { ...t.rules, dimensions: ['campaign', 'impressions'] } } : t)) };
    for (const [sql, mf, re] of [
      [`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 5`, m, /publisher\.campaign is a string column; compare it with a string literal, not 5/],
      [`SELECT COUNT(*) ${JOIN} WHERE p.campaign IN ('spring', 3)`, m, /compare it with a string literal, not 3/],
      [`SELECT COUNT(*) ${JOIN} WHERE p.campaign = true`, m, /compare it with a string literal/],
      // A column alone is the test that a boolean is true: of a string column, the same refusal.
      [`SELECT COUNT(*) ${JOIN} WHERE p.campaign`, m, /publisher\.campaign is a string column; compare it with a string literal, not true/],
      [`SELECT COUNT(*) ${JOIN} WHERE p.impressions > 'ten'`, withNumeric, /publisher\.impressions is a integer column; compare it with a number literal, not 'ten'/],
      [`SELECT COUNT(*) ${JOIN} WHERE p.impressions BETWEEN 1 AND '9'`, withNumeric, /compare it with a number literal, not '9'/],
    ] as const) {
      const err = await refusal(sql, mf, PUBLISHER);
      expect(err).not.toBeInstanceOf(RuleViolation);
      expect(err.code).toBe('QUERY_INVALID');
      expect(err.message).toMatch(re);
    }
    await expect(plan(`SELECT COUNT(*) ${JOIN} WHERE p.impressions BETWEEN 1 AND 9`, withNumeric, PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
  });

  it('unknown tables and columns are QUERY_INVALID, not rule violations', async () => {
    const a = await refusal('SELECT COUNT(*) FROM publisher p JOIN payroll x ON p.email = x.email', manifest, PUBLISHER);
    expect(a.code).toBe('QUERY_INVALID');
    expect(a.message).toMatch(/no table payroll in the collaboration; tables: publisher, advertiser/);
    const b = await refusal(`SELECT SUM(a.salary) ${JOIN}`, manifest, ADVERTISER);
    expect(b.code).toBe('QUERY_INVALID');
    expect(b.message).toMatch(/no column advertiser\.salary/);
  });
});

describe('signed manifests', () => {
  function signedBy(c: Collaboration, members: readonly string[], manifest: Manifest = c.manifest): { manifest: unknown; signatures: Record<string, string> } {
    return { manifest: JSON.parse(JSON.stringify(manifest)), signatures: Object.fromEntries(members.map((id) => [id, signManifest(manifest, id, c.identities[id]!.secretKey)])) };
  }
  const all = [PUBLISHER, ADVERTISER, AUDITOR];

  it('accepts a manifest signed by every member', () => {
    const c = buildCollaboration();
    const doc = signedBy(c, all);
    const parsed = parseSignedManifest(doc, true);
    expect(parsed.manifest).toEqual(c.manifest);
    expect(unsignedMembers(parsed)).toEqual([]);
  });

  it('refuses a manifest missing a signature (MANIFEST_UNSIGNED), but can read it when signatures are not required', () => {
    const c = buildCollaboration();
    const doc = signedBy(c, [PUBLISHER, AUDITOR]);
    expect(() => parseSignedManifest(doc, true)).toThrow(expect.objectContaining({ code: 'MANIFEST_UNSIGNED', message: expect.stringContaining('missing or invalid signature of advertiser') }));
    expect(parseSignedManifest(doc, false).manifest).toEqual(c.manifest);
    expect(() => parseSignedManifest({ manifest: c.manifest, signatures: {} }, true)).toThrow(expect.objectContaining({ code: 'MANIFEST_UNSIGNED', message: expect.stringContaining('publisher, advertiser, auditor') }));
  });

  it('refuses a manifest changed after signing: no signature verifies any more', () => {
    const c = buildCollaboration();
    const doc = signedBy(c, all);
    const tables = (doc.manifest as Manifest).tables;
    (tables[1] as { rules: { overlapDisclosure: string[] } }).rules.overlapDisclosure = [PUBLISHER]; // quietly grant disclosure
    expect(() => parseSignedManifest(doc, true)).toThrow(expect.objectContaining({ code: 'MANIFEST_UNSIGNED', message: expect.stringContaining('publisher, advertiser, auditor') }));
    // Reordering keys, by contrast, is not a change: the hash is over the canonical (RFC 8785) form.
    const reordered = signedBy(c, all);
    const m = reordered.manifest as Record<string, unknown>;
    const shuffled = Object.fromEntries(Object.keys(m).reverse().map((k) => [k, m[k]]));
    expect(() => parseSignedManifest({ manifest: shuffled, signatures: reordered.signatures }, true)).not.toThrow();
  });

  it('refuses a signature by a non-member, and a member\'s signature made with another key', () => {
    const c = buildCollaboration();
    const doc = signedBy(c, all);
    const stranger = buildCollaboration(); // same member ids, other keys
    const withStranger = { ...doc, signatures: { ...doc.signatures, stranger: signManifest(stranger.manifest, PUBLISHER, stranger.identities[PUBLISHER]!.secretKey) } };
    expect(() => parseSignedManifest(withStranger, true)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID', message: 'signatures from non-members: stranger' }));
    // The advertiser's genuine signature filed under the publisher's name does not verify with the publisher's key.
    const swapped = { ...doc, signatures: { ...doc.signatures, [PUBLISHER]: doc.signatures[ADVERTISER]! } };
    expect(() => parseSignedManifest(swapped, true)).toThrow(expect.objectContaining({ code: 'MANIFEST_UNSIGNED', message: expect.stringContaining('missing or invalid signature of publisher;') }));
    // And signManifest itself refuses to sign with a key the manifest does not list for that member.
    expect(() => signManifest(c.manifest, PUBLISHER, stranger.identities[PUBLISHER]!.secretKey)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
  });
});

describe('the manifest schema', () => {
  const base = buildCollaboration().manifest;
  const withTables = (...tables: Table[]): unknown => ({ ...base, tables });
  const issues = (doc: unknown): string[] => {
    const r = ManifestSchema.safeParse(doc);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts the harness collaboration', () => {
    expect(issues(base)).toEqual([]);
  });

  it('refuses a join key as a dimension', () => {
    const p = publisherTable();
    expect(issues(withTables({ ...p, rules: { ...p.rules, dimensions: ['campaign', 'email'] } }, advertiserTable()))).toEqual([
      'tables.0.rules.dimensions.1: the join key publisher.email can never be a dimension',
    ]);
  });

  it('refuses a table owned by someone who is not a member, and other unknown member references', () => {
    const a = advertiserTable();
    expect(issues(withTables(publisherTable(), { ...a, owner: 'stranger' }))).toEqual(['tables.1.owner: stranger is not a member']);
    expect(issues({ ...base, receivers: ['stranger'] })).toEqual(['receivers.0: stranger is not a member']);
    expect(issues(withTables(publisherTable(), { ...a, rules: { ...a.rules, overlapDisclosure: ['stranger'] } }))).toEqual(['tables.1.rules.overlapDisclosure.0: stranger is not a member']);
  });

  it('refuses bounds under which a sum over the row limit could wrap the 2^128 share ring, and accepts the largest that cannot', () => {
    const a = advertiserTable();
    const amount = (min: number, max: number, scale: number): Table => ({
      ...a,
      columns: a.columns.map((c) => (c.name === 'amount' ? { name: 'amount', type: 'decimal', scale, min, max } : c)),
    });
    // maxAbs * 10^scale * 2^40 rows must stay within 2^127 - 1.
    expect(issues(withTables(publisherTable(), amount(0, 2 ** 86, 0)))).toEqual([]);
    expect(issues(withTables(publisherTable(), amount(0, 2 ** 87, 0)))).toEqual([
      'tables.1.columns.1: column advertiser.amount: bounds too wide, a sum over 1099511627776 rows could wrap the 2^128 share ring',
    ]);
    expect(issues(withTables(publisherTable(), amount(-(2 ** 87), 0, 0)))).toHaveLength(1);
    expect(issues(withTables(publisherTable(), amount(-1e18, 1e18, 9)))).toHaveLength(1);
    expect(issues(withTables(publisherTable(), amount(-1e8, 1e8, 9)))).toEqual([]);
    expect(issues(withTables(publisherTable(), amount(10, 5, 2)))).toEqual(['tables.1.columns.1: column advertiser.amount: min is above max']);
  });

  it('refuses what parseSignedManifest must never let through, with MANIFEST_INVALID', () => {
    const c = buildCollaboration();
    const p = publisherTable();
    const bad = { ...c.manifest, tables: [{ ...p, rules: { ...p.rules, dimensions: ['email'] } }, advertiserTable()] };
    expect(() => parseSignedManifest({ manifest: bad, signatures: {} }, false)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID', message: expect.stringContaining('can never be a dimension') }));
  });
});

describe('planQuery: HAVING, ORDER BY and LIMIT name only outputs, and change nothing released', () => {
  const { manifest } = buildCollaboration();
  const GROUPED = 'SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category';

  it('a value the query does not output, in HAVING or ORDER BY (privacy-model.after-release): it would have to be opened to be tested', async () => {
    const allowed = 'the outputs, by name or as SELECT writes them: category (advertiser.category), count (COUNT(*))';
    await expectRule(`${GROUPED} HAVING SUM(a.amount) > 0`, manifest, ADVERTISER, 'privacy-model.after-release', allowed, /HAVING names SUM\(advertiser\.amount\), which the query does not output/);
    await expectRule(`${GROUPED} ORDER BY AVG(a.amount) DESC`, manifest, ADVERTISER, 'privacy-model.after-release', allowed, /ORDER BY names AVG\(advertiser\.amount\)/);
    // A dimension that filters but is not an output is no more released than a sum.
    await expectRule(`${GROUPED} HAVING p.campaign = 'spring'`, manifest, ADVERTISER, 'privacy-model.after-release', allowed, /HAVING names publisher\.campaign/);
    await expectRule(`SELECT COUNT(*) ${JOIN} ORDER BY a.category`, manifest, ADVERTISER, 'privacy-model.after-release', 'the outputs, by name or as SELECT writes them: count (COUNT(*))');
  });

  it('outputs named by alias, default name, expression or column resolve to their index; under a policy too', async () => {
    const sql = `SELECT a.category AS Cat, COUNT(*) AS n, SUM(a.amount) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category
      HAVING COUNT(*) >= 3 AND sum_amount > 0 AND cat != 'toys' ORDER BY N DESC, a.category NULLS FIRST, SUM(a.amount) LIMIT 2 OFFSET 1`;
    const expected = {
      having: [
        { output: 1, test: { kind: 'compare', op: '>=', value: { type: 'number', value: '3' } } },
        { output: 2, test: { kind: 'compare', op: '>', value: { type: 'number', value: '0' } } },
        { output: 0, test: { kind: 'compare', op: '!=', value: { type: 'string', value: 'toys' } } },
      ],
      orderBy: [
        { output: 1, descending: true, nullsFirst: false },
        { output: 0, descending: false, nullsFirst: true },
        { output: 2, descending: false, nullsFirst: false },
      ],
      limit: 2,
      offset: 1,
    };
    expect((await plan(sql, manifest, ADVERTISER)).afterRelease).toStrictEqual(expected);
    const dp = buildCollaboration({ categoryValues: ['books', 'toys'], privacy: { advertiser: TEST_POLICY } }).manifest;
    const noisy = await plan(sql, dp, ADVERTISER);
    expect(noisy.privacy).toBeDefined();
    expect(noisy.afterRelease).toStrictEqual(expected);
  });

  it('the plan with them releases exactly what it releases without them: same groups, columns and receivers', async () => {
    const dp = buildCollaboration({ categoryValues: ['books', 'toys'], privacy: { advertiser: TEST_POLICY } }).manifest;
    for (const m of [manifest, dp]) {
      const { afterRelease, ...shaped } = await plan(`${GROUPED} HAVING count > 1000 ORDER BY count DESC LIMIT 1`, m, ADVERTISER);
      expect(afterRelease).toBeDefined();
      expect(shaped).toStrictEqual(await plan(GROUPED, m, ADVERTISER));
    }
  });

  it('an output name the query does not have (QUERY_INVALID, naming the outputs)', async () => {
    for (const [sql, re] of [
      [`${GROUPED} ORDER BY total`, /^ORDER BY total: no output column is named total; the outputs are category, count$/],
      [`${GROUPED} HAVING amount > 5`, /^HAVING amount: no output column is named amount/],
    ] as const) {
      const err = await refusal(sql, manifest, ADVERTISER);
      expect(err).not.toBeInstanceOf(RuleViolation);
      expect(err.code).toBe('QUERY_INVALID');
      expect(err.message).toMatch(re);
    }
  });

  it('a HAVING literal of the wrong type for its output (QUERY_INVALID)', async () => {
    const numericLabel: Manifest = { ...manifest, tables: manifest.tables.map((t) => (t.name === 'advertiser' ? { ...t, rules: { ...t.rules, dimensions: ['category', 'age'] } } : t)) };
    for (const [sql, m, re] of [
      [`${GROUPED} HAVING count > 'ten'`, manifest, /^HAVING count is an aggregate; compare it with a number literal, not 'ten'$/],
      [`${GROUPED} HAVING count = true`, manifest, /compare it with a number literal, not true/],
      [`${GROUPED} HAVING a.category IN ('books', 5)`, manifest, /^HAVING category is a label of the string column advertiser\.category; compare it with a string literal, not 5$/],
      [`SELECT a.age, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.age HAVING age BETWEEN '1' AND 9`, numericLabel, /^HAVING age is a label of the integer column advertiser\.age; compare it with a number literal, not '1'$/],
    ] as const) {
      const err = await refusal(sql, m, ADVERTISER);
      expect(err.code).toBe('QUERY_INVALID');
      expect(err.message).toMatch(re);
    }
  });
});

describe('planQuery: WHERE conditions, each OR group on one table', () => {
  const { manifest } = buildCollaboration();
  const ONE_TABLE = 'each OR group naming columns of one table; conditions on different tables joined by AND';
  /** The publisher's region becomes a dimension, which its grant to the advertiser does not list as a filter. */
  const regional = ManifestSchema.parse({ ...manifest, tables: [{ ...publisherTable(), rules: { ...publisherTable().rules, dimensions: ['campaign', 'region'] } }, advertiserTable()] });

  it('an OR, or a NOT over an AND, reading two tables (privacy-model.one-table-per-or): no owner could evaluate it before PSI', async () => {
    const problem = /a condition in WHERE reads columns of publisher and advertiser under one OR \(or a NOT over an AND\)/;
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 'spring' OR a.category = 'toys'`, manifest, PUBLISHER, 'privacy-model.one-table-per-or', ONE_TABLE, problem);
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE NOT (p.campaign = 'spring' AND a.category IS NULL)`, manifest, PUBLISHER, 'privacy-model.one-table-per-or', ONE_TABLE, problem);
    await expectRule(`SELECT a.category, COUNT(*) ${JOIN} WHERE a.category = 'x' AND (a.category LIKE 'b%' OR (lower(a.category) = 'y' AND p.campaign = 'z')) GROUP BY a.category`, manifest, ADVERTISER, 'privacy-model.one-table-per-or', ONE_TABLE);
    // A NOT over an OR of two tables is an AND of two conditions, one per table; each owner evaluates its own.
    const split = await plan(`SELECT a.category, COUNT(*) ${JOIN} WHERE NOT (p.campaign = 'spring' OR a.category LIKE 't%') GROUP BY a.category`, manifest, ADVERTISER);
    expect(split.aggregator.filters).toStrictEqual([{ kind: 'not', operand: { kind: 'like', column: { table: 'advertiser', column: 'category' }, pattern: 't%', caseInsensitive: false } }]);
    expect(split.others[0]!.filters).toStrictEqual([{ kind: 'compare', column: { table: 'publisher', column: 'campaign' }, op: '!=', value: { type: 'string', value: 'spring' } }]);
  });

  it('a column that is not a dimension anywhere in a condition: inside an OR, under a NOT, inside lower() (the join key too)', async () => {
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 'spring' OR p.region = 'eu'`, manifest, PUBLISHER, 'publisher.rules.dimensions', 'publisher.campaign', /publisher\.region may not be used in WHERE/);
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE NOT (p.campaign = 'spring' AND p.region IS NOT NULL)`, manifest, PUBLISHER, 'publisher.rules.dimensions', 'publisher.campaign');
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE lower(a.email) LIKE '%@example.com'`, manifest, PUBLISHER, 'advertiser.rules.dimensions', 'advertiser.category', /advertiser\.email may not be used in WHERE/);
    await expectRule(`SELECT COUNT(*) ${JOIN} WHERE a.category = 'x' OR a.amount IS NULL`, manifest, PUBLISHER, 'advertiser.rules.dimensions', 'advertiser.category');
  });

  it('a granting table filtered on a column its grant does not list, inside an OR or under NOT; OR and NOT over listed columns are fine', async () => {
    const grouped = (where: string) => `SELECT a.category, COUNT(*) ${JOIN} WHERE ${where} GROUP BY a.category`;
    for (const where of ["p.campaign = 'spring' OR p.region = 'eu'", 'p.region IS NULL', "NOT (p.campaign LIKE 's%' AND upper(p.region) = 'EU')"]) {
      await expectRule(grouped(where), regional, ADVERTISER, 'publisher.rules.overlapDisclosure', 'filters on publisher.campaign', /filtering publisher on region would narrow the key set/);
    }
    for (const where of ["p.campaign = 'spring' OR p.campaign ILIKE 'SUM%'", "NOT (p.campaign IN ('spring', 'summer') OR p.campaign IS NULL)", "trim(p.campaign) NOT BETWEEN 'a' AND 'm'"]) {
      await expect(plan(grouped(where), regional, ADVERTISER)).resolves.toMatchObject({ mode: 'aggregate' });
    }
    // Count-only discloses no membership: any dimension filters it, in any combination.
    await expect(plan(`SELECT COUNT(*) ${JOIN} WHERE p.campaign = 'spring' OR p.region IS NULL`, regional, ADVERTISER)).resolves.toMatchObject({ mode: 'count-only' });
  });

  it('LIKE, ILIKE or a string function on a numeric column, and a literal of the wrong type inside an OR (QUERY_INVALID)', async () => {
    const withNumeric = ManifestSchema.parse({ ...manifest, tables: [{ ...publisherTable(), rules: { ...publisherTable().rules, dimensions: ['campaign', 'impressions'] } }, advertiserTable()] });
    for (const [where, re] of [
      ["p.impressions LIKE '1%'", /^LIKE applies to string columns; publisher\.impressions is a integer column: compare it with =, <, BETWEEN or IN$/],
      ["p.campaign = 'x' OR p.impressions NOT ILIKE '1%'", /^ILIKE applies to string columns/],
      ["upper(p.impressions) = '1'", /^upper\(\) applies to string columns; publisher\.impressions is a integer column$/],
      ["trim(p.impressions) IS NULL", /^trim\(\) applies to string columns/],
      ["p.campaign = 'x' OR NOT (p.impressions IN (1, 'two'))", /compare it with a number literal, not 'two'/],
      ['lower(p.campaign) IN (1)', /publisher\.campaign is a string column; compare it with a string literal, not 1/],
    ] as const) {
      const err = await refusal(`SELECT COUNT(*) ${JOIN} WHERE ${where}`, withNumeric, PUBLISHER);
      expect(err).not.toBeInstanceOf(RuleViolation);
      expect(err.code).toBe('QUERY_INVALID');
      expect(err.message).toMatch(re);
    }
    await expect(plan(`SELECT COUNT(*) ${JOIN} WHERE p.impressions IS NULL OR NOT p.impressions BETWEEN 1 AND 9`, withNumeric, PUBLISHER)).resolves.toMatchObject({ mode: 'count-only' });
  });
});
