/**
 * SUM and AVG of arithmetic expressions, and VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP (issue 18), end to end in one
 * process: both parties of a query in the harness, every answer compared with the plaintext oracle's over the pooled
 * rows (scripts/plaintext/aggregates.ts: exact decimals row by row, the variance by the two-pass formula); the group
 * vector's DuckDB SQL (TableStore over the rows as a CSV file) compared with the oracle's sums; and under a privacy
 * policy, the stated intervals of a variance and a standard deviation holding the exact values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { valueTotals } from '../../scripts/plaintext/aggregates.js';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { keyedRows } from '../../scripts/plaintext/rows.js';
import { groupTotals } from '../../scripts/plaintext/groups.js';
import { TableStore } from '../../src/data/table-store.js';
import { osRandom } from '../../src/dp/random-source.js';
import { runFederated } from '../support/federated-run.js';
import { Manifest as ManifestSchema, type Table } from '../../src/manifest/schema.js';
import type { NumericExpression } from '../../src/query/ast.js';
import { slots } from '../../src/query/group-vector.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type QueryPlan } from '../../src/query/plan.js';
import type { GroupAggregate, QueryResult } from '../../src/query/result.js';
import { ADVERTISER, PUBLISHER, TEST_POLICY, advertiserTable, buildCollaboration, type Collaboration, type ManifestOptions } from '../support/collaboration.js';
import { CATEGORIES, makeData, type Dataset, type Row } from '../support/datasets.js';
import { sortRows } from '../support/expected-result.js';
import { pairRelease } from '../support/pair-release.js';
import { runScenario, type Party } from './harness.js';

/**
 * The advertiser's amount and items allow SUM, AVG and the variance family; age is a dimension (CASE conditions) and
 * allows AVG only (the avg-only rule refuses it without a policy: test/unit/aggregate-expressions.test.ts).
 */
function collaboration(o: ManifestOptions = {}, required = false): Collaboration {
  const c = buildCollaboration({ minDistinctKeys: { publisher: 1, advertiser: 1 }, ...o });
  const base = advertiserTable({ minDistinctKeys: { advertiser: 1 }, ...o });
  const advertiser: Table = {
    ...base,
    columns: base.columns.map((c) => (required && (c.name === 'amount' || c.name === 'items') ? { ...c, required: true } : c)) as Table['columns'],
    rules: {
      ...base.rules,
      dimensions: ['category', 'age'],
      aggregations: [
        { column: 'amount', functions: ['sum', 'avg', 'variance'] },
        { column: 'items', functions: ['sum', 'avg', 'variance'] },
        { column: 'age', functions: ['avg'] },
      ],
    },
  };
  const tables = c.manifest.tables.map((t) => (t.name === ADVERTISER ? advertiser : t));
  return { ...c, manifest: ManifestSchema.parse({ ...c.manifest, tables }) };
}
/**
 * Without a policy, amount and items are required: an expression over two columns of which one may be NULL sums only
 * the rows where both have a value, a subset no minimum holds (privacy-model.null-subset). NULL operands are checked
 * in DuckDB under a policy below.
 */
const COLLABORATION = collaboration({}, true);
/** The same with a privacy policy on the advertiser, the categories declared (every group is then dealt). */
const GOVERNED = collaboration({ categoryValues: CATEGORIES, privacy: { advertiser: TEST_POLICY } });

/** Messy demo-like rows, with NULL items in every seventh advertiser row besides the NULL amounts and categories. */
function data(seed: number): Dataset {
  const d = makeData({ seed, publisherPeople: [0, 90], advertiserPeople: [30, 140], publisherRows: 150, advertiserRows: 220 });
  return { ...d, [ADVERTISER]: d[ADVERTISER]!.map((r, i) => (i % 7 === 3 ? { ...r, items: null } : r)) };
}
const DATA = data(23);
/** DATA with a value in every amount and items (NULLs become 0): what a table declaring them required holds. */
const FULL: Dataset = { ...DATA, [ADVERTISER]: DATA[ADVERTISER]!.map((r) => ({ ...r, amount: r.amount ?? '0.00', items: r.items ?? 0 })) };

const JOIN = 'FROM advertiser a JOIN publisher p ON a.email = p.email';

function resultOf(p: Party): QueryResult {
  if (p.outcome?.kind !== 'result') throw new Error(`${p.role} (${p.member}) has outcome ${JSON.stringify(p.outcome)}`);
  return p.outcome.result;
}

/** Runs `sql` in the harness and checks both receivers' results against the oracle's answer; returns that answer. */
async function expectOracleAnswer(sql: string, dataset: Dataset = FULL) {
  const s = await runScenario({ collaboration: COLLABORATION, sql, querier: ADVERTISER, data: dataset });
  const answer = await plaintextAnswer(sql, COLLABORATION.manifest.tables, dataset);
  for (const p of [s.P, s.Q]) {
    const result = resultOf(p);
    expect(result.columns, sql).toEqual(answer.columns);
    expect(sortRows(result.rows), sql).toEqual(sortRows(answer.rows));
  }
  return { s, answer };
}

describe('SUM and AVG of expressions, and the variance family, against the plaintext oracle', () => {
  it('products, sums, differences, unary minus and decimal constants, per group', async () => {
    const { answer } = await expectOracleAnswer(
      `SELECT a.category, SUM(a.amount * a.items) AS revenue, AVG(a.amount - 2.5) AS shifted, SUM(-a.items + 3) AS s3, SUM((a.amount + 0.125) * -2) AS neg, COUNT(*) ${JOIN} GROUP BY a.category`,
    );
    expect(answer.rows.length).toBeGreaterThanOrEqual(4);
    // Scales: amount (2) times items (0) is 2; amount - 2.5 is 2 (AVG: 6 decimals); (amount + 0.125) * -2 is 3.
    expect(String(answer.rows[0]![1])).toMatch(/^-?\d+\.\d{2}$/);
    expect(String(answer.rows[0]![4])).toMatch(/^-?\d+\.\d{3}$/);
  });

  it('a CASE inside an aggregate is refused without a privacy policy on the summed table (its subset faces no minimum), planned with one', async () => {
    const sql = `SELECT a.category, SUM(CASE WHEN a.category = 'toys' THEN a.amount END) AS toys ${JOIN} GROUP BY a.category`;
    const query = await parseQuery(sql);
    expect(() => planQuery(query, COLLABORATION.manifest, ADVERTISER)).toThrow(/rule: privacy-model\.case-in-aggregate; allowed: the subset as a dimension of its own/);
    expect(planQuery(query, GOVERNED.manifest, ADVERTISER).privacy).toBeDefined();
  });

  it('VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP, variance and stddev of columns and of an expression', async () => {
    const { answer } = await expectOracleAnswer(
      `SELECT a.category, VAR_SAMP(a.amount), VAR_POP(a.amount), STDDEV_SAMP(a.amount), STDDEV_POP(a.amount), variance(a.items) AS v_items, stddev(a.items * 2 - a.amount) AS sd, SUM(a.amount) ${JOIN} GROUP BY a.category`,
    );
    expect(answer.columns).toEqual(['category', 'var_samp_amount', 'var_pop_amount', 'stddev_samp_amount', 'stddev_pop_amount', 'v_items', 'sd', 'sum_amount']);
    expect(String(answer.rows[0]![1])).toMatch(/^\d+\.\d{6}$/);
  });

  it('NULL where a group has too few values: VAR_SAMP below 2, VAR_POP below 1', async () => {
    const { answer } = await expectOracleAnswer(
      `SELECT a.category, COUNT(a.amount), VAR_SAMP(a.amount), VAR_POP(a.amount), STDDEV_SAMP(a.amount + a.items), STDDEV_POP(a.amount) ${JOIN} WHERE a.age BETWEEN 30 AND 31 GROUP BY a.category`,
    );
    const one = answer.rows.find((r) => r[1] === 1);
    expect(one, 'a group with one value').toBeDefined();
    expect(one![2]).toBeNull();
    expect(one![3]).toBe('0.000000');
  });

  it('without GROUP BY, and named in HAVING and ORDER BY as SELECT writes them', async () => {
    await expectOracleAnswer(`SELECT SUM(a.amount * a.amount) AS sq, VAR_POP(a.items), STDDEV_SAMP(a.amount - a.items) ${JOIN}`);
    const { answer, s } = await expectOracleAnswer(
      `SELECT a.category, SUM(a.amount * a.items) AS revenue, STDDEV_POP(a.amount) ${JOIN} GROUP BY a.category HAVING STDDEV_POP(a.amount) > 10 AND revenue IS NOT NULL ORDER BY SUM(a.amount * a.items) DESC, stddev_pop_amount`,
    );
    expect(answer.released).toBeGreaterThan(answer.rows.length - 1);
    const revenue = resultOf(s.P).rows.map((r) => Number(r[1]));
    expect(revenue).toEqual([...revenue].sort((x, y) => y - x));
  });

  it('one expression read by SUM, AVG and VAR_SAMP is summed once, with its squares', async () => {
    const sql = `SELECT a.category, SUM(a.amount + a.items) AS s, AVG(a.amount + a.items) AS m, VAR_SAMP((a.amount + a.items)) AS v ${JOIN} GROUP BY a.category`;
    const { s } = await expectOracleAnswer(sql);
    expect(s.P.plan.sumExpressions).toHaveLength(1);
    expect(s.P.plan.sumExpressions![0]!.squares).toBe(true);
    expect(slots(s.P.plan).map((x) => x.kind)).toEqual(['rows', 'keys', 'expression-sum', 'expression-non-null', 'expression-squares']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// DuckDB's SQL for the new slots
// ---------------------------------------------------------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), 'cleanroom-aggregates-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function csvFile(t: Table, rows: readonly Row[]): string {
  const path = join(scratch, `${t.name}.csv`);
  const names = t.columns.map((c) => c.name);
  const field = (v: Row[string] | undefined) => (v === null || v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);
  writeFileSync(path, `${names.join(',')}\n${rows.map((r) => names.map((n) => field(r[n])).join(',')).join('\n')}\n`);
  return path;
}

describe('the group vector filled by DuckDB', () => {
  it('sums, non-null counts and sums of squares of columns and expressions (CASE literals bound, THEN NULL, a group NULL on every row) equal the oracle\'s', async () => {
    // Planned under a policy on the advertiser (a CASE inside an aggregate needs one); the vectors are the exact ones
    // the noise is then added to.
    const sql = `SELECT a.category, VAR_POP(a.items), SUM(a.amount * a.items - 3), STDDEV_SAMP(CASE WHEN a.category IN ('toys', 'garden') AND a.age >= 30 THEN a.items * 1.5 WHEN a.category = 'it''s' THEN -1 END), AVG(-a.items), SUM(CASE WHEN a.category = 'toys' THEN a.amount * 2 WHEN a.age > 40 THEN NULL ELSE a.items END) AS mixed, SUM(CASE WHEN a.category = 'toys' THEN a.amount END) AS toys, AVG(CASE WHEN a.age BETWEEN 20 AND 30 OR a.category IS NULL THEN 1 ELSE 0 END) AS young ${JOIN} GROUP BY a.category`;
    const plan = planQuery(await parseQuery(sql), GOVERNED.manifest, ADVERTISER);
    const side = plan.aggregator;
    const rows = DATA[ADVERTISER]!;
    const store = await TableStore.open({ [ADVERTISER]: { path: csvFile(side.table, rows), format: 'csv' as const } }, join(scratch, 'cache'));
    try {
      const got = await store.aggregateAll(side, plan.groupBy, plan);
      const kept = keyedRows(side.table, rows, side.filters);
      const expected = groupTotals(side.table, kept, plan.groupBy, [], []).map((g) => {
        const members = kept.filter((r) => JSON.stringify(groupTotals(side.table, [r], plan.groupBy, [], [])[0]!.labels) === JSON.stringify(g.labels)).map((r) => r.row);
        return slots(plan).map((slot): bigint => {
          if (slot.kind === 'rows') return BigInt(members.length);
          if (slot.kind === 'keys') return BigInt(g.keys.size);
          const e: NumericExpression = 'column' in slot ? { kind: 'column', column: { table: ADVERTISER, column: slot.column } } : slot.expression;
          const t = valueTotals(e, side.table, members);
          return slot.kind === 'sum' || slot.kind === 'expression-sum' ? t.sum : slot.kind === 'squares' || slot.kind === 'expression-squares' ? t.squares : t.count;
        });
      });
      expect(got.map((g) => g.values)).toEqual(expected);
      expect(got.length).toBeGreaterThanOrEqual(4);
    } finally {
      store.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Under a privacy policy
// ---------------------------------------------------------------------------------------------------------------

describe('VAR_* and STDDEV_* under a privacy policy (SPEC §10.2)', () => {
  const POLICY = { ...TEST_POLICY, maxRowsPerKey: 4 };
  const governed = collaboration({ categoryValues: CATEGORIES, privacy: { advertiser: POLICY, publisher: POLICY } });
  const SQL = `SELECT a.category, COUNT(*), VAR_SAMP(a.items), STDDEV_POP(a.items * 2 + 1), SUM(a.items * a.items) ${JOIN} GROUP BY a.category`;

  /** Groups of 4,000 rows with items spread over 0..9: the exact vectors, and their exact variance and deviation. */
  function exactGroups(plan: QueryPlan): { groups: GroupAggregate[]; truth: number[][] } {
    const groups: GroupAggregate[] = [];
    const truth: number[][] = [];
    CATEGORIES.forEach((c, g) => {
      // 4,000 rows: a group's noisy count (±165 at 95% here) misses the release threshold with probability below
      // e^(-60), so every group is released in every run.
      const items = Array.from({ length: 4000 }, (_, i) => (i * (g + 3)) % 10);
      const n = BigInt(items.length);
      const x = items.map(BigInt);
      const y = items.map((v) => BigInt(2 * v + 1));
      const sum = (v: bigint[]) => v.reduce((a, b) => a + b, 0n);
      const sq = (v: bigint[]) => v.reduce((a, b) => a + b * b, 0n);
      const values = slots(plan).map((s): bigint => {
        if (s.kind === 'rows' || s.kind === 'keys' || s.kind === 'non-null' || s.kind === 'expression-non-null') return n;
        if (s.kind === 'sum') return sum(x);
        if (s.kind === 'squares') return sq(x);
        const isItemsSquared = s.expression.kind === 'multiply';
        if (s.kind === 'expression-sum') return isItemsSquared ? sq(x) : sum(y);
        return isItemsSquared ? x.reduce((a, b) => a + b ** 4n, 0n) : sq(y);
      });
      groups.push({ labels: [c], values });
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const ss = (v: number[]) => v.reduce((a, b) => a + (b - mean(v)) ** 2, 0);
      const ys = items.map((v) => 2 * v + 1);
      truth.push([ss(items) / (items.length - 1), Math.sqrt(ss(ys) / ys.length), items.reduce((a, b) => a + b * b, 0)]);
    });
    return { groups, truth };
  }

  it('states intervals that hold the exact values (at least 80% of 400 releases, 95% in expectation)', async () => {
    const plan = planQuery(await parseQuery(SQL), governed.manifest, ADVERTISER);
    expect(plan.privacy).toBeDefined();
    const { groups, truth } = exactGroups(plan);
    const inside = [0, 0, 0];
    let cells = 0;
    for (let run = 0; run < 100; run++) {
      const result = pairRelease(plan, { dealer: ADVERTISER, other: PUBLISHER }, groups, { dealer: osRandom, other: osRandom });
      result.rows.forEach((row, r) => {
        const g = CATEGORIES.indexOf(row[0] as (typeof CATEGORIES)[number]);
        // The NULL group (declared domain, no rows) may be released on its noisy counts: nothing to check there.
        if (g < 0) return;
        [2, 3, 4].forEach((c, i) => {
          const interval = result.privacy!.intervals[r]![c];
          // A noisy count below what the value needs (2 for VAR_SAMP) shows NULL without an interval, as AVG does at
          // 0: that is a miss, inside the 5% the interval may miss by.
          if (!interval) {
            expect(row[c], `column ${c} without an interval`).toBeNull();
            return;
          }
          const [lo, hi] = interval;
          if (Number(lo) <= truth[g]![i]! + 1e-6 && truth[g]![i]! - 1e-6 <= Number(hi)) inside[i]! += 1;
          // The noisy value lies in its own interval.
          if (row[c] !== null) expect(Number(lo) <= Number(row[c]) && Number(row[c]) <= Number(hi), `${row[c]} in [${lo}, ${hi}]`).toBe(true);
        });
        cells += 1;
      });
    }
    expect(cells).toBe(400);
    // Each of the 400 intervals of a column holds with probability at least 0.95: fewer than 80% holding has
    // probability at most e^(-400 KL(0.8 || 0.95)) = e^(-55) per column (Chernoff), far below 1e-9.
    for (const n of inside) expect(n / cells).toBeGreaterThanOrEqual(0.8);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A federated table (SPEC §4.5)
// ---------------------------------------------------------------------------------------------------------------

describe('on a federated table joined with another member\'s table', () => {
  const HOLDERS = ['h1', 'h2'];
  const ROWS: Record<string, [string, string, number][]> = {
    h1: [['a', 'x', 10], ['b', 'x', 20], ['c', 'y', 5], ['g', 'y', 2], ['z1', 'y', 99]],
    h2: [['d', 'x', 1], ['h', 'x', 4], ['e', 'y', 7], ['f', 'y', 8], ['z2', 'x', 50]],
  };
  const R_KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'other'];
  const fedManifest = () =>
    ManifestSchema.parse({
      format: 'cleanroom-manifest/1',
      collaborationId: 'fed-variance',
      name: 'fed',
      version: 1,
      members: ['h1', 'h2', 'r'].map((id, i) => ({ id, name: id, endpoint: `ws://127.0.0.1:${7000 + i}`, publicKey: String(i + 1).repeat(64) })),
      tables: [
        {
          name: 'ft',
          owner: 'h1',
          holders: HOLDERS,
          columns: [{ name: 'k', type: 'string' }, { name: 'g', type: 'string', values: ['x', 'y'] }, { name: 'v', type: 'integer', min: 0, max: 1000 }],
          joinKey: { column: 'k', normalization: 'exact' },
          rules: { aggregations: [{ column: 'v', functions: ['sum', 'variance'] }], dimensions: ['g'], minDistinctKeys: 2, overlapDisclosure: [] },
        },
        { name: 'tr', owner: 'r', columns: [{ name: 'k', type: 'string' }], joinKey: { column: 'k', normalization: 'exact' }, rules: { aggregations: [], dimensions: [], minDistinctKeys: 2, overlapDisclosure: HOLDERS } },
      ],
      queriers: ['r'],
      receivers: ['r'],
    });

  it('sums an expression and the squares of a column over the holders\' matched rows', async () => {
    const sql = 'SELECT f.g, SUM(f.v * 2) AS doubled, VAR_POP(f.v), STDDEV_SAMP(f.v) FROM ft f JOIN tr r ON f.k = r.k GROUP BY f.g';
    const plan = planQuery(await parseQuery(sql), fedManifest(), 'r');
    if (plan.mode !== 'federated') throw new Error(`planned ${plan.mode}`);
    const aggregate = (holder: string, matched: readonly number[]): GroupAggregate[] =>
      ['x', 'y'].map((g) => {
        const vs = matched.map((i) => ROWS[holder]![i]!).filter((r) => r[1] === g).map((r) => BigInt(r[2]));
        const n = BigInt(vs.length);
        const values = slots(plan).map((s): bigint => {
          if (s.kind === 'sum') return vs.reduce((a, b) => a + b, 0n);
          if (s.kind === 'squares') return vs.reduce((a, b) => a + b * b, 0n);
          if (s.kind === 'expression-sum') return vs.reduce((a, b) => a + 2n * b, 0n);
          if (s.kind === 'expression-squares') throw new Error('no variance of the expression here');
          return n; // rows, keys, non-null counts: v is never NULL here
        });
        return { labels: [g], values };
      });
    const keys = { h1: ROWS.h1!.map((r) => r[0]), h2: ROWS.h2!.map((r) => r[0]), r: R_KEYS };
    const { outcomes } = runFederated({ plan, queryId: 'cd'.repeat(16), keys, aggregate });
    const r = outcomes.r;
    if (r?.kind !== 'result') throw new Error(`r ended with ${JSON.stringify(r)}`);
    // x: 10, 20, 1, 4 (Σ 35, Σ² 517): VAR_POP 843/16, VAR_SAMP 843/12 = 70.25; y: 5, 2, 7, 8 (Σ 22, Σ² 142): 84/16, 84/12 = 7.
    expect(r.result.rows).toEqual([
      ['x', '70', '52.687500', '8.381527'],
      ['y', '44', '5.250000', '2.645751'],
    ]);
  });
});
