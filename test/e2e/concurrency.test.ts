import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../scripts/demo-data.js';
import { query, type QueryAnswer } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { plaintextAnswer, type TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * Many queries at once across three node processes: two- and three-member joins, GROUP BY and count-only, asked
 * by two members at the same time. Every answer equals the plaintext oracle's over the pooled files.
 * Before per-table preparation, each query re-created shared views and about half of them failed.
 */
const MIN_KEYS = 3;
const CONCURRENT = 20;

function tables(): Table[] {
  const keyOnly = (name: string, owner: string): Table => ({
    name,
    owner,
    columns: [{ name: 'email', type: 'string' }, { name: 'region', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['region'], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['pub', 'shop1'] },
  });
  return [
    {
      name: 'impressions',
      owner: 'pub',
      columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string' }, { name: 'cost', type: 'decimal', scale: 2, min: -1000, max: 1000 }],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'cost', functions: ['sum', 'avg'] }], dimensions: ['campaign'], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['shop1'] },
    },
    keyOnly('orders1', 'shop1'),
    keyOnly('orders2', 'shop2'),
  ];
}

interface Case {
  readonly asker: 'pub' | 'shop1';
  readonly sql: string;
}

const CASES: readonly Case[] = [
  { asker: 'pub', sql: 'SELECT i.campaign, COUNT(*), SUM(i.cost) FROM impressions i JOIN orders1 a ON i.email = a.email GROUP BY i.campaign' },
  { asker: 'shop1', sql: "SELECT COUNT(*) FROM orders1 a JOIN impressions i ON a.email = i.email WHERE a.region = 'north'" },
  { asker: 'pub', sql: "SELECT i.campaign, COUNT(*), SUM(i.cost) FROM impressions i JOIN orders1 a ON i.email = a.email JOIN orders2 b ON i.email = b.email WHERE b.region = 'south' GROUP BY i.campaign" },
  { asker: 'shop1', sql: 'SELECT COUNT(*) FROM orders1 a JOIN orders2 b ON a.email = b.email JOIN impressions i ON a.email = i.email' },
];

describe(`${CONCURRENT} concurrent mixed queries across three node processes`, () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let pooled: TableData;

  beforeAll(async () => {
    const tmp = await makeTempDir('concurrency');
    cleanup = tmp.cleanup;
    const rand = prng(11);
    const email = (i: number) => (rand() < 0.3 ? ` Person${i}@Example.com ` : `person${i}@example.com`);
    const files: Record<string, string> = {};
    const write = (name: string, header: string, rows: string[]) => {
      files[name] = join(tmp.dir, `${name}.csv`);
      writeFileSync(files[name]!, header + '\n' + rows.join('\n') + '\n');
    };
    write('impressions', 'email,campaign,cost', Array.from({ length: 1500 }, () => {
      const i = Math.floor(rand() * 1000);
      return `"${email(i)}",${['spring', 'summer', 'autumn'][i % 3]},${(Math.floor(rand() * 20000) / 100 - 50).toFixed(2)}`;
    }));
    for (const [name, from, to] of [['orders1', 200, 900], ['orders2', 300, 1200]] as const) {
      write(name, 'email,region', Array.from({ length: 800 }, () => {
        const i = from + Math.floor(rand() * (to - from));
        return `"${email(i)}",${['north', 'south'][i % 2]}`;
      }));
    }
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'concurrency',
      members: [
        { id: 'pub', name: 'Publisher', tables: { impressions: { path: files.impressions!, format: 'csv' } } },
        { id: 'shop1', name: 'Shop one', tables: { orders1: { path: files.orders1!, format: 'csv' } } },
        { id: 'shop2', name: 'Shop two', tables: { orders2: { path: files.orders2!, format: 'csv' } } },
      ],
      tables: tables(),
      queriers: ['pub', 'shop1'],
      receivers: ['pub', 'shop1'],
    });
    pooled = await readCsvTables(files);
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('all answer, all correct, and every audit chain verifies', async () => {
    const expected = (await Promise.all(CASES.map((c) => plaintextAnswer(c.sql, tables(), pooled)))).map((a) => a.rows);
    for (const rows of expected) expect(rows.length).toBeGreaterThan(0);
    const runs = Array.from({ length: CONCURRENT }, (_, i) => i % CASES.length);
    const answers: QueryAnswer[] = await Promise.all(runs.map((c) => query(cluster.nodeDirs[CASES[c]!.asker]!, CASES[c]!.sql)));
    const wrong = answers.flatMap((a, i) => {
      const want = expected[runs[i]!]!;
      if (a.kind !== 'result') return [`query ${i} (${CASES[runs[i]!]!.sql}): ${JSON.stringify(a)}`];
      const got = a.result.rows.map((r) => r.map((v) => (v === null ? null : String(v))));
      return JSON.stringify(got) === JSON.stringify(want.map((r) => r.map((v) => (v === null ? null : String(v))))) ? [] : [`query ${i}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`];
    });
    expect(wrong).toEqual([]);
    for (const id of ['pub', 'shop1', 'shop2']) expect(await AuditLog.verify(join(cluster.nodeDirs[id]!, 'audit.jsonl'))).toMatchObject({ ok: true });
  });
});
