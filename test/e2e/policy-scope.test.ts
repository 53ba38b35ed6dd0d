/**
 * A privacy policy protects its own table only (issue 17, SPEC §4.2, §7, §10): a querier that puts the loosest policy
 * the schema allows on its own table gains nothing against a table without one. Played over two node processes by
 * the curious querier itself: a publisher that filters its own set down to one person and asks whether the
 * advertiser has them, and one that asks the AVG of a column whose rule allows only AVG.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { AuditEntry } from '../../src/audit/audit-log.js';
import type { Table } from '../../src/manifest/schema.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

const MIN_KEYS = 20;
/** The loosest policy the schema allows. */
const LOOSEST = { epsilon: 10, delta: 1e-3, maxRowsPerKey: 1, budget: { epsilon: 1000, refresh: 'never' as const } };

const tables: Table[] = [
  {
    name: 'visits',
    owner: 'pub',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'campaign', type: 'string' },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['campaign'], minDistinctKeys: 1, overlapDisclosure: ['shop'], privacy: LOOSEST },
  },
  {
    name: 'orders',
    owner: 'shop',
    columns: [
      { name: 'email', type: 'string' },
      { name: 'amount', type: 'decimal', scale: 2, min: 0, max: 100 },
    ],
    joinKey: { column: 'email', normalization: 'email' },
    // No policy: the minimum holds exactly, and AVG alone may be asked, never the sum and count behind it.
    rules: { aggregations: [{ column: 'amount', functions: ['avg'] }], dimensions: [], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['pub'] },
  },
];

const email = (p: number) => `person${p}@example.com`;
const auditOf = (dir: string): AuditEntry[] =>
  readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEntry);

describe('a policy on the querier\'s own table lifts none of the other table\'s protections', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const tmp = await makeTempDir('scope');
    cleanup = tmp.cleanup;
    // pub: 200 people on campaign "wide", person 7 alone on "solo"; shop: people 0-99 bought.
    const visits = join(tmp.dir, 'visits.csv');
    const orders = join(tmp.dir, 'orders.csv');
    writeFileSync(visits, 'email,campaign\n' + Array.from({ length: 200 }, (_, p) => `${email(p)},wide`).join('\n') + `\n${email(7)},solo\n`);
    writeFileSync(orders, 'email,amount\n' + Array.from({ length: 100 }, (_, p) => `${email(p)},${p % 50}.25`).join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'policy-scope',
      members: [
        { id: 'pub', name: 'Publisher', tables: { visits: { path: visits, format: 'csv' } } },
        { id: 'shop', name: 'Shop', tables: { orders: { path: orders, format: 'csv' } } },
      ],
      tables,
      queriers: ['pub', 'shop'],
      receivers: ['pub', 'shop'],
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('the publisher\'s padded set of one is refused by its own node before it dials: shop never hears of the probe', async () => {
    const sql = "SELECT COUNT(*) FROM visits v JOIN orders o ON v.email = o.email WHERE v.campaign = 'solo'";
    const before = auditOf(cluster.nodeDirs.shop!).length;
    const answer = await query(cluster.nodeDirs.pub!, sql);
    expect(answer).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION' });
    expect(answer.kind === 'error' && answer.message).toMatch(/visits filtered by this query holds 1 key\(s\), fewer than the 20 .*orders has no privacy policy/);
    expect(auditOf(cluster.nodeDirs.shop!)).toHaveLength(before);
    expect(auditOf(cluster.nodeDirs.pub!).at(-1)).toMatchObject({ event: 'refused', sql });
    // The same question over a set of 200 runs, its answer noisy at visits' ε (shop's minimum applies to it).
    const wide = await query(cluster.nodeDirs.pub!, "SELECT COUNT(*) FROM visits v JOIN orders o ON v.email = o.email WHERE v.campaign = 'wide'");
    expect(wide).toMatchObject({ kind: 'result', result: { privacy: { epsilon: '10' } } });
  });

  it('AVG of shop\'s avg-only column stays refused: visits\' policy does not make shop\'s values noisy for its rule', async () => {
    const answer = await query(cluster.nodeDirs.shop!, 'SELECT AVG(o.amount) FROM orders o JOIN visits v ON o.email = v.email');
    expect(answer).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION', message: expect.stringMatching(/privacy policy on orders/) });
  });
});
