import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, type QueryAnswer } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { plaintextAnswer, type TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { impressionsTable, keyOnlyTable, writeRetailData } from '../support/retail-tables.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * Many queries at once across three node processes: two- and three-member joins, GROUP BY and count-only, asked
 * by two members at the same time. Every answer equals the plaintext oracle's over the pooled files.
 * Before per-table preparation, each query re-created shared views and about half of them failed.
 */
const MIN_KEYS = 3;
const CONCURRENT = 20;

function tables(): Table[] {
  return [impressionsTable(MIN_KEYS, ['shop1']), keyOnlyTable('orders1', 'shop1', MIN_KEYS, ['pub', 'shop1']), keyOnlyTable('orders2', 'shop2', MIN_KEYS, ['pub', 'shop1'])];
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
    const files = writeRetailData(tmp.dir, {
      seed: 11,
      impressions: { rows: 1500, people: 1000 },
      keyOnly: [
        { name: 'orders1', from: 200, to: 900, rows: 800 },
        { name: 'orders2', from: 300, to: 1200, rows: 800 },
      ],
    });
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
