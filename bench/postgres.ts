import { DuckDBInstance } from '@duckdb/node-api';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Table } from '../src/manifest/schema.js';
import { controlEndpoint, nodeStatus } from '../src/control/control-client.js';
import { createCluster, freePort, query, repoRoot, startNode, type RunningNode } from '../scripts/local-cluster.js';
import { startPostgres, type PostgresServer } from '../scripts/postgres-server.js';
import { check, expected, GROUPS, key, median, writeLines } from './workload.js';

/**
 * `npm run bench:postgres`: the same two-party GROUP BY query with alpha's table in PostgreSQL and in a Parquet file,
 * in one run, alternately (these machines are noisy: only ratios measured side by side mean anything), at two sizes,
 * with the peak memory of alpha's node in each case. Each source has a cluster (two node processes) of its own, so
 * that a node's peak RSS belongs to one source. Every answer is checked. Summary: bench/results/postgres.json.
 */
const QUICK = process.argv.includes('--quick');
const SIZES = process.env.CLEANROOM_BENCH_SIZES?.split(',').map(Number) ?? (QUICK ? [20_000, 80_000] : [250_000, 1_000_000]);
const PAIRS = QUICK ? 3 : 2;
const SQL = 'SELECT s.g, COUNT(*), SUM(s.v) FROM sales s JOIN audience a ON s.k = a.k GROUP BY s.g';
const READER = 'bench_reader';
const say = (s: string) => process.stdout.write(s + '\n');

const tables: Table[] = [
  {
    name: 'sales',
    owner: 'alpha',
    columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string' }, { name: 'v', type: 'integer', min: 0, max: 1_000_000 }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [{ column: 'v', functions: ['sum'] }], dimensions: ['g'], minDistinctKeys: 10, overlapDisclosure: [] },
  },
  {
    name: 'audience',
    owner: 'beta',
    columns: [{ name: 'k', type: 'string' }],
    joinKey: { column: 'k', normalization: 'email' },
    rules: { aggregations: [], dimensions: [], minDistinctKeys: 10, overlapDisclosure: ['alpha'] },
  },
];

type Source = 'postgres' | 'parquet';

interface Measured {
  rows: number;
  coldSeconds: Record<Source, number>;
  warmSeconds: Record<Source, number[]>;
  alphaPeakRssMiB: Record<Source, number>;
}

async function measure(n: number, pg: PostgresServer): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), `cleanroom-bench-pg-${n}-`));
  const nodes: RunningNode[] = [];
  try {
    await mkdir(join(dir, 'data'));
    // The same rows in both places, written by the databases themselves.
    const rows = `SELECT 'person' || lpad(i::text, 8, '0') || '@example.com' AS k, 'g' || (i % ${GROUPS}) AS g, i % 1000 AS v`;
    await pg.sql('DROP TABLE IF EXISTS sales');
    await pg.sql(`CREATE TABLE sales AS ${rows} FROM generate_series(0, ${n - 1}) AS t(i)`);
    await pg.sql(`GRANT SELECT ON sales TO ${READER}`);
    const parquet = join(dir, 'data', 'sales.parquet');
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    await conn.run(`COPY (${rows.replace('lpad(i::text', 'lpad(CAST(i AS VARCHAR)')} FROM range(${n}) AS t(i)) TO '${parquet}' (FORMAT parquet)`);
    conn.closeSync();
    duck.closeSync();
    check(key(7) === 'person00000007@example.com', 'the key spelling of the SQL and of the workload agree');
    const audience = join(dir, 'data', 'audience.csv');
    await writeLines(audience, 'k', n, (i) => key(i + n / 2));

    const clusters = {} as Record<Source, Record<string, string>>;
    for (const source of ['postgres', 'parquet'] as const) {
      const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
      const sales = source === 'postgres' ? { postgres: { url: pg.url(READER), passwordEnv: 'BENCH_PG_PASSWORD', table: 'sales' } } : { path: parquet, format: 'parquet' as const };
      const { nodeDirs } = await createCluster({
        dir: join(dir, source),
        collaborationId: `bench-${source}`,
        members: [
          { id: 'alpha', name: 'Alpha', port: ports[0]!, controlPort: ports[1]!, tables: { sales } },
          { id: 'beta', name: 'Beta', port: ports[2]!, controlPort: ports[3]!, tables: { audience: { path: audience, format: 'csv' } } },
        ],
        tables,
        queriers: ['alpha'],
        receivers: ['alpha'],
      });
      nodes.push(await startNode(nodeDirs.alpha!, { BENCH_PG_PASSWORD: 'bench' }), await startNode(nodeDirs.beta!));
      clusters[source] = nodeDirs;
    }
    const want = expected(n);
    const run = async (source: Source): Promise<number> => {
      const started = performance.now();
      const answer = await query(clusters[source].alpha!, SQL);
      const seconds = (performance.now() - started) / 1000;
      check(answer.kind === 'result', `${source} query failed: ${JSON.stringify(answer)}`);
      check(JSON.stringify(answer.result.rows.map((r) => r.slice(0, 3))) === want, `${source}: wrong answer at ${n} rows`);
      return seconds;
    };
    const m: Measured = { rows: n, coldSeconds: { postgres: 0, parquet: 0 }, warmSeconds: { postgres: [], parquet: [] }, alphaPeakRssMiB: { postgres: 0, parquet: 0 } };
    for (const source of ['postgres', 'parquet'] as const) m.coldSeconds[source] = await run(source);
    for (let i = 0; i < PAIRS; i++) {
      for (const source of i % 2 === 0 ? (['postgres', 'parquet'] as const) : (['parquet', 'postgres'] as const)) m.warmSeconds[source].push(await run(source));
    }
    for (const source of ['postgres', 'parquet'] as const) {
      m.alphaPeakRssMiB[source] = ((await nodeStatus(await controlEndpoint(clusters[source].alpha!))) as { peakRssMiB: number }).peakRssMiB;
    }
    return m;
  } finally {
    await Promise.all(nodes.map((x) => x.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  say(`cleanroom PostgreSQL benchmark${QUICK ? ' (quick)' : ''} on ${machine}`);
  const pg = await startPostgres();
  try {
    await pg.reader(READER, 'bench');
    const results: Measured[] = [];
    for (const n of SIZES) {
      say(`\n${n} x ${n} rows, alpha's table in PostgreSQL vs in Parquet, ${PAIRS} alternating warm pairs ...`);
      const m = await measure(n, pg);
      results.push(m);
      const warm = { postgres: median(m.warmSeconds.postgres), parquet: median(m.warmSeconds.parquet) };
      say(`  cold: postgres ${m.coldSeconds.postgres.toFixed(2)} s, parquet ${m.coldSeconds.parquet.toFixed(2)} s = ${(m.coldSeconds.postgres / m.coldSeconds.parquet).toFixed(3)}x`);
      say(`  warm (median): postgres ${warm.postgres.toFixed(2)} s, parquet ${warm.parquet.toFixed(2)} s = ${(warm.postgres / warm.parquet).toFixed(3)}x`);
      say(`  alpha's peak RSS: postgres ${m.alphaPeakRssMiB.postgres} MiB, parquet ${m.alphaPeakRssMiB.parquet} MiB`);
    }
    const out = join(repoRoot(), 'bench', 'results', QUICK ? 'postgres-quick.json' : 'postgres.json');
    await writeFile(out, JSON.stringify({ machine, quick: QUICK, sizes: results, takenAt: new Date().toISOString() }, null, 2) + '\n');
    say(`\nsummary written to ${out}`);
  } finally {
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
