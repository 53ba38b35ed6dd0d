/**
 * No cold first query (issue 20, item 3): a node hashes the keys of its own tables' join keys in the background from
 * its start, and again when a table's file changes. Once `cleanroom status` says a key is ready, a query on it writes
 * nothing more to the querier's hash cache: every one of its own keys was hashed ahead of it.
 */
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng, writeCsv } from '../../scripts/demo-data.js';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { cleanroom, makeTempDir, startCluster, type Cluster } from './helpers.js';

const TABLES: Table[] = [
  {
    name: 'orders',
    owner: 'shop',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'phone', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: 0, max: 500 },
    ],
    joinKey: [
      { column: 'email', normalization: 'email' },
      { column: 'phone', normalization: 'phone' },
    ],
    rules: { aggregations: [{ column: 'amount', functions: ['sum'] }], dimensions: [], minDistinctKeys: 3, overlapDisclosure: [] },
  },
  {
    name: 'visits',
    owner: 'media',
    columns: [{ name: 'email', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 3, overlapDisclosure: ['shop'] },
  },
];

interface Status {
  readonly hashCache: readonly { table: string; key: string; state: string; done: number; total?: number }[];
}

/** `cleanroom status --json` until every own join key is ready, for at most `ms` (3x what it takes here, and more). */
async function ready(dir: string, ms = 60_000): Promise<Status> {
  const until = Date.now() + ms;
  for (;;) {
    const run = await cleanroom(['status', dir, '--json']);
    const s = JSON.parse(run.stdout) as Status;
    if (s.hashCache.length > 0 && s.hashCache.every((h) => h.state === 'ready')) return s;
    if (Date.now() > until) throw new Error(`hash cache not ready after ${ms} ms: ${run.stdout}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The Parquet files of a node's hash cache: a query that hashed keys would have written one more. */
function cacheFiles(dir: string): string[] {
  const cache = join(dir, 'cache');
  return readdirSync(cache, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet')).sort();
}

describe('background hashing of a node\'s own join keys', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>> | undefined;
  let cluster: Cluster | undefined;
  let orders = '';

  beforeAll(async () => {
    tmp = await makeTempDir('cache-warmer');
    const rand = prng(2026);
    orders = join(tmp.dir, 'orders.csv');
    const visits = join(tmp.dir, 'visits.csv');
    await writeCsv(orders, ['email', 'phone', 'amount'], Array.from({ length: 3000 }, (_, i) => [`p${i}@x.org`, `+33 6 ${10_000 + i}`, (rand() * 400).toFixed(2)]));
    await writeCsv(visits, ['email'], Array.from({ length: 2000 }, (_, i) => [`p${i + 1000}@x.org`]));
    cluster = await startCluster({
      dir: join(tmp.dir, 'nodes'),
      collaborationId: 'cache-warmer',
      members: [
        { id: 'shop', name: 'Shop', tables: { orders: { path: orders, format: 'csv' } } },
        { id: 'media', name: 'Media', tables: { visits: { path: visits, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: ['shop', 'media'],
      receivers: ['shop', 'media'],
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('status reports each own join key ready with its distinct keys, and the first query after it hashes none of its own', async () => {
    const dir = cluster!.nodeDirs.shop!;
    const s = await ready(dir);
    expect(s.hashCache).toEqual([
      { table: 'orders', key: 'email', state: 'ready', done: 3000, total: 3000 },
      { table: 'orders', key: 'phone', state: 'ready', done: 3000, total: 3000 },
    ]);
    const text = await cleanroom(['status', dir]);
    expect(text.stdout).toContain('hash cache: orders.email ready, 3000 of 3000 distinct keys');
    const before = cacheFiles(dir);
    const answer = await query(dir, 'SELECT SUM(o.amount), COUNT(*) FROM orders o JOIN visits v ON o.email = v.email');
    expect(answer.kind).toBe('result');
    expect(cacheFiles(dir)).toEqual(before);
  });

  it('a file that grows is hashed again: its new keys are in the cache before the next query', async () => {
    const dir = cluster!.nodeDirs.shop!;
    appendFileSync(orders, Array.from({ length: 500 }, (_, i) => `p${5000 + i}@x.org,+33 6 ${20_000 + i},1.00`).join('\n') + '\n');
    const until = Date.now() + 60_000;
    let s: Status;
    do {
      await new Promise((r) => setTimeout(r, 500));
      s = JSON.parse((await cleanroom(['status', dir, '--json'])).stdout) as Status;
    } while (!(s.hashCache.every((h) => h.state === 'ready' && h.total === 3500)) && Date.now() < until);
    expect(s.hashCache.map((h) => h.total)).toEqual([3500, 3500]);
    const before = cacheFiles(dir);
    const answer = await query(dir, 'SELECT SUM(o.amount) FROM orders o JOIN visits v ON o.email = v.email');
    expect(answer.kind).toBe('result');
    expect(cacheFiles(dir)).toEqual(before);
  }, 90_000);
});
