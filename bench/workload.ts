import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { controlEndpoint, nodeStatus } from '../src/control/control-client.js';
import { hashToGroupDst, type PsiGroup } from '../src/crypto/group.js';
import { QuerySecret } from '../src/crypto/secret.js';
import { createCluster, freePort } from '../scripts/local-cluster.js';
import type { Table } from '../src/manifest/schema.js';

/**
 * The benchmarks' workload: alpha holds keys [0, n) with a group (i mod 10) and a value (i mod 1000), beta holds
 * keys [n/2, 3n/2); the answer is known in closed form, so every run checks its own result.
 */
export const GROUPS = 10;

export const key = (i: number) => `person${String(i).padStart(8, '0')}@example.com`;

const MIN_KEYS = 10;

/** alpha's sales (key, group, value) and beta's audience (key), joined by normalised email. */
export const BENCH_TABLES: readonly Table[] = [
  {
    name: 'sales',
    owner: 'alpha',
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1_000_000 }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [{ column: 'v', functions: ['sum', 'avg'] }], dimensions: ['g'], minDistinctKeys: MIN_KEYS, overlapDisclosure: [] },
  },
  {
    name: 'audience',
    owner: 'beta',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: MIN_KEYS, overlapDisclosure: ['alpha'] },
  },
];

/** The end-to-end query every benchmark times: its answer is `expected(n)` in the first three columns. */
export const AGGREGATE = 'SELECT s.g, COUNT(*), SUM(s.v), AVG(s.v) FROM sales s JOIN audience a ON s.k = a.k GROUP BY s.g';

/**
 * Writes both CSV files of n rows under dir/data and makes alpha's and beta's node directories under dir, alpha
 * reading every table of `tables` it owns from the sales file: resolves with the node directories.
 */
export async function benchCluster(dir: string, n: number, collaborationId: string, tables: readonly Table[]): Promise<{ alpha: string; beta: string }> {
  await mkdir(join(dir, 'data'));
  const salesFile = join(dir, 'data', 'sales.csv');
  const audienceFile = join(dir, 'data', 'audience.csv');
  await writeLines(salesFile, 'k,g,v', n, (i) => `${key(i)},g${i % GROUPS},${i % 1000}`);
  await writeLines(audienceFile, 'k', n, (i) => key(i + n / 2));
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const alphaTables = Object.fromEntries(tables.filter((t) => t.owner === 'alpha').map((t) => [t.name, { path: salesFile, format: 'csv' as const }]));
  const { nodeDirs } = await createCluster({
    dir,
    collaborationId,
    members: [
      { id: 'alpha', name: 'Alpha', port: ports[0]!, controlPort: ports[1]!, tables: alphaTables },
      { id: 'beta', name: 'Beta', port: ports[2]!, controlPort: ports[3]!, tables: { audience: { path: audienceFile, format: 'csv' } } },
    ],
    tables: [...tables],
    queriers: ['alpha'],
    receivers: ['alpha'],
  });
  return { alpha: nodeDirs.alpha!, beta: nodeDirs.beta! };
}

/** The expected `SELECT g, COUNT(*), SUM(v)` of the join, as JSON rows [g, count, sum]. */
export function expected(n: number): string {
  const rows = Array.from({ length: GROUPS }, (_, g) => ({ g: `g${g}`, count: 0, sum: 0 }));
  for (let i = n / 2; i < n; i++) {
    rows[i % GROUPS]!.count += 1;
    rows[i % GROUPS]!.sum += i % 1000;
  }
  return JSON.stringify(rows.map((r) => [r.g, r.count, String(r.sum)]));
}

export async function writeLines(file: string, header: string, n: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  out.write(header + '\n');
  const CHUNK = 10_000;
  for (let i = 0; i < n; i += CHUNK) {
    let s = '';
    for (let j = i; j < Math.min(n, i + CHUNK); j++) s += line(j) + '\n';
    if (!out.write(s)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`benchmark answer check failed: ${message}`);
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Single-core X25519 rate of `group` over about `ms` milliseconds: the unit of every bound the benchmarks state. */
export function x25519Rate(group: PsiGroup, ms = 2000): number {
  const points = group.hashToGroup(Array.from({ length: 1024 }, (_, i) => new TextEncoder().encode(key(i))), hashToGroupDst('bench'));
  const secret = QuerySecret.generate();
  group.blind(secret, points);
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    group.blind(secret, points);
    done += 1024;
  }
  secret.zero();
  return done / ((performance.now() - started) / 1000);
}

/** Waits until every own join key of each node is in its hash cache, as `cleanroom status` says. */
export async function hashedAhead(dirs: readonly string[]): Promise<void> {
  for (;;) {
    const status = await Promise.all(dirs.map(async (d) => nodeStatus(await controlEndpoint(d))));
    if (status.every((s) => s.hashCache.every((h) => h.state === 'ready'))) return;
    check(!status.some((s) => s.hashCache.some((h) => h.state === 'failed')), `background hashing failed: ${JSON.stringify(status.map((s) => s.hashCache))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The largest peak resident memory of each node directory's process, as `cleanroom status` says (MiB). */
export async function peakRss(dirs: readonly string[]): Promise<number[]> {
  return Promise.all(dirs.map(async (d) => ((await nodeStatus(await controlEndpoint(d))) as { peakRssMiB: number }).peakRssMiB));
}

/** Two decimals, for the summaries. */
export const round = (x: number): number => Math.round(x * 100) / 100;

/** Runs a benchmark's main and exits: 0 when it finished, 1 (with the stack) when it or an answer check failed. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
