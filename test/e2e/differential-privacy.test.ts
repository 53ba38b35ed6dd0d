import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, startNode, type QueryAnswer, type RunningNode } from '../../scripts/local-cluster.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { checkIntervals } from '../../scripts/plaintext/intervals.js';
import { AuditLog, type AuditEntry } from '../../src/audit/audit-log.js';
import type { Charge } from '../../src/budget/ledger.js';
import { gaussianSumHalfWidth } from '../../src/dp/gaussian-sum.js';
import { laplaceSumHalfWidth as halfWidth, laplaceSumTail } from '../../src/dp/laplace-sum.js';
import { epsilonOfRho } from '../../src/dp/zcdp.js';
import { formatScaled, type QueryResult } from '../../src/query/result.js';
import { AMOUNT_MAX, BUDGETS, CATEGORIES, DELTA, EPSILON, MATCHED_PEOPLE, MAX_ROWS_PER_KEY, MIN_KEYS, PLAIN, TABLES, ZCDP, countSql, groupSql, startDpCluster, type DpCluster } from './dp-fixture.js';
import { assertMatches, cleanroom, stopNode } from './helpers.js';

/**
 * Differential privacy over real node processes (SPEC §5): budgets charged before any cryptography and never
 * refunded, not by a crash and not by a race; noisy answers inside their stated intervals; the CLI's preview and
 * budget report. Every statistical check states the chance that it fails although the clean room is right.
 */

/** Binomial tail P(X >= k), X ~ Bin(n, p). */
function binomialTail(n: number, p: number, k: number): number {
  let sum = 0;
  for (let i = k; i <= n; i++) {
    let choose = 1;
    for (let j = 0; j < i; j++) choose = (choose * (n - j)) / (j + 1);
    sum += choose * p ** i * (1 - p) ** (n - i);
  }
  return sum;
}

/** The stated confidence of every interval. */
const MISS = 0.05;

/**
 * Calibration as SPEC §10.2 states it, for the GROUP BY query: the padding of the orders table's PSI key set takes a
 * tenth of ε, and three opened columns (the rows, which also decide the release, the sum and its non-null count)
 * share the rest, k = 3; a person moves the counts by MAX_ROWS_PER_KEY and the sum by that many amounts of at most
 * AMOUNT_MAX (in cents); the shop, which deals every value, adds noise of full scale (SPEC §10.1). visits has no policy, so its minimum holds on people:
 * a group is released when its noisy row count reaches MAX_ROWS_PER_KEY x MIN_KEYS plus the noise's upper quantile
 * at δ / 2 (δ shared by the padding's clamp and this margin).
 */
const VALUES_EPSILON = 0.9 * EPSILON;
const K = 3;
const COUNT_SCALE = (MAX_ROWS_PER_KEY * K) / VALUES_EPSILON;
const SUM_SCALE = (MAX_ROWS_PER_KEY * AMOUNT_MAX * 100 * K) / VALUES_EPSILON;
/** The shop deals every value of these two-party aggregate queries: its noise alone is added (SPEC §10.1). */
const HOLDERS = 1;
const THRESHOLD = BigInt(MAX_ROWS_PER_KEY * MIN_KEYS) + halfWidth(COUNT_SCALE, HOLDERS, 2 * (DELTA / 2)) + 1n;
/** Count-only: the distinct-key count takes what the padding leaves (k = 1); the count moves by 1. */
const COUNT_ONLY_SCALE = 1 / VALUES_EPSILON;

interface Budget {
  readonly tables: readonly { table: string; unit: string; budget: string; refresh: string; spent: string; remaining: string; perQuery: string; queriesLeft: number; buys: string }[];
  readonly charges: readonly Charge[];
}

const auditOf = (dir: string): AuditEntry[] =>
  readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEntry);

async function budgetOf(dir: string): Promise<Budget> {
  const run = await cleanroom(['budget', dir, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Budget;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const tableBudget = (b: Budget, table: string) => b.tables.find((t) => t.table === table);
const chargesOf = (b: Budget, table: string) => b.charges.filter((c) => c.table === table);

function resultOf(a: QueryAnswer): QueryResult {
  if (a.kind !== 'result') throw new Error(`expected a result, got ${JSON.stringify(a)}`);
  return a.result;
}

function exitOf(n: RunningNode): Promise<void> {
  return new Promise((resolve) => {
    if (n.process.exitCode !== null || n.process.signalCode !== null) resolve();
    else n.process.once('exit', () => resolve());
  });
}

describe('differential privacy across two node processes', () => {
  let dp: DpCluster;
  let pubDir: string;
  let shopDir: string;

  beforeAll(async () => {
    dp = await startDpCluster();
    pubDir = dp.cluster.nodeDirs.pub!;
    shopDir = dp.cluster.nodeDirs.shop!;
  });
  afterAll(async () => {
    if (dp) await Promise.all(Object.values(dp.cluster.nodes).map((n) => (n.process.kill('SIGKILL'), stopNode(n))));
    await dp?.cleanup();
  });

  async function restartShop(env: NodeJS.ProcessEnv): Promise<void> {
    const shop = dp.cluster.nodes.shop!;
    shop.process.kill('SIGKILL');
    await stopNode(shop);
    dp.cluster.nodes.shop = await startNode(shopDir, env);
  }

  /** Runs `sql` at `dir` until the budget of `table` (ε = 1 a query) is spent, then once more: that one is refused. */
  async function spendThenRefuse(dir: string, table: keyof typeof BUDGETS): Promise<{ error: Extract<QueryAnswer, { kind: 'error' }>; queryId: string }> {
    for (let i = 0; i < BUDGETS[table] / EPSILON; i++) expect((await query(dir, groupSql(table))).kind).toBe('result');
    // The owner may still be recording its part of the last query (a receiver's record lands after the querier's
    // answer): only entries of queries it had not seen before belong to the one refused.
    const earlier = new Set(auditOf(shopDir).map((e) => e.queryId));
    const answer = await query(dir, groupSql(table));
    if (answer.kind !== 'error') throw new Error(`expected a refusal, got ${JSON.stringify(answer)}`);
    const fresh = auditOf(shopDir).filter((e) => !earlier.has(e.queryId));
    // The owner refused before any cryptography: its log has the refusal and nothing else of that query.
    expect(fresh.map((e) => e.event)).toEqual(['refused']);
    expect(fresh[0]!.detail).toMatch(new RegExp(`^BUDGET_EXHAUSTED: table ${table}: `));
    return { error: answer, queryId: fresh[0]!.queryId };
  }

  describe('1. budget refusal', () => {
    it('the owner asking: its own charge at the proposal refuses the third query, and the peer never hears of it', async () => {
      const { error, queryId } = await spendThenRefuse(shopDir, 'orders_q');
      expect(error.code).toBe('BUDGET_EXHAUSTED');
      expect(error.message).toBe('table orders_q: this query costs ε = 1; 0 of the budget of ε = 2 remains and is never restored (refresh: never)');
      expect(auditOf(pubDir).filter((e) => e.queryId === queryId)).toEqual([]);
      const budget = await budgetOf(shopDir);
      expect(chargesOf(budget, 'orders_q')).toHaveLength(2);
      expect(budget.charges.some((c) => c.queryId === queryId)).toBe(false);
      expect(tableBudget(budget, 'orders_q')).toMatchObject({ spent: '2', remaining: '0' });
    });

    it('the owner accepting: it refuses the third proposal, and the querier is told the table, the cost and what remains', async () => {
      const { error, queryId } = await spendThenRefuse(pubDir, 'orders_p');
      expect(error.code).toBe('BUDGET_EXHAUSTED');
      expect(error.message).toMatch(/^shop refused the query: table orders_p: this query costs ε = 1; 0 of the budget of ε = 2 remains until \d{4}-\d{2}-01 \(refresh: month\)$/);
      expect(auditOf(pubDir).filter((e) => e.queryId === queryId).map((e) => e.event)).toEqual(['proposed', 'refused']);
      const budget = await budgetOf(shopDir);
      expect(chargesOf(budget, 'orders_p')).toHaveLength(2);
      expect(tableBudget(budget, 'orders_p')).toMatchObject({ refresh: 'month', spent: '2', remaining: '0' });
      // pub owns no table with a policy: it keeps no budget and charges nothing.
      expect(await budgetOf(pubDir)).toEqual({ tables: [], charges: [] });
    });
  });

  it('2. killed (kill -9) after its charge and before the release: the charge stays, nothing is refunded', async () => {
    const table = 'orders_crash';
    await restartShop({ CLEANROOM_FAILPOINT: 'crash@send:open' });
    const died = exitOf(dp.cluster.nodes.shop!);
    const answer = await query(pubDir, groupSql(table));
    await died;
    expect(dp.cluster.nodes.shop!.process.signalCode).toBe('SIGKILL');
    expect(answer).toMatchObject({ kind: 'error', code: expect.stringMatching(/^(ABORTED|PEER_UNREACHABLE)$/) });
    const proposed = auditOf(pubDir).filter((e) => e.event === 'proposed' && e.sql === groupSql(table));
    expect(proposed).toHaveLength(1);
    const queryId = proposed[0]!.queryId;
    // The owner had accepted (after its charge) and released nothing.
    expect(auditOf(shopDir).filter((e) => e.queryId === queryId).map((e) => e.event)).toEqual(['accepted']);
    expect(await AuditLog.verify(join(shopDir, 'audit.jsonl'))).toMatchObject({ ok: true });

    // Read while the owner's node is down.
    const down = await budgetOf(shopDir);
    expect(chargesOf(down, table)).toEqual([expect.objectContaining({ queryId, table, epsilon: '1' })]);
    expect(tableBudget(down, table)).toMatchObject({ spent: '1', remaining: String(BUDGETS[table] - EPSILON) });

    await restartShop({});
    const up = await budgetOf(shopDir);
    expect(chargesOf(up, table)).toEqual(chargesOf(down, table));
    expect(tableBudget(up, table)).toMatchObject({ remaining: String(BUDGETS[table] - EPSILON) });
    // The reopened ledger goes on charging.
    expect((await query(pubDir, groupSql(table))).kind).toBe('result');
    expect(tableBudget(await budgetOf(shopDir), table)).toMatchObject({ remaining: String(BUDGETS[table] - 2 * EPSILON) });
  });

  it('3. ten concurrent DP queries, asked by both members, against a budget for four: four run, the rest are refused', async () => {
    const table = 'orders_race';
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => query(i % 2 === 0 ? pubDir : shopDir, groupSql(table))));
    const ran = answers.flatMap((a) => (a.kind === 'result' ? [a.result.queryId] : []));
    const refused = answers.filter((a) => a.kind !== 'result');
    expect(ran).toHaveLength(BUDGETS[table] / EPSILON);
    for (const a of refused) expect(a).toMatchObject({ kind: 'error', code: 'BUDGET_EXHAUSTED' });
    const budget = await budgetOf(shopDir);
    expect(chargesOf(budget, table).map((c) => c.queryId).sort()).toEqual([...ran].sort());
    expect(tableBudget(budget, table)).toMatchObject({ spent: String(BUDGETS[table]), remaining: '0' });
  });

  describe('4. noisy answers', () => {
    /*
     * Each interval holds its exact value with probability >= 95% (as stated). Cells of one output column are
     * independent: every group and every run draws its own noise, and the data are fixed (nobody has more rows than
     * the cap, so no row is sampled away). Cells of different columns of one group are not (an AVG rests on the
     * sum's noise), so each column is checked on its own: its misses are at most Bin(16, 0.05), and a column fails
     * at >= MAX_MISSES misses. Also, a group of 350 people (at least 350 rows) stays under the threshold of THRESHOLD
     * only if the two noises on its row count sum to < THRESHOLD - 350, by the exact law of src/dp/laplace-sum.ts far
     * below 1e-10 for each of the 16 groups. The false-failure chance is checked below to be under 1e-9. The declared
     * NULL group holds nobody and opens only if its noisy count reaches THRESHOLD, with probability at most δ (the
     * margin is there for visits' minimum): it is the only group the noisy answer may have that the exact one has not.
     */
    const RUNS = 8;
    const GROUPS = 2;
    const MAX_MISSES = 11;

    it(`${RUNS} runs of a GROUP BY with COUNT, SUM and AVG: the exact values lie in the stated intervals`, async () => {
      const sql = groupSql('orders_big');
      const exact = await plaintextAnswer(sql, TABLES, dp.pooled);
      expect(exact.rows).toHaveLength(GROUPS);
      expect(exact.groups.every((g) => g.keys === MATCHED_PEOPLE / GROUPS)).toBe(true);
      const results = (await Promise.all(Array.from({ length: RUNS }, () => query(pubDir, sql)))).map(resultOf);
      const aggregates = exact.outputs.flatMap((o, c) => (o === 'dimension' ? [] : [c]));
      const misses = new Map(aggregates.map((c) => [c, 0]));
      let moved = 0;
      for (const result of results) {
        expect(result.privacy).toMatchObject({ epsilon: String(EPSILON), confidence: 1 - MISS });
        const check = checkIntervals(result, exact);
        expect(check.onlyExact).toBe(0);
        const extra = result.rows.filter((row) => row[0] === null);
        expect(check.onlyNoisy).toBe(extra.length);
        expect(result.rows.map((row) => row[0])).toEqual([...CATEGORIES, ...extra.map(() => null)]);
        // The exact groups come first (NULL sorts last): rows 0 and 1 are compared, the empty NULL group is not.
        check.verdicts.slice(0, GROUPS).forEach((row) => row!.forEach((inside, c) => inside === false && misses.set(c, misses.get(c)! + 1)));
        result.rows.slice(0, GROUPS).forEach((row, r) => aggregates.forEach((c) => (moved += String(row[c]) === String(exact.rows[r]![c]) ? 0 : 1)));
      }
      const perColumn = Object.fromEntries([...misses].map(([c, n]) => [exact.columns[c]!, n]));
      expect(Math.max(...misses.values()), `misses per column, of ${RUNS * GROUPS} cells each: ${JSON.stringify(perColumn)}`).toBeLessThan(MAX_MISSES);
      // Noise is there at all: all 48 cells exact is far rarer than 1e-9 (each of the 16 counts alone is exact w.p. < 0.05).
      expect(moved).toBeGreaterThan(0);
    });

    it('the false-failure chance of that test is under 1e-9', () => {
      // A group is held back when its noisy row count (at least 350) + S < THRESHOLD: S <= THRESHOLD - 351, as likely
      // as S >= 351 - THRESHOLD.
      const release = RUNS * GROUPS * laplaceSumTail(COUNT_SCALE, HOLDERS, MATCHED_PEOPLE / GROUPS + 1 - Number(THRESHOLD));
      const intervals = 3 * binomialTail(RUNS * GROUPS, MISS, MAX_MISSES);
      expect(release + intervals).toBeLessThan(1e-9);
    });

    it("GROUP BY the partner's campaign (SPEC §4.6): every label of the declared domain, each interval twice as wide as without it", async () => {
      // maxRowsPerKey = 2 of the three labels (spring, summer, NULL): one person's rows move twice as many groups.
      const sql = `SELECT v.campaign, o.category, COUNT(*), SUM(o.amount) FROM orders_big o JOIN visits v ON o.email = v.email GROUP BY v.campaign, o.category`;
      const [split, plain] = (await Promise.all([query(pubDir, sql), query(pubDir, `SELECT o.category, COUNT(*), SUM(o.amount) FROM orders_big o JOIN visits v ON o.email = v.email GROUP BY o.category`)])).map(resultOf);
      const domain = new Set(['spring', 'summer', null].flatMap((c) => [...CATEGORIES, null].map((k) => JSON.stringify([c, k]))));
      // Person p sees the campaign and buys the category of its parity: (spring, books) and (summer, toys) hold 350
      // people (about 467 rows) each. The doubled noise raises the threshold to about 250 rows, so each stays unreleased
      // with probability under 1e-6, both together under 1e-12: at least one row is there to compare.
      expect(split!.rows.length).toBeGreaterThan(0);
      for (const row of split!.rows) expect(domain.has(JSON.stringify(row.slice(0, 2)))).toBe(true);
      const width = (r: QueryResult, row: number, c: number) => {
        const [lo, hi] = r.privacy!.intervals[row]![c]!;
        return Number(hi) - Number(lo);
      };
      // The sum's interval is ± its noise bound alone (the count's also depends on the release threshold).
      const ratio = width(split!, 0, 3) / width(plain!, 0, 2);
      expect(ratio).toBeGreaterThan(1.99);
      expect(ratio).toBeLessThan(2.01);
    });

    it('the same query on a copy without a policy is exact and states no privacy', async () => {
      const sql = groupSql(PLAIN);
      const exact = await plaintextAnswer(sql, TABLES, dp.pooled);
      const result = resultOf(await query(pubDir, sql));
      assertMatches(result, exact, exact.columns);
      expect(result.privacy).toBeUndefined();
    });
  });

  describe('5. the CLI', () => {
    const sql = groupSql('orders_big');
    const countBound = halfWidth(COUNT_SCALE, HOLDERS, MISS);
    const sumBound = formatScaled(halfWidth(SUM_SCALE, HOLDERS, MISS), 2);
    // An AVG's sum and count hold at half the miss each, so that both hold together with the stated confidence.
    const avgBound = `noisy sum ± ${formatScaled(halfWidth(SUM_SCALE, HOLDERS, MISS / 2), 2)} over noisy count ± ${halfWidth(COUNT_SCALE, HOLDERS, MISS / 2)}`;

    it('query --preview states the ε charged, the remaining budget, the threshold and the error bounds, and charges nothing', async () => {
      const ledger = join(shopDir, 'budget.jsonl');
      const before = { ledger: readFileSync(ledger), audit: auditOf(shopDir).length };
      const remaining = tableBudget(await budgetOf(shopDir), 'orders_big')!.remaining;

      const text = await cleanroom(['query', shopDir, '--preview', sql]);
      expect(text.code, text.stderr).toBe(0);
      const lines = text.stdout.split('\n');
      expect(lines).toContain(`  charges ε = ${EPSILON} to orders_big: ${remaining} of ε = ${BUDGETS.orders_big} remains (refresh: never)`);
      expect(text.stdout).toMatch(new RegExp(`^release threshold: ${THRESHOLD} \\(`, 'm'));
      const [, count, sum, avg] = (await plaintextAnswer(sql, TABLES, dp.pooled)).columns;
      const errors = lines.slice(lines.findIndex((l) => l.startsWith('error of each value')) + 1).filter((l) => l !== '');
      expect(errors).toEqual([`  ${count}: ± ${countBound} rows (lower for a group released near the threshold)`, `  ${sum}: ± ${sumBound}`, expect.stringMatching(new RegExp(`^  ${avg}: ${escape(avgBound)};`))]);

      const json = await cleanroom(['query', shopDir, '--preview', '--json', sql]);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({
        mode: 'aggregate',
        dp: true,
        epsilon: String(EPSILON),
        charges: [{ table: 'orders_big', owners: ['shop'], cost: `ε = ${EPSILON}`, budget: `ε = ${BUDGETS.orders_big}`, refresh: 'never', remaining }],
        threshold: expect.stringMatching(new RegExp(`^${THRESHOLD} `)),
        errors: [{ bound: `± ${countBound} rows (lower for a group released near the threshold)` }, { bound: `± ${sumBound}` }, { bound: expect.stringContaining(avgBound) }],
      });
      // Asked at the member that keeps no part of that budget: what it costs, not what remains.
      const elsewhere = await cleanroom(['query', pubDir, '--preview', sql]);
      expect(elsewhere.stdout).toContain(`  charges ε = ${EPSILON} to orders_big: kept by shop`);

      expect(readFileSync(ledger)).toEqual(before.ledger);
      expect(auditOf(shopDir)).toHaveLength(before.audit);
    });

    it("a real run's intervals are as wide as the preview said, and `cleanroom budget` lists its charge", async () => {
      const result = resultOf(await query(pubDir, sql));
      const [count, sum] = [1, 2].map((c) => result.privacy!.intervals.map((row) => row[c]!));
      // Counts and sums of 350 people: far from zero, so no interval is cut at zero (the empty NULL group's may be).
      const real = (row: number) => result.rows[row]![0] !== null;
      for (const [lo, hi] of count!.filter((_, row) => real(row))) expect(Number(hi) - Number(lo)).toBe(2 * Number(countBound));
      for (const [lo, hi] of sum!.filter((_, row) => real(row))) expect(Math.round((Number(hi) - Number(lo)) * 100)).toBe(2 * Math.round(Number(sumBound) * 100));

      const budget = await budgetOf(shopDir);
      expect(budget.charges.at(-1)).toMatchObject({ queryId: result.queryId, table: 'orders_big', epsilon: String(EPSILON) });
      const text = await cleanroom(['budget', shopDir]);
      expect(text.code, text.stderr).toBe(0);
      for (const t of budget.tables) expect(text.stdout).toMatch(new RegExp(`^${t.table} +${t.unit} = ${t.budget} +${t.refresh} +${t.spent} +${t.remaining}$`, 'm'));
      const rows = text.stdout.split('\n').filter((l) => /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} /.test(l));
      const cost = (c: Charge) => ('rho' in c ? `ρ = ${c.rho}` : `ε = ${c.epsilon}`);
      expect(rows.map((l) => l.split(/ +/).slice(2, 4).concat(l.replace(/^.*?(ε|ρ) = /, '$1 = ')))).toEqual(budget.charges.map((c) => [c.queryId.slice(0, 8), c.table, cost(c)]));
      // How far each remaining budget goes: ⌊remaining / the table's ε⌋ queries (its ρ under zCDP).
      const big = tableBudget(budget, 'orders_big')!;
      expect(big).toMatchObject({ perQuery: String(EPSILON), queriesLeft: Math.floor(Number(big.remaining) / EPSILON) });
      expect(text.stdout.split('\n')).toContain(`orders_big: the remaining ε = ${big.remaining} buys ${big.queriesLeft} more queries at ε = ${EPSILON} each`);
      const z = tableBudget(budget, ZCDP)!;
      expect(text.stdout).toMatch(new RegExp(`^${ZCDP}: the remaining ρ = ${escape(z.remaining)} buys ${z.queriesLeft} more quer(y|ies) at ρ = ${escape(z.perQuery)} each \\(ε = ${EPSILON} a query\\)$`, 'm'));
    });

    it('an AVG whose noise outweighs its declared range: the preview warns, and so do the result, its --json and its text', async () => {
      // Values within [1000, 1100]: the noise is sized by 1100, the interval judged against a range of 100.
      const shifted = `SELECT o.category, COUNT(*), AVG(o.amount + 1000) AS shifted FROM orders_big o JOIN visits v ON o.email = v.email GROUP BY o.category`;
      const advice = /: declare tighter bounds, ask fewer values \(3 share ε\), raise ε \(now 1\) or group by fewer or coarser columns$/;
      const preview = await cleanroom(['query', shopDir, '--preview', shifted]);
      expect(preview.code, preview.stderr).toBe(0);
      const warned = preview.stdout.split('\n').filter((l) => l.startsWith('warning: '));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatch(/^warning: shifted: noisy sum ±[\d,.]+ over noisy count ±\d+ at 95%: over fewer than [\d,]+ rows its interval spans more than half of its values' range by the declared bounds, \[1,000, 1,100\] \(groups are released from \d+\)/);
      expect(warned[0]).toMatch(advice);
      const json = await cleanroom(['query', shopDir, '--preview', '--json', shifted]);
      expect(JSON.parse(json.stdout)).toMatchObject({ warnings: [{ code: 'NOISE_WIDER_THAN_RANGE', output: 'shifted', message: warned[0]!.slice('warning: '.length) }] });
      // The query the preview is of: not a warning on the groupSql query above, whose preview has none.
      expect(JSON.parse((await cleanroom(['query', shopDir, '--preview', '--json', sql])).stdout)).toMatchObject({ warnings: [] });

      // 350 people per category, about 470 rows: the AVG's sum is noisy by some ±36,000, so its interval is about
      // 2 · 36,000 / 500 > 140 wide, more than half of the range of 100 in every group, whatever the draw.
      const run = await cleanroom(['query', pubDir, shifted, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as QueryResult;
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings![0]).toMatchObject({ code: 'NOISE_WIDER_THAN_RANGE', output: 'shifted' });
      expect(result.warnings![0]!.message).toMatch(/^shifted: in (\d) of \1 groups the interval spans more than half of its values' range by the declared bounds, \[1,000, 1,100\]/);
      expect(result.warnings![0]!.message).toMatch(advice);
      const text = await cleanroom(['query', pubDir, shifted]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/^warning: shifted: in \d of \d groups the interval spans more than half/m);
    });
  });

  describe('6. count-only', () => {
    /*
     * Each of the RUNS answers is pub's matched count plus shop's dummies less their shift, plus both members'
     * noise: three discrete Laplace terms of scale COUNT_ONLY_SCALE = 1/(0.9 ε) (the clamp of the dummies aside; the
     * padding points match nothing). Its interval holds with >= 95%, independently per run: >= MAX_MISSES misses
     * have probability binomialTail(16, 0.05, 11) < 2e-11. An answer equals the exact count with probability at most
     * max_d P(L1 + L2 = d) = P(L1 + L2 = 0) (a sum of symmetric unimodal terms, independent of the dummies)
     * = c^2 (1 + 2p^2 / (1 - p^2)), p = e^(-1/b), c = (1 - p) / (1 + p): 0.249, so all RUNS equal it with
     * probability below 2.3e-10 (both checked together below 1e-9 in the test).
     */
    const RUNS = 16;
    const MAX_MISSES = 11;
    const p = Math.exp(-1 / COUNT_ONLY_SCALE);
    const c = (1 - p) / (1 + p);
    const equalOnce = c * c * (1 + (2 * p * p) / (1 - p * p));

    it(`${RUNS} runs: within the stated interval of the exact count, and not always equal to it`, async () => {
      expect(binomialTail(RUNS, MISS, MAX_MISSES) + equalOnce ** RUNS).toBeLessThan(1e-9);
      const sql = countSql('orders_big');
      const exact = await plaintextAnswer(sql, TABLES, dp.pooled);
      expect(exact.rows).toEqual([[MATCHED_PEOPLE]]);
      const results = (await Promise.all(Array.from({ length: RUNS }, () => query(pubDir, sql)))).map(resultOf);
      const bound = Number(halfWidth(COUNT_ONLY_SCALE, 3, MISS));
      let misses = 0;
      for (const result of results) {
        expect(result.mode).toBe('count-only');
        const [lo, hi] = result.privacy!.intervals[0]![0]!;
        expect([Number(lo), Number(hi)]).toEqual([Number(result.rows[0]![0]) - bound, Number(result.rows[0]![0]) + bound]);
        const check = checkIntervals(result, exact);
        expect(check.cells).toBe(1);
        misses += check.cells - check.within;
      }
      expect(misses).toBeLessThan(MAX_MISSES);
      expect(new Set(results.map((r) => r.rows[0]![0])), 'every answer was the exact count').not.toEqual(new Set([MATCHED_PEOPLE]));
    });
  });

  describe('7. zCDP accounting (SPEC §10.4)', () => {
    it('a table that accounts in zCDP gets discrete Gaussian noise sized by the ρ it is charged, and its ledger adds up ρ', async () => {
      const sql = groupSql(ZCDP);
      const preview = await cleanroom(['query', shopDir, '--preview', sql]);
      expect(preview.code, preview.stderr).toBe(0);
      expect(preview.stdout).toContain('discrete Gaussian noise (zCDP: ρ adds up)');
      const line = /charges ρ = ([0-9.]+) to orders_z: ([0-9.]+) of ρ = ([0-9.]+) remains/.exec(preview.stdout);
      expect(line, preview.stdout).not.toBeNull();
      const [rho, remaining, budget] = line!.slice(1).map(Number) as [number, number, number];
      expect(remaining).toBe(budget);
      // The query is (ε, δ/2)-DP and the whole budget (ε = 10, δ): the conversion at both ends (CKS 2020).
      expect(epsilonOfRho(rho, DELTA / 2)).toBeLessThanOrEqual(EPSILON);
      expect(epsilonOfRho(budget, DELTA)).toBeLessThanOrEqual(BUDGETS[ZCDP]);
      expect(budget / rho).toBeGreaterThan(3 * BUDGETS[ZCDP]);

      const result = resultOf(await query(pubDir, sql));
      // Three opened values share 0.9 of ρ: a count moves by MAX_ROWS_PER_KEY, σ² = Δ² · 3 / (2 · 0.9 ρ).
      const sigma2 = (MAX_ROWS_PER_KEY ** 2 * K) / (2 * 0.9 * rho);
      const w = Number(gaussianSumHalfWidth(sigma2, HOLDERS, MISS));
      for (const [row, cells] of result.privacy!.intervals.entries()) {
        if (result.rows[row]![0] === null) continue;
        const [lo, hi] = cells[1]!;
        expect(Number(hi) - Number(lo)).toBe(2 * w);
      }
      const after = await budgetOf(shopDir);
      expect(chargesOf(after, ZCDP)).toEqual([expect.objectContaining({ queryId: result.queryId, rho: String(rho) })]);
      expect(tableBudget(after, ZCDP)).toMatchObject({ unit: 'ρ', spent: String(rho) });
    });
  });
});
