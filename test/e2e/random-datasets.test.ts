/**
 * Random datasets through real node processes: two nodes per cluster, WebSockets on loopback, queries through
 * the control interface, every cell compared with the plaintext oracle's answer over the same CSV files.
 */
import { type QueryResult } from '../../src/query/result.js';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { controlEndpoint, submitQuery } from '../../src/control/control-client.js';
import type { ControlEvent } from '../../src/control/control-event.js';
import { plaintextAnswer, type PlaintextAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import type { Row } from '../../scripts/plaintext/rows.js';
import { assertMatches, dropped, makeTempDir, startCluster, type Cluster } from './helpers.js';
import {
  disjointEmails,
  exactRefs,
  identicalEmails,
  keyColumn,
  mixedEmails,
  phones,
  salesColumns,
  UNICODE_TWINS,
  unicodeEmails,
  visitsColumns,
  writeDataset,
  type Dataset,
  type DatasetFiles,
} from './random-data.js';

const A = 'alpha';
const B = 'beta';

interface Pair {
  readonly tag: string;
  readonly data: Dataset;
  readonly salesMin: number;
  readonly visitsMin: number;
  readonly salesGrants: string[];
  readonly visitsGrants: string[];
}

/** s_<tag> belongs to alpha (amounts, categories), v_<tag> to beta (campaigns, impressions). */
function tables(p: Pair): Table[] {
  const key = keyColumn(p.data.normalization);
  return [
    {
      name: `s_${p.tag}`,
      owner: A,
      columns: salesColumns(key),
      joinKey: { column: key, normalization: p.data.normalization },
      rules: {
        aggregations: [
          { column: 'amount', functions: ['sum', 'avg'] },
          { column: 'qty', functions: ['sum', 'avg'] },
        ],
        dimensions: ['category', 'tier', 'amount', 'qty'],
        minDistinctKeys: p.salesMin,
        // Every grant lets the granted member filter by any dimension: these tests are about answers, not grants.
        overlapDisclosure: p.salesGrants.map((member) => ({ member, filters: ['category', 'tier', 'amount', 'qty'] })),
      },
    },
    {
      name: `v_${p.tag}`,
      owner: B,
      columns: visitsColumns(key),
      joinKey: { column: key, normalization: p.data.normalization },
      rules: {
        aggregations: [
          { column: 'impressions', functions: ['sum', 'avg'] },
          { column: 'score', functions: ['sum'] },
        ],
        dimensions: ['campaign', 'channel', 'week', 'impressions', 'score'],
        minDistinctKeys: p.visitsMin,
        overlapDisclosure: p.visitsGrants.map((member) => ({ member, filters: ['campaign', 'channel', 'week', 'impressions', 'score'] })),
      },
    },
  ];
}

interface Env {
  tmp?: Awaited<ReturnType<typeof makeTempDir>>;
  cluster?: Cluster;
  files: Record<string, DatasetFiles>;
  /** Every table's rows as the nodes read them from their files: what the plaintext oracle pools. */
  pooled: Record<string, Row[]>;
}

/** Fills `env` step by step, so that tearDown releases whatever was set up even when a later step fails. */
async function setUp(env: Env, name: string, pairs: Pair[], receivers: string[]): Promise<{ cluster: Cluster; expected: (sql: string) => Promise<PlaintextAnswer> }> {
  const tmp = (env.tmp = await makeTempDir(name));
  const dataDir = join(tmp.dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const files = env.files;
  for (const p of pairs) {
    const f = await writeDataset(dataDir, p.data);
    files[p.tag] = f;
    env.pooled[`s_${p.tag}`] = await readCsvRows(f.sales);
    env.pooled[`v_${p.tag}`] = await readCsvRows(f.visits);
  }
  const cluster = (env.cluster = await startCluster({
    dir: join(tmp.dir, 'nodes'),
    collaborationId: name,
    members: [
      { id: A, name: 'Alpha Retail', tables: Object.fromEntries(pairs.map((p) => [`s_${p.tag}`, { path: files[p.tag]!.sales, format: 'csv' as const }])) },
      { id: B, name: 'Beta Media', tables: Object.fromEntries(pairs.map((p) => [`v_${p.tag}`, { path: files[p.tag]!.visits, format: 'csv' as const }])) },
    ],
    tables: pairs.flatMap(tables),
    queriers: [A, B],
    receivers,
  }));
  return { cluster, expected: (sql) => plaintextAnswer(sql, pairs.flatMap(tables), env.pooled) };
}

async function tearDown(env: Env): Promise<void> {
  await env.cluster?.stop();
  await env.tmp?.cleanup();
}

/** The last event of a query on the control interface (result, released or error). */
async function submit(nodeDir: string, sql: string): Promise<ControlEvent> {
  let last: ControlEvent | undefined;
  for await (const e of submitQuery(await controlEndpoint(nodeDir), sql)) if (e.type !== 'progress') last = e;
  if (!last) throw new Error('the control stream closed without an answer');
  return last;
}

async function resultFile(nodeDir: string, queryId: string): Promise<QueryResult> {
  const file = join(nodeDir, 'results', `${queryId}.json`);
  // The receiver writes its copy when its own session ends, which may be a moment after the querier's answer.
  for (let i = 0; ; i++) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as QueryResult;
    } catch (err) {
      if (i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// Seeds are fixed: the data, and so every threshold decision below, is the same on every machine.
const mixed = mixedEmails(20240601, 2500, 3000);

/**
 * Hand-made rows for exact semantics: averages that sit exactly halfway between two 6-decimal values, a group
 * whose summed values are all NULL, zeros next to tiny positive amounts. Every sales person is a visitor.
 */
/** A legitimate category value longer than the 1,000 characters a `labels` message may carry per label. */
const LONG_LABEL = `long-${'label-'.repeat(240)}`;

function edgeDataset(): Dataset {
  const email = (i: number) => `edge${i}@example.org`;
  const sales: Dataset['sales'] = [];
  const add = (category: string, rows: [string | null, number | null][], from: number) =>
    rows.forEach(([amount, qty], j) => sales.push([email(from + j), amount, qty, category, 1]));
  // 128 rows: amounts sum to 0.04 (avg 0.0003125), qty to 1 (avg 0.0078125): both exactly half a unit of the 6th decimal.
  const halfway = Array.from({ length: 128 }, (_, j): [string, number] => [j < 127 ? '0.50' : '-63.46', j < 64 ? 1 : j < 127 ? -1 : 0]);
  add('half-away', halfway, 0);
  add('half-away-neg', halfway.map(([a, q]) => [a.startsWith('-') ? a.slice(1) : `-${a}`, -q]), 128);
  add('all-null', Array.from({ length: 5 }, () => [null, null]), 256);
  add('zero', Array.from({ length: 6 }, () => ['0.00', 0]), 261);
  add('tiny', Array.from({ length: 6 }, () => ['0.01', 1]), 267);
  add(LONG_LABEL, Array.from({ length: 5 }, () => ['1.00', 1]), 273);
  const visits = Array.from({ length: 400 }, (_, i) => [email(i), 'spring', 'web', i, '1.00', 1 + (i % 52)]);
  return { name: 'edge', normalization: 'email', sales, visits };
}

describe('random datasets, both members receive results', () => {
  const pairs: Pair[] = [
    { tag: 'mixed', data: mixed, salesMin: 3, visitsMin: 4, salesGrants: [B], visitsGrants: [A] },
    { tag: 'disjoint', data: disjointEmails(7), salesMin: 1, visitsMin: 1, salesGrants: [B], visitsGrants: [A] },
    { tag: 'identical', data: identicalEmails(11, 400), salesMin: 3, visitsMin: 3, salesGrants: [B], visitsGrants: [A] },
    { tag: 'phones', data: phones(13, 1500, 1200), salesMin: 5, visitsMin: 3, salesGrants: [B], visitsGrants: [A] },
    { tag: 'exact', data: exactRefs(17, 1000, 1000), salesMin: 3, visitsMin: 3, salesGrants: [B], visitsGrants: [A] },
    { tag: 'unicode', data: unicodeEmails(19), salesMin: 3, visitsMin: 3, salesGrants: [B], visitsGrants: [A] },
    { tag: 'edge', data: edgeDataset(), salesMin: 3, visitsMin: 3, salesGrants: [B], visitsGrants: [A] },
  ];
  const env: Env = { files: {}, pooled: {} };
  let cluster: Cluster;
  let expected: (sql: string) => Promise<PlaintextAnswer>;

  beforeAll(async () => {
    ({ cluster, expected } = await setUp(env, 'random-both', pairs, [A, B]));
  });
  afterAll(() => tearDown(env));

  /** Runs `sql` at `asker`'s node and compares the answer with the plaintext oracle's; returns the oracle's. */
  async function check(asker: string, sql: string, columns: string[]): Promise<PlaintextAnswer> {
    const answer = await query(cluster.nodeDirs[asker]!, sql);
    if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
    const exp = await expected(sql);
    assertMatches(answer.result, exp, columns);
    return exp;
  }

  describe('mixed emails: duplicates, unicode, whitespace, case, NULL and empty keys (about 2,500 x 3,000 rows)', () => {
    it('count-only without filters, asked by the sales side', async () => {
      const exp = await check(A, 'SELECT COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email', ['count']);
      expect(exp.rows[0]![0]).toBeGreaterThan(500);
    });

    it('count-only with filters on both sides (IN, !=, BETWEEN, AND), asked by the visits side', async () => {
      await check(
        B,
        "SELECT COUNT(*) AS people FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE s.category IN ('books', 'toys', 'café') AND v.campaign != 'winter' AND v.week BETWEEN 10 AND 40",
        ['people'],
      );
    });

    it('GROUP BY a string dimension with SUM and AVG of a decimal and an integer, filter on the other side', async () => {
      const exp = await check(
        A,
        "SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount), SUM(s.qty), AVG(s.qty) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE v.campaign = 'spring' GROUP BY s.category",
        ['category', 'count', 'sum_amount', 'avg_amount', 'sum_qty', 'avg_qty'],
      );
      expect(exp.rows.length).toBeGreaterThanOrEqual(5);
      // With this seed the NULL category rests on 3 matched keys (dropped) and two rare ones on exactly 4 (released).
      expect(exp.groups.find((g) => g.labels[0] === null)?.keys).toBe(3);
      expect(dropped(exp)).toBe(1);
      expect(exp.groups.filter((g) => g.keys === 4).length).toBeGreaterThan(0);
    });

    it('GROUP BY a string and an integer dimension, filters on both sides (>=, <=, >): small groups are dropped', async () => {
      const exp = await check(
        A,
        'SELECT s.category, s.tier, COUNT(*), SUM(s.amount), AVG(s.amount) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE s.amount >= -20.5 AND s.tier <= 3 AND v.impressions > 100 GROUP BY s.category, s.tier',
        ['category', 'tier', 'count', 'sum_amount', 'avg_amount'],
      );
      expect(exp.rows.length).toBeGreaterThan(5);
      expect(dropped(exp)).toBeGreaterThan(0);
    });

    it('the visits side aggregates, asked by the sales side: GROUP BY two dimensions, filters (<, >=) on both sides', async () => {
      const exp = await check(
        A,
        'SELECT v.channel, v.week, COUNT(*), SUM(v.impressions), AVG(v.impressions) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE s.amount < 100 AND v.score >= -50.25 GROUP BY v.channel, v.week',
        ['channel', 'week', 'count', 'sum_impressions', 'avg_impressions'],
      );
      expect(exp.rows.length).toBeGreaterThan(0);
      expect(dropped(exp)).toBeGreaterThan(0);
    });

    it('no GROUP BY: totals over the visits side, filters (>, !=, IN) on both sides', async () => {
      await check(
        B,
        "SELECT COUNT(*), SUM(v.score), AVG(v.impressions) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE s.qty > 0 AND s.category != 'books' AND v.campaign IN ('summer', 'autumn')",
        ['count', 'sum_score', 'avg_impressions'],
      );
    });

    it('aliases, a literal on the left (27 > v.week) and <= on a decimal', async () => {
      const exp = await check(
        B,
        'SELECT s.tier AS t, COUNT(*) AS n, AVG(s.qty) AS mean_qty, SUM(s.amount) AS total FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE 27 > v.week AND s.amount <= 999.99 GROUP BY s.tier',
        ['t', 'n', 'mean_qty', 'total'],
      );
      expect(exp.rows.some((r) => r[0] === null), 'rows with a NULL tier form a released group labelled null').toBe(true);
    });

    it('WHERE with AND, OR, NOT, IS NULL, LIKE, ILIKE and NOT IN on both sides, count-only, asked by the visits side', async () => {
      const exp = await check(
        B,
        "SELECT COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE (s.category ILIKE 'books' OR s.category LIKE 'caf_' OR s.category IS NULL) AND NOT (v.campaign IN ('winter', 'spring') OR v.channel LIKE 'e-%')",
        ['count'],
      );
      expect(exp.rows[0]![0]).toBeGreaterThan(0);
    });

    it('WHERE with lower, upper and trim, NOT IN and NOT BETWEEN, GROUP BY on the sales side', async () => {
      const exp = await check(
        A,
        "SELECT s.category, COUNT(*), SUM(s.amount) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE lower(s.category) NOT IN ('toys', 'garden') AND (v.campaign IS NULL OR upper(trim(v.channel)) = 'APP' OR v.week NOT BETWEEN 10 AND 40) GROUP BY s.category",
        ['category', 'count', 'sum_amount'],
      );
      // lower(NULL) NOT IN (...) is unknown: the NULL category is filtered out; Books and books stay apart.
      expect(exp.rows.map((r) => r[0])).toEqual(expect.arrayContaining(['Books', 'books', 'café']));
      expect(exp.groups.some((g) => g.labels[0] === null || g.labels[0] === 'toys')).toBe(false);
    });

    it('WHERE with NOT over AND and IS NOT NULL, GROUP BY on the visits side', async () => {
      const exp = await check(
        A,
        "SELECT v.channel, COUNT(*), AVG(v.impressions) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE s.tier IS NOT NULL AND NOT (s.amount < 0 AND s.category LIKE '%o%') AND (v.score IS NULL OR v.score > 0 OR v.campaign ILIKE 'SUM%') GROUP BY v.channel",
        ['channel', 'count', 'avg_impressions'],
      );
      expect(exp.rows.length).toBe(4);
    });

    it('refuses a query that breaks a rule with RULE_VIOLATION through the control interface', async () => {
      const cases = [
        // AVG is not among the functions beta allows on score.
        [A, 'SELECT AVG(v.score) FROM v_mixed v JOIN s_mixed s ON v.email = s.email', 'v_mixed.rules.aggregations'],
        // The join key is never a dimension.
        [B, 'SELECT s.email, COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email GROUP BY s.email', 's_mixed.rules.dimensions'],
        // Aggregate columns from both tables: the privacy model has one aggregating member.
        [A, 'SELECT SUM(s.amount), SUM(v.impressions) FROM s_mixed s JOIN v_mixed v ON s.email = v.email', 'single-aggregator'],
        // GROUP BY the partner's column (SPEC §4.6) takes its labels from the manifest, which declares none here.
        [A, 'SELECT s.category, SUM(v.impressions) FROM s_mixed s JOIN v_mixed v ON s.email = v.email GROUP BY s.category', 's_mixed.columns.category.values'],
        // An OR across the two tables: neither owner could evaluate it on its own rows before PSI.
        [B, "SELECT COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE s.category = 'books' OR v.campaign = 'spring'", 'privacy-model.one-table-per-or'],
      ] as const;
      for (const [asker, sql, rule] of cases) {
        const answer = await query(cluster.nodeDirs[asker]!, sql);
        expect(answer, sql).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION' });
        expect(answer.kind === 'error' && answer.message, sql).toContain(rule);
      }
    });
  });

  describe('empty intersection (NULL keys, empty keys and near misses on both sides, minDistinctKeys 1)', () => {
    it('count-only releases nothing and the reference agrees the intersection is empty', async () => {
      const exp = await check(A, 'SELECT COUNT(*) FROM s_disjoint s JOIN v_disjoint v ON s.email = v.email', ['count']);
      expect(exp.groups).toEqual([{ labels: [], keys: 0, rows: 0 }]);
      expect(exp.rows).toEqual([]);
    });

    it('an aggregate query releases no group', async () => {
      const exp = await check(
        B,
        'SELECT s.category, COUNT(*), SUM(s.amount) FROM s_disjoint s JOIN v_disjoint v ON s.email = v.email GROUP BY s.category',
        ['category', 'count', 'sum_amount'],
      );
      expect(exp.groups).toEqual([]);
    });
  });

  describe('full intersection: the same 400 people on both sides, spelt differently', () => {
    it('count-only counts every person once', async () => {
      const exp = await check(B, 'SELECT COUNT(*) FROM v_identical v JOIN s_identical s ON v.email = s.email', ['count']);
      expect(exp.rows).toEqual([[400]]);
    });

    it('every sales row is matched', async () => {
      const exp = await check(
        A,
        'SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount) FROM s_identical s JOIN v_identical v ON s.email = v.email GROUP BY s.category',
        ['category', 'count', 'sum_amount', 'avg_amount'],
      );
      // Independent of the oracle: every one of the 600 sales rows is in some group.
      expect(exp.groups.reduce((n, g) => n + g.rows, 0)).toBe(pairs.find((p) => p.tag === 'identical')!.data.sales.length);
      expect(exp.rows.length).toBeGreaterThan(0);
    });
  });

  describe("'phone' normalisation: digits only (1,500 x 1,200 rows, minDistinctKeys 5)", () => {
    it('count-only with a filter on the asker side', async () => {
      await check(
        B,
        "SELECT COUNT(*) FROM v_phones v JOIN s_phones s ON v.phone = s.phone WHERE v.channel = 'app'",
        ['count'],
      );
    });

    it('GROUP BY an integer dimension with filters on both sides', async () => {
      const exp = await check(
        A,
        "SELECT s.tier, COUNT(*), SUM(s.qty), AVG(s.amount) FROM s_phones s JOIN v_phones v ON s.phone = v.phone WHERE v.impressions <= 2500 AND s.category IN ('books', 'toys', 'rare-yak') GROUP BY s.tier",
        ['tier', 'count', 'sum_qty', 'avg_amount'],
      );
      expect(exp.rows.length).toBeGreaterThanOrEqual(4);
    });
  });

  describe("'exact' normalisation: case and whitespace are part of the key", () => {
    it('count-only', async () => {
      await check(A, 'SELECT COUNT(*) FROM s_exact s JOIN v_exact v ON s.ref = v.ref', ['count']);
    });

    it('the visits side aggregates per campaign', async () => {
      await check(
        B,
        'SELECT v.campaign, COUNT(*), SUM(v.impressions), SUM(v.score) FROM v_exact v JOIN s_exact s ON v.ref = s.ref WHERE s.amount > 0 GROUP BY v.campaign',
        ['campaign', 'count', 'sum_impressions', 'sum_score'],
      );
    });
  });
  describe('emails equal only by the simple lowercase of SPEC §3 (Kelvin sign, İ, ẞ, final Σ), beside near misses', () => {
    it('count-only finds exactly the twins: no near miss (NFD, ß and SS, ς, full-width, ı) matches', async () => {
      const exp = await check(B, 'SELECT COUNT(*) FROM v_unicode v JOIN s_unicode s ON v.email = s.email', ['count']);
      expect(exp.rows).toEqual([[UNICODE_TWINS.length]]);
    });

    it('every sales row of a twin is matched, and no other', async () => {
      const exp = await check(A, 'SELECT COUNT(*), SUM(s.amount) FROM s_unicode s JOIN v_unicode v ON s.email = v.email', ['count', 'sum_amount']);
      // Independent of the oracle: the sales rows spelt as a twin's first spelling, ASCII whitespace aside.
      const twins = new Set(UNICODE_TWINS.map(([s]) => s));
      const rows = pairs.find((p) => p.tag === 'unicode')!.data.sales.filter((r) => twins.has(String(r[0]).replace(/^[ \t\v\f]+|[ \t\v\f]+$/g, '')));
      expect(exp.rows[0]![0]).toBe(rows.length);
    });
  });

  describe('exact semantics on hand-made rows', () => {
    it('AVG is rounded half away from zero at 6 decimals, for decimals and integers, positive and negative', async () => {
      const exp = await check(
        A,
        "SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount), SUM(s.qty), AVG(s.qty) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.category IN ('half-away', 'half-away-neg', 'zero', 'tiny') GROUP BY s.category",
        ['category', 'count', 'sum_amount', 'avg_amount', 'sum_qty', 'avg_qty'],
      );
      // Written out, not computed: 0.04 / 128 = 0.0003125 and 1 / 128 = 0.0078125.
      expect(exp.rows).toContainEqual(['half-away', 128, '0.04', '0.000313', '1', '0.007813']);
      expect(exp.rows).toContainEqual(['half-away-neg', 128, '-0.04', '-0.000313', '-1', '-0.007813']);
      expect(exp.rows).toContainEqual(['zero', 6, '0.00', '0.000000', '0', '0.000000']);
    });

    // SQL semantics: SUM and AVG over no non-NULL value are NULL.
    it('SUM over a group whose values are all NULL is NULL, as in SQL', async () => {
      const exp = await check(
        B,
        "SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount), SUM(s.qty) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.category = 'all-null' GROUP BY s.category",
        ['category', 'count', 'sum_amount', 'avg_amount', 'sum_qty'],
      );
      expect(exp.rows).toEqual([['all-null', 5, null, null, null]]);
    });

    // A literal must be compared exactly (`amount >= 0.0000000001` must not become `amount >= 0`), or refused.
    it('a literal with more than 9 decimals is compared exactly, not rounded', async () => {
      const sql = "SELECT s.category, COUNT(*) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.amount >= 0.0000000001 AND s.category IN ('zero', 'tiny') GROUP BY s.category";
      const answer = await query(cluster.nodeDirs[A]!, sql);
      if (answer.kind === 'error') {
        // Refusing such a literal is an acceptable answer too.
        expect(answer.code).toBe('QUERY_INVALID');
        return;
      }
      if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
      const exp = await expected(sql);
      expect(exp.rows).toEqual([['tiny', 6]]);
      assertMatches(answer.result, exp, ['category', 'count']);
    });

    it('GROUP BY a decimal dimension labels groups with the value at its declared scale', async () => {
      const sql = "SELECT s.amount, COUNT(*) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.category IN ('zero', 'tiny', 'half-away') GROUP BY s.amount";
      const answer = await query(cluster.nodeDirs[A]!, sql);
      if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
      const exp = await expected(sql);
      // -63.46 rests on one key and is dropped.
      expect(exp.rows).toEqual(expect.arrayContaining([['0.00', 6], ['0.01', 6], ['0.50', 127]]));
      expect(dropped(exp)).toBe(1);
      assertMatches(answer.result, exp, ['amount', 'count']);
    });

    // Every receiver gets the same result, or the query fails for all with a local (not the peer's) error before anything opens.
    it('a released label longer than 1,000 characters reaches every receiver, or the query fails everywhere', async () => {
      const sql = `SELECT s.category, COUNT(*) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.category IN ('tiny', '${LONG_LABEL}') GROUP BY s.category`;
      const resultsAtAlpha = () => (existsSync(join(cluster.nodeDirs[A]!, 'results')) ? readdirSync(join(cluster.nodeDirs[A]!, 'results')).length : 0);
      const before = resultsAtAlpha();
      const answer = await query(cluster.nodeDirs[B]!, sql);
      if (answer.kind === 'error') {
        expect(answer.code).not.toBe('PROTOCOL_VIOLATION');
        await new Promise((r) => setTimeout(r, 500));
        expect(resultsAtAlpha(), 'the aggregator kept a result the other receiver never got').toBe(before);
        return;
      }
      if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
      const exp = await expected(sql);
      expect(exp.rows).toEqual([[LONG_LABEL, 5], ['tiny', 6]]);
      assertMatches(answer.result, exp, ['category', 'count']);
    });

    it('an empty own key set (count-only) and an empty partner key set (aggregate) release nothing', async () => {
      await check(A, "SELECT COUNT(*) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE s.category = 'no-such-category'", ['count']);
      await check(
        B,
        "SELECT s.category, COUNT(*) FROM s_edge s JOIN v_edge v ON s.email = v.email WHERE v.campaign = 'no-such-campaign' GROUP BY s.category",
        ['category', 'count'],
      );
    });
  });
});

describe('random datasets, only alpha receives results', () => {
  // Beta lets alpha learn nothing about overlap; alpha lets beta learn which of beta's keys it holds.
  const pairs: Pair[] = [{ tag: 'mixed', data: mixed, salesMin: 3, visitsMin: 3, salesGrants: [B], visitsGrants: [] }];
  const env: Env = { files: {}, pooled: {} };
  let cluster: Cluster;
  let expected: (sql: string) => Promise<PlaintextAnswer>;

  beforeAll(async () => {
    ({ cluster, expected } = await setUp(env, 'random-one-receiver', pairs, [A]));
  });
  afterAll(() => tearDown(env));

  it('beta aggregates and asks: beta gets "released", alpha holds the result', async () => {
    const sql = 'SELECT v.campaign, v.channel, COUNT(*), SUM(v.impressions), AVG(v.impressions), SUM(v.score) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE s.tier >= 2 GROUP BY v.campaign, v.channel';
    const answer = await submit(cluster.nodeDirs[B]!, sql);
    const exp = await expected(sql);
    expect(answer).toMatchObject({ type: 'released', groups: exp.rows.length, receivers: [A] });
    expect(exp.rows.length).toBeGreaterThan(10);
    const atAlpha = await resultFile(cluster.nodeDirs[A]!, (answer as Extract<ControlEvent, { type: 'released' }>).queryId);
    assertMatches(atAlpha, exp, ['campaign', 'channel', 'count', 'sum_impressions', 'avg_impressions', 'sum_score']);
    // The non-receiver keeps no result.
    expect(existsSync(join(cluster.nodeDirs[B]!, 'results'))).toBe(false);
  });

  it('beta asks count-only: beta gets "released", alpha holds the count', async () => {
    const sql = "SELECT COUNT(*) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE v.channel IN ('web', 'tv') AND s.amount BETWEEN -100 AND 500.5";
    const answer = await submit(cluster.nodeDirs[B]!, sql);
    expect(answer).toMatchObject({ type: 'released', groups: 1, receivers: [A] });
    const atAlpha = await resultFile(cluster.nodeDirs[A]!, (answer as Extract<ControlEvent, { type: 'released' }>).queryId);
    assertMatches(atAlpha, await expected(sql), ['count']);
  });

  it('alpha asks, beta aggregates: alpha receives the result as the partner', async () => {
    const sql = 'SELECT v.week, COUNT(*), AVG(v.impressions) FROM v_mixed v JOIN s_mixed s ON v.email = s.email WHERE v.week BETWEEN 1 AND 8 GROUP BY v.week';
    const answer = await query(cluster.nodeDirs[A]!, sql);
    if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
    assertMatches(answer.result, await expected(sql), ['week', 'count', 'avg_impressions']);
  });

  it('alpha may not aggregate over its rows: beta has not granted overlap disclosure (RULE_VIOLATION)', async () => {
    const answer = await query(cluster.nodeDirs[A]!, 'SELECT s.category, COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email GROUP BY s.category');
    expect(answer).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION' });
    expect(answer.kind === 'error' && answer.message).toContain('v_mixed.rules.overlapDisclosure');
  });

  it('count-only needs no disclosure: alpha gets its count', async () => {
    const sql = "SELECT COUNT(*) FROM s_mixed s JOIN v_mixed v ON s.email = v.email WHERE s.category = 'music'";
    const answer = await query(cluster.nodeDirs[A]!, sql);
    if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
    assertMatches(answer.result, await expected(sql), ['count']);
  });
});
