import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { plaintextAnswer, type TableData } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { impressionsTable, keyOnlyTable, writeRetailData } from '../support/retail-tables.js';
import { makeTempDir, startCluster, type Cluster } from './helpers.js';

/**
 * Joins of three and four members as separate node processes over loopback: every result equals the plaintext
 * oracle's answer over the pooled files; each node audits every query that touched its tables.
 */
const MEMBERS = ['pub', 'shop1', 'shop2', 'bank'] as const;
const MIN_KEYS = 3;

function tables(): Table[] {
  return [
    impressionsTable(MIN_KEYS, []),
    keyOnlyTable('orders1', 'shop1', MIN_KEYS, ['pub']),
    keyOnlyTable('orders2', 'shop2', MIN_KEYS, ['pub']),
    // The bank grants the publisher nothing: joins with it are count-only.
    keyOnlyTable('accounts', 'bank', MIN_KEYS, []),
  ];
}

describe('joins of three and four members, node processes on loopback', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let pooled: TableData;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    const tmp = await makeTempDir('multi');
    cleanup = tmp.cleanup;
    Object.assign(files, writeRetailData(tmp.dir, {
      seed: 7,
      impressions: { rows: 900, people: 600 },
      keyOnly: [
        { name: 'orders1', from: 100, to: 500, rows: 500 },
        { name: 'orders2', from: 200, to: 700, rows: 500 },
        { name: 'accounts', from: 0, to: 400, rows: 500 },
      ],
    }));
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'multi',
      members: [
        { id: 'pub', name: 'Publisher', tables: { impressions: { path: files.impressions!, format: 'csv' } } },
        { id: 'shop1', name: 'Shop one', tables: { orders1: { path: files.orders1!, format: 'csv' } } },
        { id: 'shop2', name: 'Shop two', tables: { orders2: { path: files.orders2!, format: 'csv' } } },
        { id: 'bank', name: 'Bank', tables: { accounts: { path: files.accounts!, format: 'csv' } } },
      ],
      tables: tables(),
      queriers: [...MEMBERS],
      receivers: ['pub', 'shop1'],
    });
    pooled = await readCsvTables(files);
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('three members: GROUP BY with SUM and AVG over the publisher\'s rows whose key both shops have (filtered)', async () => {
    const sql = "SELECT i.campaign, COUNT(*), SUM(i.cost), AVG(i.cost) FROM impressions i JOIN orders1 a ON i.email = a.email JOIN orders2 b ON i.email = b.email WHERE b.region = 'north' GROUP BY i.campaign";
    const expected = (await plaintextAnswer(sql, tables(), pooled)).rows;
    expect(expected.length).toBeGreaterThan(0);
    const answer = await query(cluster.nodeDirs.shop1!, sql);
    if (answer.kind !== 'result') throw new Error(JSON.stringify(answer));
    expect(answer.result.rows.map((r) => [r[0], r[1], r[2]])).toEqual(expected.map((r) => [r[0], r[1], r[2]]));
    answer.result.rows.forEach((r, i) => expect(Number(r[3])).toBeCloseTo(Number(expected[i]![3]), 6));
  });

  it('four members: count-only intersection, asked by a member that grants nothing', async () => {
    const sql = 'SELECT COUNT(*) FROM accounts c JOIN impressions i ON c.email = i.email JOIN orders1 a ON c.email = a.email JOIN orders2 b ON c.email = b.email';
    // The intersection size, released or not.
    const n = (await plaintextAnswer(sql, tables(), pooled)).groups[0]!.keys;
    expect(n).toBeGreaterThanOrEqual(MIN_KEYS);
    // The bank is no receiver: it learns that its query ran, the receivers among the members get the count.
    expect(await query(cluster.nodeDirs.bank!, sql)).toMatchObject({ kind: 'released', groups: 1 });
    const fromPub = await query(cluster.nodeDirs.pub!, sql);
    expect(fromPub).toMatchObject({ kind: 'result', result: { rows: [[n]] } });
  });

  it('refuses a GROUP BY when one of the other members has not granted disclosure', async () => {
    const answer = await query(cluster.nodeDirs.pub!, 'SELECT i.campaign, COUNT(*) FROM impressions i JOIN orders1 a ON i.email = a.email JOIN accounts c ON i.email = c.email GROUP BY i.campaign');
    expect(answer).toMatchObject({ kind: 'error', code: 'RULE_VIOLATION', message: expect.stringContaining('accounts.rules.overlapDisclosure') });
  });

  it('every node audited the queries on its tables, and its chain verifies; a tampered entry is detected', async () => {
    for (const id of MEMBERS) {
      const file = join(cluster.nodeDirs[id]!, 'audit.jsonl');
      expect(await AuditLog.verify(file)).toMatchObject({ ok: true });
      const entries = await AuditLog.read(file);
      expect(entries.some((e) => e.event === 'accepted' || e.event === 'proposed')).toBe(true);
      // Nothing but aggregates' shape is audited: no key of any table appears.
      expect(readFileSync(file, 'utf8')).not.toMatch(/person\d+@example\.com/i);
    }
    const file = join(cluster.nodeDirs.shop2!, 'audit.jsonl');
    const text = readFileSync(file, 'utf8');
    writeFileSync(join(cluster.nodeDirs.shop2!, 'tampered.jsonl'), text.replace('"event":"accepted"', '"event":"refused"'));
    expect(await AuditLog.verify(join(cluster.nodeDirs.shop2!, 'tampered.jsonl'))).toMatchObject({ ok: false });
  });
});
