import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startNode, type RunningNode } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { readCsvTables } from '../../scripts/plaintext/csv-tables.js';
import { makeTempDir, startCluster, stopNode, type Cluster } from './helpers.js';

/**
 * A member's node dies (SIGKILL) or hangs (SIGSTOP) at each stage of a query, through the failpoints of
 * src/failpoint.ts: before it accepts, in the middle of PSI, while it aggregates (its first shares), and while
 * the values are released (its first opening). The querier's CLI must return promptly with ABORTED or
 * PEER_UNREACHABLE, nothing partial may be released or written, both audit logs must verify, and after a restart
 * the same query must give the right answer.
 */
const MIN_KEYS = 3;
/**
 * How soon after the peer's death the querier's CLI must have returned: about 2 s on an idle machine (the node sees
 * the socket close at once; the rest is the CLI process), held at 3x slowdown on a busy one. The default idle limit a
 * hung peer would otherwise run into is minutes.
 */
const PROMPT_MS = 6_000;
/** The survivor's session idle limit in the hang test (the default is minutes). */
const IDLE_MS = 3_000;

const TABLES: Table[] = [
  {
    name: 'impressions',
    owner: 'pub',
    columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['campaign'], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['shop'] },
  },
  {
    name: 'orders',
    owner: 'shop',
    columns: [{ name: 'email', type: 'string' }, { name: 'category', type: 'string' }, { name: 'amount', type: 'decimal', scale: 2, min: 0, max: 10000 }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['category'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [] },
  },
];
// The publisher asks; the shop aggregates (it holds the summed column), so every stage below happens on the shop.
const SQL = 'SELECT o.category, COUNT(*), SUM(o.amount) FROM orders o JOIN impressions i ON o.email = i.email GROUP BY o.category';

interface CliRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly endedAt: number;
}

function cliQuery(dir: string, sql: string): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI(), 'query', dir, sql, '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr, endedAt: Date.now() })));
}

function exitOf(n: RunningNode): Promise<number> {
  return new Promise((resolve) => {
    if (n.process.exitCode !== null || n.process.signalCode !== null) resolve(Date.now());
    else n.process.once('exit', () => resolve(Date.now()));
  });
}

const count = (dir: string, event: string) => readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter((l) => l.includes(`"event":"${event}"`)).length;
const resultFiles = (dir: string) => (existsSync(join(dir, 'results')) ? readdirSync(join(dir, 'results')).length : 0);

describe('a peer that dies or hangs at each stage of a query', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;
  let shop: RunningNode;
  let pub: RunningNode;
  let expected: string[][];

  beforeAll(async () => {
    const tmp = await makeTempDir('crash');
    cleanup = tmp.cleanup;
    const impressions = join(tmp.dir, 'impressions.csv');
    const orders = join(tmp.dir, 'orders.csv');
    writeFileSync(impressions, 'email,campaign\n' + Array.from({ length: 400 }, (_, i) => `person${i}@example.com,${['spring', 'summer'][i % 2]}`).join('\n') + '\n');
    writeFileSync(orders, 'email,category,amount\n' + Array.from({ length: 400 }, (_, i) => `person${i + 150}@example.com,${['books', 'toys', 'garden'][i % 3]},${(i % 97) + 0.25}`).join('\n') + '\n');
    cluster = await startCluster({
      dir: tmp.dir,
      collaborationId: 'crash',
      members: [
        { id: 'pub', name: 'Publisher', tables: { impressions: { path: impressions, format: 'csv' } } },
        { id: 'shop', name: 'Shop', tables: { orders: { path: orders, format: 'csv' } } },
      ],
      tables: TABLES,
      queriers: ['pub'],
      receivers: ['pub', 'shop'],
    });
    shop = cluster.nodes.shop!;
    pub = cluster.nodes.pub!;
    expected = (await plaintextAnswer(SQL, TABLES, await readCsvTables({ impressions, orders }))).rows.map((r) => r.map(String));
    expect(expected.length).toBe(3);
  });
  afterAll(async () => {
    await Promise.all([shop, pub].filter(Boolean).map(async (n) => (n.process.kill('SIGKILL'), stopNode(n))));
    await cleanup?.();
  });

  async function restartShop(env: NodeJS.ProcessEnv): Promise<void> {
    shop.process.kill('SIGKILL');
    await stopNode(shop);
    shop = await startNode(cluster.nodeDirs.shop!, env);
  }

  async function expectCorrectAnswer(): Promise<void> {
    const child = spawn(process.execPath, [CLI(), 'query', cluster.nodeDirs.pub!, SQL, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    const rows = (JSON.parse(out) as { rows: unknown[][] }).rows.map((r) => r.map(String));
    expect(rows).toEqual(expected);
  }

  for (const place of ['before-accept', 'send:points', 'send:shares', 'send:open'] as const) {
    it(`killed at ${place}: the querier returns within ${PROMPT_MS} ms, nothing is released, the logs verify, a rerun is right`, async () => {
      await restartShop({ CLEANROOM_FAILPOINT: `crash@${place}` });
      const before = { results: resultFiles(cluster.nodeDirs.pub!), released: count(cluster.nodeDirs.pub!, 'result') + count(cluster.nodeDirs.pub!, 'released') };
      const died = exitOf(shop);
      const run = await cliQuery(cluster.nodeDirs.pub!, SQL);
      const diedAt = await died;
      expect(shop.process.signalCode).toBe('SIGKILL');
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/cleanroom: (ABORTED|PEER_UNREACHABLE): /);
      expect(run.endedAt - diedAt).toBeLessThan(PROMPT_MS);
      expect(resultFiles(cluster.nodeDirs.pub!)).toBe(before.results);
      expect(count(cluster.nodeDirs.pub!, 'result') + count(cluster.nodeDirs.pub!, 'released')).toBe(before.released);
      for (const id of ['pub', 'shop']) expect(await AuditLog.verify(join(cluster.nodeDirs[id]!, 'audit.jsonl'))).toMatchObject({ ok: true });
      expect(pub.process.exitCode).toBeNull();
      await restartShop({});
      await expectCorrectAnswer();
    });
  }

  it(`frozen in the middle of PSI: the querier ends the query at its idle limit`, async () => {
    await stopNode(pub);
    const config = join(cluster.nodeDirs.pub!, 'config.json');
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), sessionIdleTimeoutMs: IDLE_MS }, null, 2));
    pub = await startNode(cluster.nodeDirs.pub!);
    await restartShop({ CLEANROOM_FAILPOINT: 'freeze@send:points' });
    const started = Date.now();
    const run = await cliQuery(cluster.nodeDirs.pub!, SQL);
    expect(run.stderr).toMatch(/cleanroom: TIMEOUT: /);
    expect(run.endedAt - started).toBeGreaterThanOrEqual(IDLE_MS);
    // The idle limit, then the abort reaching the CLI (PROMPT_MS), and the CLI's own start, at 3x slowdown.
    expect(run.endedAt - started).toBeLessThan(IDLE_MS + PROMPT_MS + 3_000);
    expect(await AuditLog.verify(join(cluster.nodeDirs.pub!, 'audit.jsonl'))).toMatchObject({ ok: true });
    await restartShop({});
    await expectCorrectAnswer();
  });
});
