/**
 * The analyst's SQL (SPEC §5) through two real node processes: dates, timestamps and booleans read from messy CSV
 * files, every kind of dimension, WHERE on the new types, SUM and AVG of expressions, the variance family, COUNT
 * DISTINCT, HAVING, ORDER BY and LIMIT; each answer, rows and their order, equal to the plaintext oracle's over the
 * same files. Refusals name the construct and the rule before anything is sent.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng, writeCsv } from '../../scripts/demo-data.js';
import { query } from '../../scripts/local-cluster.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import type { TableData } from '../../scripts/plaintext/answer.js';
import type { Table } from '../../src/manifest/schema.js';
import { keySet, type Row } from '../../scripts/plaintext/rows.js';
import { cleanroom, makeTempDir, startCluster, type Cluster } from './helpers.js';

const SHOP = 'shop';
const MEDIA = 'media';
const CATEGORIES = ['books', 'garden', 'toys'];

const TABLES: Table[] = [
  {
    name: 'orders',
    owner: SHOP,
    columns: [
      { name: 'email', type: 'string' },
      // Required: an expression over two columns of which one may be NULL is refused without a policy.
      { name: 'amount', type: 'decimal', scale: 2, min: -50, max: 500, required: true },
      { name: 'qty', type: 'integer', min: 0, max: 9, required: true },
      { name: 'category', type: 'string', values: CATEGORIES },
      { name: 'ordered_on', type: 'date', min: '2025-01-01', max: '2025-06-30' },
      { name: 'paid_at', type: 'timestamp' },
      { name: 'member', type: 'boolean' },
      { name: 'phone', type: 'string' },
      { name: 'country', type: 'string' },
    ],
    // SPEC §4.7: matched on email, on phone, or on email and country together.
    joinKey: [
      { column: 'email', normalization: 'email' },
      { column: 'phone', normalization: 'phone' },
      { column: 'country', normalization: 'exact' },
    ],
    rules: {
      aggregations: [
        { column: 'amount', functions: ['sum', 'avg', 'variance'] },
        { column: 'qty', functions: ['sum', 'avg', 'variance'] },
      ],
      dimensions: ['category', 'ordered_on', 'paid_at', 'member', 'qty'],
      minDistinctKeys: 3,
      overlapDisclosure: [{ member: MEDIA, filters: ['category'] }],
    },
  },
  {
    name: 'visits',
    owner: MEDIA,
    columns: [
      { name: 'email', type: 'string' },
      // Declared: the shop groups by it as the partner's dimension (SPEC §4.6), whose labels come from the manifest.
      { name: 'campaign', type: 'string', values: ['spring', 'summer'] },
      { name: 'seen_on', type: 'date' },
      { name: 'mobile', type: 'boolean', required: true },
      { name: 'phone', type: 'string' },
      { name: 'country', type: 'string' },
    ],
    joinKey: [
      { column: 'email', normalization: 'email' },
      { column: 'phone', normalization: 'phone' },
      { column: 'country', normalization: 'exact' },
    ],
    rules: { aggregations: [], dimensions: ['campaign', 'seen_on', 'mobile'], minDistinctKeys: 3, overlapDisclosure: [{ member: SHOP, filters: ['campaign', 'seen_on', 'mobile'] }] },
  },
];

/** Days of 2025 from 1 January, as a CSV writes them. */
const day = (n: number) => new Date(Date.UTC(2025, 0, 1 + n)).toISOString().slice(0, 10);

/**
 * Deterministic messy rows: emails in mixed case and padding, timestamps in every accepted form (offsets, a space or
 * T, no seconds, fractions), booleans in any case, empty fields for NULL.
 */
function rows(seed: number): { orders: (string | number | null)[][]; visits: (string | number | null)[][] } {
  const rand = prng(seed);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const email = (i: number) => pick([`p${i}@x.org`, ` P${i}@X.org`, `p${i}@x.ORG `]);
  const stamp = () => {
    const d = day(Math.floor(rand() * 181));
    const hh = String(Math.floor(rand() * 24)).padStart(2, '0');
    return pick([`${d}T${hh}:15:00Z`, `${d} ${hh}:59`, `${d}T${hh}:00:00+05:30`, `${d} ${hh}:30:00.25-02:00`, `${d}T${hh}:45:10`]);
  };
  // A person's phone in several spellings (the phone normalisation keeps the digits), sometimes missing; a country
  // that is the person's, or now and then another (so email AND country matches fewer rows than email alone).
  const phone = (i: number) => (rand() < 0.1 ? null : pick([`+33 6 ${10_000 + i}`, `33-6-${10_000 + i}`, `(33) 6${10_000 + i}`]));
  const country = (i: number) => (rand() < 0.1 ? pick(['fr', 'de', 'es']) : ['fr', 'de', 'es'][i % 3]!);
  const orders = Array.from({ length: 900 }, () => {
    const i = Math.floor(rand() * 400);
    return [email(i), ...orderValues(), phone(i), country(i)];
  });
  // Some visitors left another email than at the shop: only their phone can match them.
  const visits = Array.from({ length: 700 }, () => {
    const i = 100 + Math.floor(rand() * 400);
    return [rand() < 0.2 ? `v${i}@elsewhere.net` : email(i), pick(['spring', 'summer']), rand() < 0.05 ? null : day(Math.floor(rand() * 181)), pick(['true', 'false']), phone(i), country(i)];
  });
  return { orders, visits };

  function orderValues() {
    return [
      (Math.floor(rand() * 55000 - 5000) / 100).toFixed(2),
      Math.floor(rand() * 10),
      pick(CATEGORIES),
      rand() < 0.03 ? null : day(Math.floor(rand() * 181)),
      rand() < 0.03 ? null : stamp(),
      rand() < 0.1 ? null : pick(['true', 'false', 'TRUE', 'False']),
    ];
  }
}

const J = 'FROM orders o JOIN visits v ON o.email = v.email';

/** [asker, sql]: one or more queries per construct of SPEC §5. */
const QUERIES: readonly (readonly [string, string])[] = [
  [SHOP, `SELECT date_trunc('week', o.ordered_on) AS week, COUNT(*) AS orders, SUM(o.amount) AS revenue ${J} WHERE v.campaign = 'spring' GROUP BY date_trunc('week', o.ordered_on) ORDER BY week`],
  [SHOP, `SELECT date_trunc('month', o.ordered_on), COUNT(DISTINCT o.email), AVG(o.amount) ${J} GROUP BY date_trunc('month', o.ordered_on)`],
  [SHOP, `SELECT date_trunc('quarter', o.paid_at), date_trunc('year', o.ordered_on), COUNT(*) ${J} GROUP BY date_trunc('quarter', o.paid_at), date_trunc('year', o.ordered_on)`],
  [SHOP, `SELECT date_trunc('day', o.paid_at) AS d, COUNT(*) ${J} WHERE o.paid_at >= TIMESTAMP '2025-03-01 00:00:00+01:00' GROUP BY date_trunc('day', o.paid_at) ORDER BY count DESC, d LIMIT 10`],
  [SHOP, `SELECT extract(dow FROM o.ordered_on) AS dow, COUNT(*), SUM(o.qty) ${J} GROUP BY extract(dow FROM o.ordered_on)`],
  [SHOP, `SELECT extract(hour FROM o.paid_at), COUNT(*) ${J} GROUP BY extract(hour FROM o.paid_at) ORDER BY count DESC LIMIT 5`],
  [SHOP, `SELECT extract(month FROM o.paid_at), extract(quarter FROM o.ordered_on), COUNT(*) ${J} GROUP BY extract(month FROM o.paid_at), extract(quarter FROM o.ordered_on)`],
  [SHOP, `SELECT extract(year FROM o.ordered_on), COUNT(o.paid_at) ${J} GROUP BY extract(year FROM o.ordered_on)`],
  [SHOP, `SELECT CASE WHEN o.qty >= 5 THEN 'bulk' WHEN o.qty >= 1 THEN 'few' ELSE 'none' END AS size, COUNT(*), AVG(o.amount) ${J} GROUP BY CASE WHEN o.qty >= 5 THEN 'bulk' WHEN o.qty >= 1 THEN 'few' ELSE 'none' END`],
  [SHOP, `SELECT CASE WHEN o.ordered_on < DATE '2025-04-01' THEN 'h1-early' END AS part, COUNT(*) ${J} GROUP BY CASE WHEN o.ordered_on < DATE '2025-04-01' THEN 'h1-early' END`],
  [SHOP, `SELECT CASE WHEN o.member AND o.category IN ('books', 'toys') THEN 'member reader' WHEN NOT o.member THEN 'guest' END, COUNT(*) ${J} GROUP BY CASE WHEN o.member AND o.category IN ('books', 'toys') THEN 'member reader' WHEN NOT o.member THEN 'guest' END`],
  [SHOP, `SELECT o.member, COUNT(*), SUM(o.amount) ${J} GROUP BY o.member`],
  [SHOP, `SELECT o.ordered_on, COUNT(*) ${J} WHERE o.ordered_on BETWEEN DATE '2025-02-01' AND DATE '2025-02-07' GROUP BY o.ordered_on`],
  [SHOP, `SELECT o.member, COUNT(*) ${J} WHERE o.paid_at < TIMESTAMP '2025-02-01T12:00:00-03:00' GROUP BY o.member`],
  [SHOP, `SELECT o.category, COUNT(*) ${J} WHERE o.member = true OR o.ordered_on IS NULL GROUP BY o.category`],
  [SHOP, `SELECT o.category, COUNT(*) ${J} WHERE NOT o.member AND v.mobile AND v.seen_on >= DATE '2025-03-01' GROUP BY o.category`],
  [SHOP, `SELECT o.category, COUNT(*) ${J} WHERE o.paid_at IS NOT NULL AND o.ordered_on NOT IN (DATE '2025-01-01', DATE '2025-01-02') GROUP BY o.category`],
  [SHOP, `SELECT o.category, SUM(o.amount * o.qty) AS gross, AVG(o.amount - 10) AS net ${J} GROUP BY o.category`],
  [SHOP, `SELECT o.category, SUM(-o.qty + 2 * o.qty), AVG(o.amount + o.qty * 0.5) ${J} GROUP BY o.category`],
  [SHOP, `SELECT o.category, VAR_SAMP(o.amount), VAR_POP(o.qty), STDDEV_SAMP(o.amount), STDDEV_POP(o.qty) ${J} GROUP BY o.category`],
  [SHOP, `SELECT date_trunc('month', o.ordered_on), variance(o.amount * 2), stddev(o.qty) ${J} GROUP BY date_trunc('month', o.ordered_on)`],
  [SHOP, `SELECT o.category, COUNT(*) AS n, SUM(o.amount) AS s ${J} GROUP BY o.category HAVING n > 50 AND s >= 1000 ORDER BY s DESC`],
  [SHOP, `SELECT date_trunc('week', o.ordered_on) AS w, COUNT(*) ${J} GROUP BY date_trunc('week', o.ordered_on) HAVING w >= DATE '2025-03-03' ORDER BY w DESC LIMIT 4 OFFSET 1`],
  [SHOP, `SELECT extract(dow FROM o.ordered_on) AS dow, COUNT(*) ${J} GROUP BY extract(dow FROM o.ordered_on) HAVING dow IN (0, 6)`],
  [SHOP, `SELECT o.qty, COUNT(*) ${J} GROUP BY o.qty HAVING o.qty BETWEEN 2 AND 5 ORDER BY o.qty DESC NULLS FIRST`],
  [SHOP, `SELECT o.member AS m, COUNT(*) ${J} GROUP BY o.member HAVING m = true`],
  [SHOP, `SELECT COUNT(*), COUNT(DISTINCT v.email), SUM(o.amount), STDDEV_POP(o.amount) ${J} WHERE v.campaign = 'summer'`],
  [SHOP, `SELECT COUNT(DISTINCT o.email) ${J} WHERE o.member`],
  [MEDIA, `SELECT COUNT(*) ${J} WHERE v.seen_on >= DATE '2025-05-01' AND o.category = 'garden'`],
  [SHOP, `SELECT date_trunc('month', o.paid_at) AS month, o.member, COUNT(*), AVG(o.qty) ${J} WHERE v.campaign IN ('spring', 'summer') GROUP BY date_trunc('month', o.paid_at), o.member ORDER BY month, o.member LIMIT 12`],
  // SPEC §4.6: GROUP BY the partner's dimensions, alone or mixed with the aggregating table's, asked by either side.
  [SHOP, `SELECT v.campaign, o.category, COUNT(*) AS purchases, SUM(o.amount) AS revenue ${J} GROUP BY v.campaign, o.category`],
  [SHOP, `SELECT v.campaign, COUNT(*), AVG(o.amount), COUNT(DISTINCT o.email) ${J} GROUP BY v.campaign`],
  [SHOP, `SELECT date_trunc('month', o.ordered_on) AS m, v.mobile, COUNT(*) ${J} WHERE v.campaign = 'spring' GROUP BY date_trunc('month', o.ordered_on), v.mobile ORDER BY m, v.mobile`],
  [SHOP, `SELECT CASE WHEN v.campaign = 'spring' AND v.mobile THEN 'spring on mobile' ELSE 'other' END AS seen, o.member, SUM(o.qty) ${J} GROUP BY CASE WHEN v.campaign = 'spring' AND v.mobile THEN 'spring on mobile' ELSE 'other' END, o.member`],
  [SHOP, `SELECT v.campaign, v.mobile, VAR_SAMP(o.amount), SUM(o.amount * o.qty) ${J} WHERE o.category <> 'toys' GROUP BY v.campaign, v.mobile HAVING v.campaign = 'spring' ORDER BY v.mobile DESC`],
  [MEDIA, `SELECT v.campaign, SUM(o.amount) AS revenue ${J} GROUP BY v.campaign ORDER BY revenue DESC`],
  [MEDIA, `SELECT o.category, v.campaign, COUNT(*) ${J} WHERE v.mobile GROUP BY o.category, v.campaign`],
  // SPEC §4.7: another join key, a compound key, alternatives (a row counts once however many of its keys match).
  [MEDIA, `SELECT COUNT(*) FROM visits v JOIN orders o ON v.phone = o.phone WHERE v.campaign = 'spring'`],
  [SHOP, `SELECT o.category, COUNT(*), SUM(o.amount), COUNT(DISTINCT o.email) FROM orders o JOIN visits v ON o.email = v.email AND o.country = v.country GROUP BY o.category`],
  [SHOP, `SELECT COUNT(*) FROM orders o JOIN visits v ON v.country = o.country AND v.email = o.email`],
  [SHOP, `SELECT v.campaign, COUNT(*) FROM orders o JOIN visits v ON o.email = v.email AND o.country = v.country GROUP BY v.campaign`],
  [SHOP, `SELECT o.category, COUNT(*), SUM(o.amount), COUNT(DISTINCT o.email) FROM orders o JOIN visits v ON o.email = v.email OR o.phone = v.phone GROUP BY o.category`],
  [SHOP, `SELECT COUNT(*), AVG(o.qty) FROM orders o JOIN visits v ON o.phone = v.phone OR o.email = v.email WHERE v.campaign = 'summer'`],
  [SHOP, `SELECT COUNT(*) FROM orders o JOIN visits v ON o.email = v.email OR o.phone = v.phone`],
];

/** [asker, sql, what the refusal says]: constructs outside the language and broken rules, refused before any cryptography. */
const REFUSED: readonly (readonly [string, string, RegExp])[] = [
  [SHOP, `SELECT date_trunc('week', o.email), COUNT(*) ${J} GROUP BY date_trunc('week', o.email)`, /orders\.email may not be used in GROUP BY/],
  [SHOP, `SELECT date_trunc('hour', o.paid_at), COUNT(*) ${J} GROUP BY date_trunc('hour', o.paid_at)`, /the units are 'day', 'week', 'month', 'quarter', 'year'/],
  [SHOP, `SELECT COUNT(*) ${J} WHERE o.member = true OR v.mobile = true`, /each OR group naming columns of one table/],
  [SHOP, `SELECT SUM(o.amount / o.qty) ${J}`, /division/i],
  [SHOP, `SELECT COUNT(*) ${J} WHERE o.ordered_on > 5`, /orders\.ordered_on is a date column; compare it with a DATE 'YYYY-MM-DD' literal, not 5/],
  [SHOP, `SELECT o.category, SUM(CASE WHEN o.member THEN o.amount ELSE 0 END) ${J} GROUP BY o.category`, /rule: privacy-model\.case-in-aggregate/],
  [SHOP, `SELECT SUM(o.qty * o.qty * o.qty) ${J}`, /rule: privacy-model\.power-sums/],
  [SHOP, `SELECT v.seen_on, SUM(o.amount) ${J} GROUP BY v.seen_on`, /visits\.columns\.seen_on/],
  [MEDIA, `SELECT v.campaign, o.member, COUNT(*) ${J} GROUP BY v.campaign, o.member`, /rule: orders\.rules\.overlapDisclosure/],
  [SHOP, `SELECT v.campaign, SUM(o.amount), SUM(v.campaign_len) ${J} GROUP BY v.campaign`, /no column visits\.campaign_len/],
  [SHOP, `SELECT COUNT(*) FROM orders o JOIN visits v ON o.email = v.email AND o.category = v.campaign`, /rule: orders\.joinKey; allowed: orders\.email, orders\.phone, orders\.country/],
  [SHOP, `SELECT v.campaign, SUM(o.amount) FROM orders o JOIN visits v ON o.email = v.email OR o.phone = v.phone GROUP BY v.campaign`, /rule: privacy-model\.several-join-keys/],
  [SHOP, `SELECT COUNT(*) FROM orders o JOIN visits v ON o.email = v.email OR o.phone = v.phone AND o.country = v.country`, /AND and OR cannot be mixed/],
];

describe('the query language through two node processes, against the plaintext oracle', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  let cluster: Cluster | undefined;
  let pooled: TableData;

  beforeAll(async () => {
    tmp = await makeTempDir('query-language');
    const data = rows(20261207);
    const files = { orders: join(tmp.dir, 'orders.csv'), visits: join(tmp.dir, 'visits.csv') };
    await writeCsv(files.orders, ['email', 'amount', 'qty', 'category', 'ordered_on', 'paid_at', 'member', 'phone', 'country'], data.orders);
    await writeCsv(files.visits, ['email', 'campaign', 'seen_on', 'mobile', 'phone', 'country'], data.visits);
    pooled = await readCsvTables(files);
    cluster = await startCluster({
      dir: join(tmp.dir, 'nodes'),
      collaborationId: 'query-language',
      members: [
        { id: SHOP, name: 'Shop', tables: { orders: { path: files.orders, format: 'csv' } } },
        { id: MEDIA, name: 'Media', tables: { visits: { path: files.visits, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: [SHOP, MEDIA],
      receivers: [SHOP, MEDIA],
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it.each(QUERIES)('%s asks %s', async (asker, sql) => {
    const answer = await query(cluster!.nodeDirs[asker]!, sql);
    if (answer.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(answer)}`);
    const expected = await plaintextAnswer(sql, TABLES, pooled);
    expect(answer.result.columns).toEqual(expected.columns);
    expect(answer.result.rows).toEqual(expected.rows);
    // Every query above releases something: a test whose answer is always empty would check nothing.
    expect(expected.released).toBeGreaterThan(0);
  });

  it('cleanroom match: the share of the shop\'s distinct keys the media member holds, as the count-only query and the oracle say', async () => {
    const run = await cleanroom(['match', cluster!.nodeDirs[SHOP]!, 'orders', '--with', MEDIA, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const [orders, visits] = TABLES as [Table, Table];
    // One line per join key of the shop's, against the media member's key normalised the same way (SPEC §4.7).
    const expected = ['email', 'phone', 'country'].map((key) => {
      const on = { columns: [key], combine: 'and' as const };
      const own = keySet(orders, pooled.orders as Row[], [], on);
      const matched = [...keySet(visits, pooled.visits as Row[], [], on)].filter((k) => own.has(k)).length;
      return { table: 'orders', partnerTable: 'visits', key, partnerKey: key, ownKeys: own.size, matched, queryId: expect.stringMatching(/^[0-9a-f]{32}$/) };
    });
    expect(lines).toEqual(expected);
    const text = await cleanroom(['match', cluster!.nodeDirs[SHOP]!, 'orders', '--with', MEDIA]);
    const pct = (n: number, of: number) => ((100 * n) / of).toFixed(1);
    expect(text.stdout.trim().split('\n')).toEqual(expected.map((e) => `orders.${e.key} ~ visits.${e.key}: ${e.matched} of your ${e.ownKeys} distinct keys match, ${pct(e.matched, e.ownKeys)}%`));
    const wrong = await cleanroom(['match', cluster!.nodeDirs[SHOP]!, 'visits', '--with', MEDIA]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/visits is not a table of shop alone; its tables: orders/);
  });

  it('the data exercises several keys: alternatives match rows email alone does not, a compound fewer than email alone', async () => {
    // Matched rows of orders in each (SUM makes every one an aggregate query, counting rows alike).
    const count = async (on: string) => (await plaintextAnswer(`SELECT COUNT(*), SUM(o.qty) FROM orders o JOIN visits v ON ${on}`, TABLES, pooled)).rows[0]![0] as number;
    const [email, either, both] = await Promise.all([count('o.email = v.email'), count('o.email = v.email OR o.phone = v.phone'), count('o.email = v.email AND o.country = v.country')]);
    expect(either).toBeGreaterThan(email);
    expect(both).toBeLessThan(email);
  });

  it.each(REFUSED)('%s is refused %s', async (asker, sql, says) => {
    const answer = await query(cluster!.nodeDirs[asker]!, sql);
    expect(answer.kind).toBe('error');
    if (answer.kind === 'error') expect(answer.message).toMatch(says);
  });
});
