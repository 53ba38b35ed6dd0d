/**
 * A member's table in PostgreSQL, served by real node processes: the same answers as the same rows in a CSV file
 * (the member holds both, so one cluster runs both queries), two and three members, refusals named for the owner
 * with the peer cleanly aborted, and a table changed between two queries.
 */
import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../../scripts/postgres-server.js';
import { query, type QueryAnswer } from '../../scripts/local-cluster.js';
import { readCsvRows } from '../../scripts/plaintext/csv-tables.js';
import type { Row } from '../../scripts/plaintext/rows.js';
import type { Column, Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';
import { mixedEmails, salesColumns, salesHeader, visitsColumns, writeDataset } from './random-data.js';

const A = 'alpha';
const B = 'beta';
const C = 'gamma';
const READER = 'cleanroom_reader';
const PASSWORD_ENV = 'CRM_PASSWORD';

const sales = (name: string, min = 3): Table => ({
  name,
  owner: A,
  columns: salesColumns('email'),
  joinKey: { column: 'email', normalization: 'email' },
  rules: {
    aggregations: [
      { column: 'amount', functions: ['sum', 'avg'] },
      { column: 'qty', functions: ['sum'] },
    ],
    dimensions: ['category', 'tier'],
    minDistinctKeys: min,
    overlapDisclosure: [{ member: B, filters: ['category', 'tier'] }],
  },
});
const visits = (name: string, owner: string): Table => ({
  name,
  owner,
  columns: visitsColumns('email'),
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [], dimensions: ['campaign', 'channel'], minDistinctKeys: 3, overlapDisclosure: [{ member: A, filters: ['campaign'] }] },
});

/** Text rows in the manifest's column order, as the oracle's reader (and the node) reads the CSV file. */
const asArrays = (rows: readonly Row[], columns: readonly Column[]) => rows.map((r) => columns.map((c) => (r[c.name] ?? null) as string | null));

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let server: PostgresServer;
let cluster: Cluster;
let salesCsv: string;
let salesRows: Row[];

beforeAll(async () => {
  tmp = await makeTempDir('pg');
  await mkdir(join(tmp.dir, 'data'));
  server = await startPostgres();
  const data = mixedEmails(20261202, 1500, 1800);
  const files = await writeDataset(join(tmp.dir, 'data'), data);
  // A third member's visits: the second half of beta's rows, so that the three-way join is a real subset.
  const gammaCsv = join(tmp.dir, 'data', 'gamma-visits.csv');
  const lines = (await readFile(files.visits, 'utf8')).split('\n');
  await writeFile(gammaCsv, [lines[0], ...lines.slice(1 + Math.floor(lines.length / 3))].join('\n'));
  salesCsv = files.sales;
  salesRows = await readCsvRows(files.sales);
  const columns = salesColumns('email');
  await server.load('sales', columns, asArrays(salesRows, columns));
  // A table with a value out of its declared bounds, one with a column in a type that cannot hold it.
  await server.load('sales_bounds', columns, [...asArrays(salesRows, columns), ['late@x.com', '123456.00', '1', 'books', '1']]);
  await server.sql('CREATE TABLE sales_type AS SELECT email, amount > 0 AS amount, qty, category, tier FROM sales');
  await server.reader(READER, 'reader-secret');
  const pgTable = (table: string, passwordEnv = PASSWORD_ENV) => ({ postgres: { url: server.url(READER), passwordEnv, table } });
  cluster = await startCluster(
    {
      dir: join(tmp.dir, 'nodes'),
      collaborationId: 'e2e-postgres',
      members: [
        {
          id: A,
          name: 'Alpha Retail',
          tables: {
            s_pg: pgTable('public.sales'),
            s_csv: { path: files.sales, format: 'csv' },
            s_bounds: pgTable('sales_bounds'),
            s_type: pgTable('sales_type'),
            s_missing: pgTable('no_such_table'),
            s_badpw: pgTable('sales', 'WRONG_PASSWORD'),
          },
        },
        { id: B, name: 'Beta Media', tables: { v: { path: files.visits, format: 'csv' } } },
        { id: C, name: 'Gamma Media', tables: { w: { path: gammaCsv, format: 'csv' } } },
      ],
      tables: [sales('s_pg'), sales('s_csv'), sales('s_bounds'), sales('s_type'), sales('s_missing'), sales('s_badpw'), visits('v', B), visits('w', C)],
      queriers: [A, B],
      receivers: [A, B],
    },
    (id) => (id === A ? { [PASSWORD_ENV]: 'reader-secret', WRONG_PASSWORD: 'not-it' } : {}),
  );
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await server?.stop();
  await tmp?.cleanup();
});

/** The answer without what differs between two runs of one query (its id, its timing). */
function comparable(a: QueryAnswer): unknown {
  if (a.kind !== 'result') return a;
  const { queryId: _q, startedAt: _s, finishedAt: _f, durationMs: _d, counts, ...rest } = a.result as unknown as Record<string, unknown>;
  // What the counts count names the tables, whose names differ (s_pg, s_csv): compared with the name made the same.
  return { ...rest, counts: typeof counts === 'string' ? counts.replace(/\bs_(pg|csv)\b/g, 's') : counts };
}

async function both(asker: string, sql: (sales: string) => string): Promise<void> {
  const fromPg = await query(cluster.nodeDirs[asker]!, sql('s_pg'));
  const fromCsv = await query(cluster.nodeDirs[asker]!, sql('s_csv'));
  expect(fromPg.kind, JSON.stringify(fromPg)).toBe('result');
  // A comparison of two empty answers would prove nothing.
  expect(fromPg.kind === 'result' && fromPg.result.rows.length).toBeGreaterThan(0);
  expect(comparable(fromPg)).toEqual(comparable(fromCsv));
}

describe('a table in PostgreSQL gives exactly the answer of the same rows in a CSV file', () => {
  it('two members, count-only, asked by either side', async () => {
    await both(A, (s) => `SELECT COUNT(*) FROM ${s} s JOIN v ON s.email = v.email`);
    await both(B, (s) => `SELECT COUNT(*) FROM ${s} s JOIN v ON s.email = v.email WHERE s.category IN ('books', 'café')`);
  });

  it('two members, GROUP BY with SUM and AVG of negative decimals, filters on both tables', async () => {
    await both(A, (s) => `SELECT s.category, COUNT(*), SUM(s.amount), AVG(s.amount), SUM(s.qty) FROM ${s} s JOIN v ON s.email = v.email WHERE v.campaign = 'spring' GROUP BY s.category`);
    await both(B, (s) => `SELECT s.tier, COUNT(*), SUM(s.amount) FROM ${s} s JOIN v ON s.email = v.email WHERE s.tier BETWEEN 1 AND 3 GROUP BY s.tier`);
  });

  it('three members: count-only and GROUP BY over the three-way join', async () => {
    await both(A, (s) => `SELECT COUNT(*) FROM ${s} s JOIN v ON s.email = v.email JOIN w ON s.email = w.email`);
    await both(A, (s) => `SELECT s.category, COUNT(*), SUM(s.amount) FROM ${s} s JOIN v ON s.email = v.email JOIN w ON s.email = w.email GROUP BY s.category`);
  });

  it('a table changed between two queries gives the new answer, without a restart', async () => {
    const sql = (s: string) => `SELECT s.category, COUNT(*), SUM(s.amount) FROM ${s} s JOIN v ON s.email = v.email GROUP BY s.category`;
    const before = await query(cluster.nodeDirs[A]!, sql('s_pg'));
    await server.sql("UPDATE sales SET amount = amount + 1 WHERE category = 'books' AND amount IS NOT NULL");
    // The CSV copy changed the same way: both must agree again.
    const columns = salesColumns('email');
    const changed = salesRows.map((r) => (r.category === 'books' && r.amount !== null ? { ...r, amount: (Math.round(Number(r.amount) * 100) + 100) / 100 + '' } : r));
    await writeFile(salesCsv, [salesHeader('email').join(','), ...asArrays(changed, columns).map((r) => r.map((v) => (v === null ? '' : `"${v.replaceAll('"', '""')}"`)).join(','))].join('\n') + '\n');
    const after = await query(cluster.nodeDirs[A]!, sql('s_pg'));
    expect(comparable(after)).not.toEqual(comparable(before));
    await both(A, sql);
  });
});

describe('refusals name the table and the cause for its owner; the peer gets the code only; the node goes on serving', () => {
  const cases: [string, string, RegExp][] = [
    ['a value out of its declared bounds', 's_bounds', /s_bounds: postgres 127\.0\.0\.1:\d+\/cleanroom_test sales_bounds: amount "123456\.00" is outside the declared bounds/],
    ['a column in a type that cannot hold it', 's_type', /s_type: postgres .* sales_type: amount is stored as boolean, which cannot hold a decimal column/],
    ['a missing table', 's_missing', /s_missing: postgres .* no_such_table: there is no table or view no_such_table/],
    ['a bad password', 's_badpw', /s_badpw: postgres .* refused the login of cleanroom_reader \(SQLSTATE 28P01/],
  ];
  it.each(cases)('%s', async (_name, table, message) => {
    const sql = `SELECT COUNT(*), SUM(s.amount) FROM ${table} s JOIN v ON s.email = v.email`;
    const own = await query(cluster.nodeDirs[A]!, sql);
    expect(own).toMatchObject({ kind: 'error', code: 'DATA_INVALID', message: expect.stringMatching(message) });
    // Asked by the other member: it learns that the owner's data refused, not why.
    const peer = await query(cluster.nodeDirs[B]!, sql);
    expect(peer.kind).toBe('error');
    if (peer.kind === 'error') {
      expect(peer.message).not.toMatch(/postgres|sales_|123456|password|boolean/);
      expect(peer.code).toMatch(/DATA_INVALID|ABORTED|REJECTED/);
    }
    // Both nodes still serve.
    expect((await query(cluster.nodeDirs[B]!, 'SELECT COUNT(*) FROM s_pg s JOIN v ON s.email = v.email')).kind).toBe('result');
  });
});
