import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, startNode, type RunningNode } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { cleanroom, makeTempDir, startCluster, stopNode, type Cluster } from './helpers.js';

/**
 * A node reads every row of its tables before it serves (`cleanroom start`, and `cleanroom check` alone): every
 * problem is named by file, line, column and rule for the operator; a bad value refuses only the queries that use
 * its column; a file no query can use stops the node from starting; the value never reaches the audit log.
 */
const BAD_VALUE = '12.345';

const TABLES: Table[] = [
  {
    name: 'impressions',
    owner: 'pub',
    columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['campaign'], minDistinctKeys: 3, overlapDisclosure: ['shop'] },
  },
  {
    name: 'orders',
    owner: 'shop',
    columns: [{ name: 'email', type: 'string' }, { name: 'category', type: 'string' }, { name: 'amount', type: 'decimal', scale: 2, min: 0, max: 10000 }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['category'], minDistinctKeys: 3, overlapDisclosure: [] },
  },
];

describe('tables checked at start, and by cleanroom check', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let orders: string;

  beforeAll(async () => {
    const tmp = await makeTempDir('check');
    cleanup = tmp.cleanup;
    const impressions = join(tmp.dir, 'impressions.csv');
    orders = join(tmp.dir, 'orders.csv');
    writeFileSync(impressions, 'email,campaign\n' + Array.from({ length: 50 }, (_, i) => `person${i}@example.com,spring`).join('\n') + '\n');
    // Line 4 (the header is line 1) has one decimal too many in `amount`, which only SUM/AVG queries use.
    const rows = Array.from({ length: 50 }, (_, i) => `person${i + 10}@example.com,books,${i === 2 ? BAD_VALUE : '1.50'}`);
    writeFileSync(orders, 'email,category,amount\n' + rows.join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'check',
      members: [
        { id: 'pub', name: 'Publisher', tables: { impressions: { path: impressions, format: 'csv' } } },
        { id: 'shop', name: 'Shop', tables: { orders: { path: orders, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: ['pub', 'shop'],
      receivers: ['pub', 'shop'],
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('start reports the bad value with file, line, column and rule, and serves the queries that do not use it', async () => {
    const log = cluster.nodes.shop!.log.join('');
    expect(log).toContain(`${orders} line 4: amount "${BAD_VALUE}" has more than 2 decimals`);
    const count = await query(cluster.nodeDirs.pub!, 'SELECT COUNT(*) FROM impressions i JOIN orders o ON i.email = o.email');
    expect(count).toMatchObject({ kind: 'result', result: { rows: [[40]] } });
  });

  it('a query that uses the bad column is refused; the peer learns the code only and the audit log no value', async () => {
    const own = await query(cluster.nodeDirs.shop!, 'SELECT o.category, SUM(o.amount) FROM orders o JOIN impressions i ON o.email = i.email GROUP BY o.category');
    expect(own).toMatchObject({ kind: 'error', code: 'DATA_INVALID' });
    expect((own as { message: string }).message).toContain('line 4');
    const asked = await query(cluster.nodeDirs.pub!, 'SELECT COUNT(*), SUM(o.amount) FROM impressions i JOIN orders o ON i.email = o.email');
    expect(asked).toMatchObject({ kind: 'error', code: 'DATA_INVALID' });
    expect((asked as { message: string }).message).not.toContain(BAD_VALUE);
    const audit = readFileSync(join(cluster.nodeDirs.shop!, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('line 4');
    expect(audit).not.toContain(BAD_VALUE);
  });

  it('cleanroom check lists every problem and exits 1; a clean node exits 0', async () => {
    const bad = await cleanroom(['check', cluster.nodeDirs.shop!]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`line 4: amount "${BAD_VALUE}" has more than 2 decimals`);
    expect(bad.stderr).toMatch(/^cleanroom: DATA_INVALID: 1 problem\(s\) in orders/);
    const good = await cleanroom(['check', cluster.nodeDirs.pub!]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('table impressions');
    expect(good.stdout).toContain('50 row(s)');
  });

  it('a file no query can use (a ragged line) stops the node from starting, naming file and line', async () => {
    const text = readFileSync(orders, 'utf8').split('\n');
    text[6] = 'person99@example.com,books';
    writeFileSync(orders, text.join('\n'));
    await stopNode(cluster.nodes.shop!);
    const failed = await startNode(cluster.nodeDirs.shop!).then(
      (n: RunningNode) => (n.process.kill('SIGKILL'), 'started'),
      (err: Error) => err.message,
    );
    expect(failed).toContain('DATA_INVALID');
    expect(failed).toContain(`${orders} line 7`);
  });
});
