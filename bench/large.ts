import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { selectBackend } from '../src/crypto/backend.js';
import { query, repoRoot, startNode, type RunningNode } from '../scripts/local-cluster.js';
import { AGGREGATE, BENCH_TABLES, benchCluster, check, expected, hashedAhead, peakRss, round, runBench, x25519Rate } from './workload.js';

/**
 * `npm run bench:large` (by hand: about 40 minutes at 10M on 2 cores, not in CI): the end-to-end query of
 * `npm run bench` at CLEANROOM_BENCH_LARGE_ROWS rows per side (10,000,000 by default), through two node processes
 * over loopback. Both nodes start on their fresh tables and hash them in the background (timed); then the query
 * runs once, its answer checked. Reports the time, the ratio to the multiplication bound measured in the same run,
 * and each node's peak resident memory. Summary: bench/results/large.json. With CLEANROOM_BENCH_LARGE_DIR set, the
 * rows, node directories and hash caches stay in that directory, and a later run of the same size uses them (its
 * background hashing then only checks the caches).
 */
const N = Number(process.env.CLEANROOM_BENCH_LARGE_ROWS ?? 10_000_000);
const say = (s: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

async function main(): Promise<void> {
  check(Number.isSafeInteger(N) && N >= 20 && N % 2 === 0, `CLEANROOM_BENCH_LARGE_ROWS must be an even integer >= 20, got ${N}`);
  const group = selectBackend('auto');
  const cores = availableParallelism();
  const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cores} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const rate = x25519Rate(group);
  const bound = (4 * N) / (rate * cores);
  say(`bench:large on ${machine}; backend ${group.name}; single-core X25519 ${Math.round(rate)} mult/s; bound for ${N} x ${N}: ${bound.toFixed(1)} s`);
  // Kept (and used again when it holds a cluster of the same size) when named: the rows are written and hashed once.
  const kept = process.env.CLEANROOM_BENCH_LARGE_DIR;
  const dir = kept ?? (await mkdtemp(join(tmpdir(), `cleanroom-bench-large-`)));
  const reused = kept !== undefined && (await readFile(join(dir, 'rows'), 'utf8').catch(() => '')) === String(N);
  if (kept !== undefined && !reused) {
    await mkdir(dir, { recursive: true });
    check((await readdir(dir)).length === 0, `CLEANROOM_BENCH_LARGE_DIR ${dir} holds something else than a cluster of ${N} rows: name a new or empty directory`);
  }
  const nodes: RunningNode[] = [];
  try {
    const nodeDirs = reused ? { alpha: join(dir, 'alpha'), beta: join(dir, 'beta') } : await benchCluster(dir, N, 'bench-large', BENCH_TABLES);
    if (kept !== undefined) await writeFile(join(dir, 'rows'), String(N));
    const dirs = [nodeDirs.alpha, nodeDirs.beta];
    say(`${N} rows per side ${reused ? `found in ${dir}, hash caches kept` : 'written'}; starting both nodes, which hash their keys in the background ...`);
    let started = performance.now();
    nodes.push(await startNode(dirs[0]!), await startNode(dirs[1]!));
    await hashedAhead(dirs).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${nodes.map((x) => x.log.join('').slice(-3000)).join('\n')}`);
    });
    const hashingSeconds = (performance.now() - started) / 1000;
    say(`background hashing done in ${hashingSeconds.toFixed(1)} s (${Math.round(N / hashingSeconds)} keys/s per node)`);
    const rssAfterHashing = await peakRss(dirs);
    started = performance.now();
    const answer = await query(dirs[0]!, AGGREGATE);
    const seconds = (performance.now() - started) / 1000;
    check(answer.kind === 'result', `query failed: ${JSON.stringify(answer)}\n${nodes.map((x) => x.log.join('').slice(-3000)).join('\n')}`);
    const rows = JSON.stringify(answer.result.rows.map((r) => r.slice(0, 3)));
    check(rows === expected(N), `wrong answer: ${rows.slice(0, 300)}`);
    const rss = await peakRss(dirs);
    const summary = {
      machine,
      backend: group.name,
      rows: N,
      x25519PerSecondSingleCore: Math.round(rate),
      cores,
      boundSeconds: round(bound),
      querySeconds: round(seconds),
      vsBound: round(seconds / bound),
      backgroundHashingSeconds: round(hashingSeconds),
      peakRssMiB: { alpha: rss[0], beta: rss[1] },
      peakRssMiBAfterHashing: { alpha: rssAfterHashing[0], beta: rssAfterHashing[1] },
      takenAt: new Date().toISOString(),
    };
    say(`query ${seconds.toFixed(1)} s = ${summary.vsBound}x the bound; peak RSS alpha ${rss[0]} MiB, beta ${rss[1]} MiB (after hashing: ${rssAfterHashing.join(', ')})`);
    const out = join(repoRoot(), 'bench', 'results', 'large.json');
    await writeFile(out, JSON.stringify(summary, null, 2) + '\n');
    say(`summary written to ${out}`);
  } finally {
    await Promise.all(nodes.map((x) => x.stop()));
    if (kept === undefined) await rm(dir, { recursive: true, force: true });
  }
}

runBench(main);
