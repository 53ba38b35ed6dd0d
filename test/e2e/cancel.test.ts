/**
 * Cancelling a long query (issue 21, item 5) with two real node processes: the CLI's progress says what this node
 * and its peer do, one line per change on a pipe; the first Ctrl-C makes the querier's node fail the query with
 * CANCELLED and tell the peer, which aborts too; nothing is released, both audit logs record the query as cancelled,
 * and the budget charged for it under the table's privacy policy stays charged. A second Ctrl-C exits at once.
 * The tables are large and the crypto the pure-JS backend on one worker, so that the query lasts long enough.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../scripts/local-cluster.js';
import type { Table } from '../../src/manifest/schema.js';
import { cleanroom, makeTempDir, startCluster, type Cluster } from './helpers.js';

/** Keys per table: minutes of hashing and blinding with the pure-JS backend on one worker, far past any cancel here. */
const KEYS = 60_000;
const EPSILON = 1;
const SQL = 'SELECT a.g, COUNT(*) FROM t_ann a JOIN t_bob b ON a.k = b.k GROUP BY a.g';
/** From the Ctrl-C to the CLI's exit and to both audit entries: one message and one fsync each, at 3x slowdown. */
const CANCEL_BOUND_MS = 15_000;

function table(name: string, owner: string, privacy: boolean): Table {
  return {
    name,
    owner,
    columns: [
      { name: 'k', type: 'string' },
      { name: 'g', type: 'string', values: ['g0', 'g1'] },
    ],
    joinKey: { column: 'k', normalization: 'exact' },
    rules: {
      aggregations: [],
      dimensions: ['g'],
      minDistinctKeys: 2,
      overlapDisclosure: ['ann', 'bob'].map((member) => ({ member, filters: ['g'] })),
      ...(privacy ? { privacy: { epsilon: EPSILON, delta: 1e-6, maxRowsPerKey: 1, budget: { epsilon: 10, refresh: 'never' as const } } } : {}),
    },
  };
}

interface Running {
  readonly stderr: () => string;
  readonly interrupt: () => void;
  readonly exited: Promise<{ code: number | null; at: number }>;
}

function startQuery(dir: string): Running {
  const child = spawn(process.execPath, [CLI(), 'query', dir, SQL], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdout.resume();
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exited = new Promise<{ code: number | null; at: number }>((r) =>
    child.once('close', (code) => {
      clearTimeout(killer);
      r({ code, at: Date.now() });
    }),
  );
  return { stderr: () => stderr, interrupt: () => child.kill('SIGINT'), exited };
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const audit = (dir: string) =>
  existsSync(join(dir, 'audit.jsonl'))
    ? readFileSync(join(dir, 'audit.jsonl'), 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { queryId: string; event: string; detail: string })
    : [];

describe('cancelling a long query', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = await makeTempDir('cancel'));
    const csv = (name: string, from: number) => {
      const path = join(dir, `${name}.csv`);
      writeFileSync(path, 'k,g\n' + Array.from({ length: KEYS }, (_, i) => `k${from + i},g${i % 2}`).join('\n') + '\n');
      return path;
    };
    cluster = await startCluster({
      dir,
      collaborationId: 'cancel',
      backend: 'noble',
      workers: 1,
      members: [
        { id: 'ann', name: 'Ann', tables: { t_ann: { path: csv('t_ann', 0), format: 'csv' } } },
        { id: 'bob', name: 'Bob', tables: { t_bob: { path: csv('t_bob', KEYS / 2), format: 'csv' } } },
      ],
      tables: [table('t_ann', 'ann', true), table('t_bob', 'bob', false)],
      queriers: ['ann'],
      receivers: ['ann'],
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await cleanup?.();
  });

  it('Ctrl-C cancels it on both nodes: nothing released, both audits say cancelled, the budget stays charged', async () => {
    const ann = cluster.nodeDirs.ann!;
    const bob = cluster.nodeDirs.bob!;
    const q = startQuery(ann);
    // Progress on a pipe: a line per change, each naming what this node does and what the peer does.
    await until('a progress line of the running query', () => /: (hashing own keys into the cache|blinding own keys) \d/.test(q.stderr()), 90_000);
    const interrupted = Date.now();
    q.interrupt();
    const { code, at } = await q.exited;
    const stderr = q.stderr();
    expect(stderr).not.toContain('\r');
    expect(stderr).toMatch(/^\d+ s: .*; bob: /m);
    expect(stderr).toMatch(/cancelling query [0-9a-f]{32}: waiting up to/);
    expect(stderr.trimEnd().split('\n').at(-1)).toMatch(/^cleanroom: CANCELLED: /);
    expect(code).toBe(1);
    expect(at - interrupted).toBeLessThan(CANCEL_BOUND_MS);
    const queryId = /cancelling query ([0-9a-f]{32})/.exec(stderr)![1]!;

    // The peer aborts too, and says why: an abort reached it with the code.
    await until("bob's audit entry", () => audit(bob).some((e) => e.queryId === queryId && e.event === 'cancelled'), CANCEL_BOUND_MS);
    for (const dir of [ann, bob]) {
      const events = audit(dir).filter((e) => e.queryId === queryId);
      expect(events.map((e) => e.event)).toContain('cancelled');
      expect(events.map((e) => e.event)).not.toContain('result');
      expect(events.map((e) => e.event)).not.toContain('released');
      expect(events.find((e) => e.event === 'cancelled')!.detail).toMatch(/^CANCELLED: /);
    }
    expect(existsSync(join(ann, 'results', `${queryId}.json`))).toBe(false);
    // Charged before it was proposed, and never refunded.
    const budget = await cleanroom(['budget', ann, '--json']);
    expect(budget.code, budget.stderr).toBe(0);
    const { charges } = JSON.parse(budget.stdout) as { charges: { queryId: string; table: string }[] };
    expect(charges.filter((c) => c.queryId === queryId).map((c) => c.table)).toEqual(['t_ann']);
    const verify = await cleanroom(['audit', ann, '--verify']);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('a second Ctrl-C exits at once, while the first waits for a node that does not answer', async () => {
    const ann = cluster.nodeDirs.ann!;
    const node = cluster.nodes.ann!.process;
    const q = startQuery(ann);
    await until('the first progress line', () => /^\d+ s: /m.test(q.stderr()), 60_000);
    // The node stops answering (SIGSTOP): the cancel cannot be confirmed, and the first Ctrl-C waits for it.
    node.kill('SIGSTOP');
    try {
      q.interrupt();
      await until('the cancel notice', () => q.stderr().includes('cancelling query'), 5_000);
      const second = Date.now();
      q.interrupt();
      const { code, at } = await q.exited;
      expect(code).toBe(130);
      expect(at - second).toBeLessThan(3_000);
      expect(q.stderr().trimEnd().split('\n').at(-1)).toBe('cleanroom: CANCELLED: exiting without waiting for the abort');
    } finally {
      node.kill('SIGCONT');
    }
    // The cancel the first Ctrl-C sent reaches the node once it runs again.
    const queryId = /cancelling query ([0-9a-f]{32})/.exec(q.stderr())![1]!;
    await until("ann's audit entry", () => audit(ann).some((e) => e.queryId === queryId && e.event === 'cancelled'), CANCEL_BOUND_MS);
    await until("bob's audit entry", () => audit(cluster.nodeDirs.bob!).some((e) => e.queryId === queryId && e.event === 'cancelled'), CANCEL_BOUND_MS);
  });
});
