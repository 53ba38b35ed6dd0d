import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { selectBackend } from '../src/crypto/backend.js';
import type { Table } from '../src/manifest/schema.js';
import { query, repoRoot, startNode, type RunningNode } from '../scripts/local-cluster.js';
import { AGGREGATE, BENCH_TABLES, benchCluster, check, expected, GROUPS, hashedAhead, key, median, peakRss, round, runBench, x25519Rate } from './workload.js';

/**
 * `npm run bench` (and `npm run bench:quick`, the same at smaller sizes): in one run, on this machine,
 *  - two-party PSI of this project against @openmined/psi.js on the same sets (bench/peers);
 *  - the end-to-end query (two node processes over loopback WebSockets: COUNT, SUM, AVG, GROUP BY with 10 groups)
 *    against the multiplication bound measured in the same run: (4n scalar multiplications of both parties) /
 *    (single-core X25519 rate x cores);
 *  - time and peak memory per size, cold and warm hash cache, and the growth exponent.
 * Every run checks its own answer and the benchmark fails if one is wrong. Summary: bench/results/latest.json.
 */
const QUICK = process.argv.includes('--quick');
const SIZES = process.env.CLEANROOM_BENCH_SIZES?.split(',').map(Number) ?? (QUICK ? [2_000, 10_000, 40_000] : [10_000, 100_000, 1_000_000]);
const PSI_SIZE = QUICK ? 2_000 : 100_000;

const say = (s: string) => process.stdout.write(s + '\n');

/** @openmined/psi.js (WASM, P-256), client and server in this process, exact (Raw) setup, intersection revealed. */
async function openmined(n: number): Promise<number> {
  const peers = join(repoRoot(), 'bench', 'peers');
  if (!existsSync(join(peers, 'node_modules', '@openmined', 'psi.js'))) {
    say('installing bench/peers (npm install --ignore-scripts) ...');
    const r = spawnSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: peers, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('cannot install bench/peers');
  }
  const PSI = (await import(join(peers, 'node_modules', '@openmined', 'psi.js', 'psi_wasm_node.js'))).default;
  const psi = await PSI();
  const server = psi.server.createWithNewKey(true);
  const client = psi.client.createWithNewKey(true);
  const serverSet = Array.from({ length: n }, (_, i) => key(i));
  const clientSet = Array.from({ length: n }, (_, i) => key(i + n / 2));
  const started = performance.now();
  const setup = server.createSetupMessage(0, n, serverSet, psi.dataStructure.Raw);
  const response = server.processRequest(client.createRequest(clientSet));
  const intersection = client.getIntersection(setup, response) as number[];
  const seconds = (performance.now() - started) / 1000;
  check(intersection.length === n / 2, `openmined intersection ${intersection.length}, expected ${n / 2}`);
  return seconds;
}

const tables: Table[] = [...BENCH_TABLES];
/**
 * The same rows under a privacy policy (alpha maps both tables to one file): at the largest size the end-to-end
 * query runs on both, alternately, to measure what differential privacy costs in time (it should cost noise only).
 */
tables.push({
  ...tables[0]!,
  // Under a policy every GROUP BY column declares its values (every group is dealt).
  columns: tables[0]!.columns.map((c) => (c.name === 'g' ? { name: 'g', type: 'string', values: Array.from({ length: GROUPS }, (_, i) => `g${i}`) } : c)),
  name: 'sales_dp',
  rules: { ...tables[0]!.rules, privacy: { epsilon: 1, delta: 1e-7, maxRowsPerKey: 1, budget: { epsilon: 1000, refresh: 'never' } } },
});
const AGGREGATE_DP = AGGREGATE.replace('FROM sales s', 'FROM sales_dp s');
const DP_PAIRS = 3;
const COUNT = 'SELECT COUNT(*) FROM sales s JOIN audience a ON s.k = a.k';


interface SizeResult {
  rows: number;
  /** Largest size only: median warm seconds of the plain and the DP query, run alternately. */
  plainWarmSeconds?: number;
  dpWarmSeconds?: number;
  coldSeconds: number;
  warmSeconds: number;
  boundSeconds: number;
  peakRssMiB: number;
  psiColdSeconds?: number;
  psiWarmSeconds?: number;
  /** Largest size only: the first query after both nodes restarted and their background hashing is done. */
  firstQueryAfterStartSeconds?: number;
}

async function endToEnd(n: number, rate: number, cores: number): Promise<SizeResult> {
  const dir = await mkdtemp(join(tmpdir(), `cleanroom-bench-${n}-`));
  const nodes: RunningNode[] = [];
  try {
    const nodeDirs = await benchCluster(dir, n, 'bench', tables);
    nodes.push(await startNode(nodeDirs.alpha), await startNode(nodeDirs.beta));
    const clearCaches = () => Promise.all(Object.values(nodeDirs).map((d) => rm(join(d, 'cache'), { recursive: true, force: true })));
    const run = async (sql: string, want: string): Promise<number> => {
      const started = performance.now();
      const answer = await query(nodeDirs.alpha, sql);
      const seconds = (performance.now() - started) / 1000;
      check(answer.kind === 'result', `query failed: ${JSON.stringify(answer)}\n${nodes.map((x) => x.log.join('').slice(-3000)).join('\n')}`);
      const rows = answer.result.rows.map((r) => r.slice(0, 3));
      if (answer.result.privacy) checkNoisy(rows, answer.result.privacy.intervals, JSON.parse(want) as [string, number, string][], n);
      else check(JSON.stringify(rows) === want, `wrong answer at ${n} rows: ${JSON.stringify(rows).slice(0, 200)} instead of ${want.slice(0, 200)}`);
      return seconds;
    };
    const result: SizeResult = { rows: n, coldSeconds: 0, warmSeconds: 0, boundSeconds: (4 * n) / (rate * cores), peakRssMiB: 0 };
    await clearCaches();
    result.coldSeconds = await run(AGGREGATE, expected(n));
    result.warmSeconds = await run(AGGREGATE, expected(n));
    if (n === SIZES[SIZES.length - 1]) {
      await run(AGGREGATE_DP, expected(n)); // builds sales_dp's hash cache
      const plain: number[] = [];
      const dp: number[] = [];
      for (let i = 0; i < DP_PAIRS; i++) {
        plain.push(await run(AGGREGATE, expected(n)));
        dp.push(await run(AGGREGATE_DP, expected(n)));
      }
      result.plainWarmSeconds = median(plain);
      result.dpWarmSeconds = median(dp);
      // Both nodes start again: each hashes its own join keys in the background (src/node/cache-warmer.ts); once
      // both say ready, the first query should cost what a warm one does.
      await Promise.all(nodes.splice(0).map((x) => x.stop()));
      nodes.push(await startNode(nodeDirs.alpha), await startNode(nodeDirs.beta));
      await hashedAhead([nodeDirs.alpha, nodeDirs.beta]);
      result.firstQueryAfterStartSeconds = await run(AGGREGATE, expected(n));
    }
    if (n === PSI_SIZE) {
      await clearCaches();
      result.psiColdSeconds = await run(COUNT, JSON.stringify([[n / 2]]));
      result.psiWarmSeconds = await run(COUNT, JSON.stringify([[n / 2]]));
    }
    result.peakRssMiB = Math.max(...(await peakRss([nodeDirs.alpha, nodeDirs.beta])));
    return result;
  } finally {
    await Promise.all(nodes.map((x) => x.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A noisy answer: the same groups, and every count and sum within three times the half-width of its stated 95%
 * interval of the exact value (a miss that far out has probability far below 1e-6 per value).
 */
function checkNoisy(all: unknown[][], intervals: readonly (readonly (readonly unknown[] | null)[])[], want: [string, number, string][], n: number): void {
  // The declared NULL group has no row; its noisy count can still reach the minimum now and then.
  const rows = all.filter((r) => r[0] !== null);
  check(JSON.stringify(rows.map((r) => r[0])) === JSON.stringify(want.map((w) => w[0])), `DP groups at ${n} rows: ${JSON.stringify(all.map((r) => r[0]))}`);
  rows.forEach((r, i) => {
    for (const c of [1, 2]) {
      const [lo, hi] = intervals[all.indexOf(r)]![c]!.map(Number) as [number, number];
      const off = Math.abs(Number(r[c]) - Number(want[i]![c]));
      check(off <= 1.5 * (hi - lo), `DP value ${String(r[c])} of group ${String(r[0])} is ${off} from the exact ${String(want[i]![c])}, interval ${lo}..${hi}`);
    }
  });
}


async function main(): Promise<void> {
  const group = selectBackend('auto');
  const cores = availableParallelism();
  const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cores} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  say(`cleanroom benchmark${QUICK ? ' (quick)' : ''} on ${machine}; backend ${group.name}`);
  const rate = x25519Rate(group);
  say(`single-core X25519: ${Math.round(rate)} mult/s; bound for n x n = 4n / (${Math.round(rate)} x ${cores})`);

  say(`\n@openmined/psi.js, ${PSI_SIZE} x ${PSI_SIZE} (client and server in one process) ...`);
  const omSeconds = await openmined(PSI_SIZE);
  say(`  ${omSeconds.toFixed(2)} s`);

  const sizes: SizeResult[] = [];
  for (const n of SIZES) {
    say(`\nend to end, ${n} x ${n} rows, two node processes over loopback ...`);
    const r = await endToEnd(n, rate, cores);
    sizes.push(r);
    say(`  cold ${r.coldSeconds.toFixed(2)} s (${(r.coldSeconds / r.boundSeconds).toFixed(2)}x bound), warm ${r.warmSeconds.toFixed(2)} s (${(r.warmSeconds / r.boundSeconds).toFixed(2)}x bound), bound ${r.boundSeconds.toFixed(2)} s, peak RSS ${r.peakRssMiB} MiB per node`);
    if (r.psiColdSeconds !== undefined) say(`  count-only PSI: cold ${r.psiColdSeconds.toFixed(2)} s, warm ${r.psiWarmSeconds!.toFixed(2)} s`);
    if (r.dpWarmSeconds !== undefined) say(`  under a privacy policy (ε = 1): warm ${r.dpWarmSeconds.toFixed(2)} s vs ${r.plainWarmSeconds!.toFixed(2)} s without, median of ${DP_PAIRS} alternating pairs = ${(r.dpWarmSeconds / r.plainWarmSeconds!).toFixed(3)}x`);
  }

  const psi = sizes.find((s) => s.rows === PSI_SIZE)!;
  const [mid, large] = sizes.slice(-2) as [SizeResult, SizeResult];
  const summary = {
    machine,
    backend: group.name,
    quick: QUICK,
    x25519PerSecondSingleCore: Math.round(rate),
    cores,
    openmined: { rows: PSI_SIZE, seconds: round(omSeconds) },
    ours: { psiColdSeconds: round(psi.psiColdSeconds!), psiWarmSeconds: round(psi.psiWarmSeconds!) },
    vsOpenmined: round(omSeconds / psi.psiColdSeconds!),
    vsOpenminedWarm: round(omSeconds / psi.psiWarmSeconds!),
    vsBound: round(large.warmSeconds / large.boundSeconds),
    dpCost: round(large.dpWarmSeconds! / large.plainWarmSeconds!),
    vsBoundCold: round(large.coldSeconds / large.boundSeconds),
    firstQueryAfterStart: round(large.firstQueryAfterStartSeconds! / large.boundSeconds),
    peakRssMiB: Math.max(...sizes.map((s) => s.peakRssMiB)),
    exponent: round(Math.log(large.warmSeconds / mid.warmSeconds) / Math.log(large.rows / mid.rows)),
    exponentCold: round(Math.log(large.coldSeconds / mid.coldSeconds) / Math.log(large.rows / mid.rows)),
    sizes: sizes.map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k.endsWith('Seconds') ? round(v) : v]))),
    takenAt: new Date().toISOString(),
  };
  say(`\nPSI ${PSI_SIZE} x ${PSI_SIZE}: @openmined/psi.js ${omSeconds.toFixed(2)} s / ours ${psi.psiColdSeconds!.toFixed(2)} s cold = ${summary.vsOpenmined}x (warm: ${summary.vsOpenminedWarm}x)`);
  say(`end to end at ${large.rows} rows: warm ${summary.vsBound}x the multiplication bound, cold ${summary.vsBoundCold}x, first query after a start whose background hashing is done ${summary.firstQueryAfterStart}x`);
  say(`differential privacy at ${large.rows} rows: ${summary.dpCost}x the time of the same query without`);
  say(`peak RSS per node ${summary.peakRssMiB} MiB; growth exponent ${mid.rows} -> ${large.rows}: warm ${summary.exponent}, cold ${summary.exponentCold}`);
  const out = join(repoRoot(), 'bench', 'results', QUICK ? 'quick.json' : 'latest.json');
  await writeFile(out, JSON.stringify(summary, null, 2) + '\n');
  say(`summary written to ${out}`);
}

runBench(main);
