/**
 * Issue 18: SUM and AVG of arithmetic expressions, and VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP. The parser's trees
 * and its refusals (each naming what it found and what is allowed), the planner's rules (the aggregation rule of every
 * column, CASE conditions on dimensions, scale, width and share-ring wrap), the group vector's new slots (layout, SQL,
 * sensitivity) and the exact formatting of a variance and a standard deviation.
 */
import { describe, expect, it } from 'vitest';
import { CleanroomError, RuleViolation } from '../../src/errors.js';
import { MAX_EXPRESSION_NODES, MAX_GROUP_WIDTH } from '../../src/limits.js';
import { Manifest as ManifestSchema, type Table } from '../../src/manifest/schema.js';
import type { Aggregate } from '../../src/query/ast.js';
import { expressionRange, expressionScale } from '../../src/query/expression.js';
import { groupWidth, outputSlots, releasedSlots, slotSensitivity, slots, vectorSelectSql } from '../../src/query/group-vector.js';
import { parseQuery } from '../../src/query/parse.js';
import { planQuery, type QueryPlan } from '../../src/query/plan.js';
import { assertAddedPointsFit, noisePlan } from '../../src/query/noise.js';
import { assembleResult } from '../../src/query/result.js';
import { ADVERTISER, advertiserTable, buildCollaboration, TEST_POLICY } from '../support/collaboration.js';

const JOIN = 'FROM advertiser a JOIN publisher p ON a.email = p.email';

function manifest(o: { aggregations?: Table['rules']['aggregations']; columns?: Table['columns']; policy?: boolean } = {}) {
  const c = buildCollaboration({ minDistinctKeys: { publisher: 1, advertiser: 1 }, ...(o.policy ? { privacy: { advertiser: TEST_POLICY }, categoryValues: ['books', 'toys'] } : {}) });
  const base = advertiserTable({ minDistinctKeys: { advertiser: 1 }, ...(o.policy ? { privacy: { advertiser: TEST_POLICY }, categoryValues: ['books', 'toys'] } : {}) });
  const advertiser: Table = {
    ...base,
    columns: [...base.columns, ...(o.columns ?? [])],
    rules: {
      ...base.rules,
      dimensions: ['category', 'age'],
      aggregations: o.aggregations ?? [
        { column: 'amount', functions: ['sum', 'avg', 'variance'] },
        { column: 'items', functions: ['sum', 'avg', 'variance'] },
        { column: 'age', functions: ['avg'] },
      ],
    },
  };
  return ManifestSchema.parse({ ...c.manifest, tables: c.manifest.tables.map((t) => (t.name === ADVERTISER ? advertiser : t)) });
}
const MANIFEST = manifest();

async function aggregates(sql: string): Promise<Aggregate[]> {
  return (await parseQuery(sql)).select.flatMap((i) => (i.kind === 'aggregate' ? [i.aggregate] : []));
}

async function plan(sql: string, m = MANIFEST): Promise<QueryPlan> {
  return planQuery(await parseQuery(sql), m, ADVERTISER);
}

/** The refusal of `sql` (parse or plan), with its code and message. */
async function refusal(sql: string, m = MANIFEST): Promise<CleanroomError> {
  try {
    await plan(sql, m);
  } catch (e) {
    if (e instanceof CleanroomError) return e;
    throw e;
  }
  throw new Error(`not refused: ${sql}`);
}

describe('the parser', () => {
  it('reads a bare column (parenthesised or not) as the column form, and an expression as a tree over one table', async () => {
    const [a, b, c] = await aggregates(`SELECT SUM((a.amount)), AVG(a.amount * 2.50 - -a.items), STDDEV_POP(CASE WHEN a.age > 30 THEN a.items END) ${JOIN}`);
    expect(a).toEqual({ fn: 'sum', column: { table: 'advertiser', column: 'amount' } });
    expect(b).toEqual({
      fn: 'avg',
      table: 'advertiser',
      expression: {
        kind: 'subtract',
        left: { kind: 'multiply', left: { kind: 'column', column: { table: 'advertiser', column: 'amount' } }, right: { kind: 'constant', value: '2.50' } },
        right: { kind: 'negate', operand: { kind: 'column', column: { table: 'advertiser', column: 'items' } } },
      },
    });
    expect(c).toMatchObject({ fn: 'stddev_pop', table: 'advertiser', expression: { kind: 'case', otherwise: { kind: 'null' } } });
  });

  it('takes variance and stddev as DuckDB does (var_samp, stddev_samp), and names outputs by function and column', async () => {
    const q = await parseQuery(`SELECT variance(a.amount), stddev(a.amount), VAR_POP(a.items), STDDEV_SAMP(a.items), SUM(a.amount * a.items), AVG(a.amount + 1) AS m ${JOIN}`);
    expect(q.select.map((i) => i.name)).toEqual(['var_samp_amount', 'stddev_samp_amount', 'var_pop_items', 'stddev_samp_items', 'sum', 'm']);
    expect(q.select.map((i) => (i.kind === 'aggregate' ? i.aggregate.fn : ''))).toEqual(['var_samp', 'stddev_samp', 'var_pop', 'stddev_samp', 'sum', 'avg']);
  });

  it('asks for an alias when two expressions would share a default name', async () => {
    await expect(parseQuery(`SELECT SUM(a.amount * 2), SUM(a.items * 2) ${JOIN}`)).rejects.toThrow(/two output columns are named sum; give one an alias/);
  });

  it.each([
    ['division', `SUM(a.amount / 2)`, /division \(\/\) is not supported in SUM\(\.\.\.\); allowed: .*\+, -, \*/],
    ['modulo', `SUM(a.amount % 2)`, /modulo \(%\) is not supported in SUM/],
    ['a function inside', `SUM(abs(a.amount))`, /function abs\(\) \(no function is allowed inside an aggregate's expression\) is not supported in SUM/],
    ['an aggregate outside the list', `MEDIAN(a.amount)`, /function median\(\) is not supported in SELECT: allowed are .*VAR_SAMP, VAR_POP, STDDEV_SAMP, STDDEV_POP/],
    ['two tables in one expression', `SUM(a.amount * p.impressions)`, /SUM\(\.\.\.\) reads columns of advertiser and publisher: an aggregate's expression is over one table's columns/],
    ['a string literal', `SUM(a.amount * 'x')`, /a string literal in arithmetic is not supported in SUM/],
    ['NULL as an operand', `SUM(a.amount + NULL)`, /NULL as an operand .* is not supported in SUM/],
    ['a CAST', `SUM(CAST(a.amount AS INTEGER))`, /CAST .* is not supported in SUM/],
    ['no column at all', `SUM(2 * 3)`, /SUM\(\.\.\.\) names no column/],
    ['two arguments', `VAR_POP(a.amount, a.items)`, /VAR_POP takes exactly one argument, a column or an arithmetic expression/],
    ['DISTINCT', `VAR_POP(DISTINCT a.amount)`, /VAR_POP\(DISTINCT \.\.\.\) is not supported/],
  ])('refuses %s, naming it and what is allowed', async (_, aggregate, message) => {
    const e = await refusal(`SELECT ${aggregate} ${JOIN}`);
    expect(e.code).toBe('QUERY_INVALID');
    expect(e.message).toMatch(message);
  });

  it(`bounds an expression at ${MAX_EXPRESSION_NODES} nodes`, async () => {
    const long = Array.from({ length: 40 }, () => 'a.items').join(' + ');
    const e = await refusal(`SELECT SUM(${long}) ${JOIN}`);
    expect(e.code).toBe('LIMIT_EXCEEDED');
    expect(e.message).toMatch(/SUM\(\.\.\.\) has 79 terms .*; at most 64/);
  });
});

describe('the planner', () => {
  it('refuses a string column in arithmetic, naming it', async () => {
    const e = await refusal(`SELECT SUM(a.category * 2) ${JOIN}`);
    expect(e.code).toBe('QUERY_INVALID');
    expect(e.message).toMatch(/advertiser\.category is a string column; arithmetic takes integer and decimal columns/);
  });

  it('refuses a column whose rule does not allow the function, naming the column and what its rule allows', async () => {
    const e = await refusal(`SELECT SUM(a.amount * a.age) ${JOIN}`);
    expect(e).toBeInstanceOf(RuleViolation);
    expect((e as RuleViolation).rule).toBe('advertiser.rules.aggregations');
    expect(e.message).toMatch(/SUM\(advertiser\.amount \* advertiser\.age\) is not allowed: advertiser\.age allows avg only/);
    expect(e.message).toMatch(/VAR_SAMP\(advertiser\.amount\)/);
    const noRule = await refusal(`SELECT SUM(a.amount * p.impressions) ${JOIN}`);
    expect(noRule.message).toMatch(/reads columns of advertiser and publisher/);
    const variance = await refusal(`SELECT VAR_POP(a.amount) ${JOIN}`, manifest({ aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }] }));
    expect(variance.message).toMatch(/VAR_POP\(advertiser\.amount\) is not allowed.*allowed: COUNT\(\*\), SUM\(advertiser\.amount\), AVG\(advertiser\.amount\)/);
  });

  it('refuses VAR_* of a variance-only column without a policy (it would open the exact sums), and allows it under one', async () => {
    const only = manifest({ aggregations: [{ column: 'amount', functions: ['variance'] }] });
    const e = await refusal(`SELECT STDDEV_SAMP(a.amount) ${JOIN}`, only);
    expect(e.message).toMatch(/would open the exact sum, sum of squares and count behind it, and the rule of advertiser\.amount allows only variance/);
    const governed = manifest({ aggregations: [{ column: 'amount', functions: ['variance'] }], policy: true });
    await expect(plan(`SELECT a.category, STDDEV_SAMP(a.amount) ${JOIN} GROUP BY a.category`, governed)).resolves.toMatchObject({ squareColumns: ['amount'] });
  });

  it('reads CASE conditions as WHERE: dimension columns only, literals of their type', async () => {
    const e = await refusal(`SELECT SUM(CASE WHEN a.items > 3 THEN a.amount END) ${JOIN}`);
    expect((e as RuleViolation).rule).toBe('advertiser.rules.dimensions');
    expect(e.message).toMatch(/advertiser\.items may not be used in a CASE condition of SUM/);
    await expect(refusal(`SELECT SUM(CASE WHEN a.age = 'x' THEN a.amount END) ${JOIN}`)).resolves.toMatchObject({ code: 'QUERY_INVALID' });
  });

  it('bounds the scale of an expression, and refuses one whose sums could wrap the share ring, naming the bounds', async () => {
    const scale = await refusal(`SELECT SUM(a.amount * 0.000000001 * 0.0000000001) ${JOIN}`);
    expect(scale.message).toMatch(/computes in units of 10\^-21 .*; at most 10\^-18/);
    const wide = manifest({
      columns: [{ name: 'big', type: 'decimal', scale: 2, min: -1e15, max: 1e15 }],
      aggregations: [{ column: 'big', functions: ['sum', 'avg', 'variance'] }],
    });
    await expect(plan(`SELECT SUM(a.big) ${JOIN}`, wide)).resolves.toBeDefined();
    const squares = await refusal(`SELECT VAR_POP(a.big) ${JOIN}`, wide);
    expect(squares.message).toMatch(/VAR_POP\(advertiser\.big\) could wrap the 2\^128 share ring: .*advertiser\.big in \[-1000000000000000, 1000000000000000\].*sum over 1099511627776 rows of their squares/);
    const product = await refusal(`SELECT SUM(a.big * a.big) ${JOIN}`, wide);
    expect(product.message).toMatch(/could wrap the 2\^128 share ring/);
  });

  it(`keeps the vector within MAX_GROUP_WIDTH (${MAX_GROUP_WIDTH}): a variance takes a slot more`, async () => {
    const many = ['amount', 'items'].flatMap((c) => [1, 2, 3, 4].map((k) => `VAR_POP(a.${c} * ${k}) AS v_${c}_${k}`));
    const e = await refusal(`SELECT ${many.slice(0, 6).join(', ')} ${JOIN}`);
    expect(e.code).toBe('LIMIT_EXCEEDED');
    expect(e.message).toMatch(/need 20 values per group .*; at most 18/);
  });

  it('lays the vector out: squares after the counted columns, then each expression once (with its squares when a variance reads it)', async () => {
    // Under a policy: an expression over two nullable columns needs one (privacy-model.null-subset).
    const p = await plan(`SELECT a.category, SUM(a.amount), VAR_SAMP(a.amount), COUNT(a.age), SUM(a.items * 2), STDDEV_POP(a.items * 2), AVG(a.amount - a.items) ${JOIN} GROUP BY a.category`, manifest({ policy: true }));
    expect(p).toMatchObject({ sumColumns: ['amount'], countColumns: ['age'], squareColumns: ['amount'] });
    expect(slots(p).map((s) => s.kind)).toEqual(['rows', 'keys', 'sum', 'non-null', 'non-null', 'squares', 'expression-sum', 'expression-non-null', 'expression-squares', 'expression-sum', 'expression-non-null']);
    expect(groupWidth(p)).toBe(11);
    const outs = p.outputs.flatMap((o) => (o.kind === 'aggregate' ? [outputSlots(p, o.aggregate)] : []));
    expect(outs[1]).toMatchObject({ fn: 'var_samp', scale: 2, sum: 2, nonNull: 3, squares: 5 });
    expect(outs[4]).toMatchObject({ fn: 'stddev_pop', scale: 0, sum: 6, nonNull: 7, squares: 8 });
    expect(outs[5]).toMatchObject({ fn: 'avg', scale: 2, sum: 9, nonNull: 10 });
    expect(releasedSlots(p)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('plans the new aggregates on a federated table too', async () => {
    const c = buildCollaboration();
    const holders = ['publisher', 'advertiser'];
    const table: Table = {
      name: 'visits',
      owner: 'publisher',
      holders,
      columns: [
        { name: 'email', type: 'string' },
        { name: 'kind', type: 'string', values: ['a', 'b'] },
        { name: 'spend', type: 'decimal', scale: 2, min: 0, max: 1000 },
      ],
      joinKey: { column: 'email', normalization: 'email' },
      rules: { aggregations: [{ column: 'spend', functions: ['sum', 'variance'] }], dimensions: ['kind'], minDistinctKeys: 1, overlapDisclosure: [] },
    } as Table;
    const m = ManifestSchema.parse({ ...c.manifest, tables: [...c.manifest.tables, table] });
    const p = planQuery(await parseQuery('SELECT v.kind, SUM(v.spend * 2), STDDEV_POP(v.spend) FROM visits v GROUP BY v.kind'), m, ADVERTISER);
    expect(p.mode).toBe('federated');
    expect(p).toMatchObject({ sumColumns: ['spend'], squareColumns: ['spend'], sumExpressions: [{ squares: false }] });
  });
});

describe('the group vector\'s new slots', () => {
  it('fills squares and expressions in DuckDB as exact HUGEINTs, CASE conditions through the data layer\'s writer', async () => {
    // Planned under a policy on the advertiser: a CASE inside an aggregate needs one (privacy-model.case-in-aggregate).
    const p = await plan(`SELECT VAR_POP(a.amount), SUM(CASE WHEN a.age > 30 THEN a.items * 1.5 ELSE -a.amount END) ${JOIN}`, manifest({ policy: true }));
    const sql = vectorSelectSql(p.aggregator.table, p, 'nk', (n) => `"${n}"`, () => '(COND)');
    expect(sql.slice(2)).toEqual([
      'CAST(coalesce(sum(CAST("amount" * 100 AS HUGEINT)), 0) AS HUGEINT)',
      'count("amount")',
      'CAST(coalesce(sum(CAST("amount" * 100 AS HUGEINT) * CAST("amount" * 100 AS HUGEINT)), 0) AS HUGEINT)',
      'CAST(coalesce(sum((CASE WHEN (COND) THEN ((CAST("items" AS HUGEINT) * CAST(15 AS HUGEINT)) * CAST(10 AS HUGEINT)) ELSE (- CAST("amount" * 100 AS HUGEINT)) END)), 0) AS HUGEINT)',
      'count((CASE WHEN (COND) THEN ((CAST("items" AS HUGEINT) * CAST(15 AS HUGEINT)) * CAST(10 AS HUGEINT)) ELSE (- CAST("amount" * 100 AS HUGEINT)) END))',
    ]);
    expect(() => vectorSelectSql(p.aggregator.table, p, 'nk', (n) => `"${n}"`)).toThrow(/no condition writer/);
  });

  it('has the sensitivity of its declared bounds: the largest |value| of an expression, the largest square', async () => {
    const p = await plan(`SELECT VAR_POP(a.items), SUM(a.amount * a.items - 3), STDDEV_POP(a.items - 2000) ${JOIN}`, manifest({ policy: true }));
    const t = p.aggregator.table;
    const person = { maxRowsPerKey: 2, parts: 1 };
    const kinds = slots(p).map((s) => s.kind);
    const at = (kind: string, n = 0) => kinds.reduce<number[]>((xs, k, i) => (k === kind ? [...xs, i] : xs), [])[n]!;
    // items in [0, 1000]: squares up to 10^6.
    expect(slotSensitivity(p, at('squares'), person)).toEqual({ l1: 2_000_000n, l2Squared: 4_000_000_000_000n });
    // amount in [-100000, 100000] (cents: ±10^7) times items in [0, 1000], minus 3.00: [-10^10 - 300, 10^10 - 300].
    const e = p.sumExpressions![0]!.expression;
    expect(expressionScale(e, t)).toBe(2);
    expect(expressionRange(e, t)).toMatchObject({ lo: -10_000_000_300n, hi: 9_999_999_700n });
    expect(slotSensitivity(p, at('expression-sum'), person).l1).toBe(20_000_000_600n);
    expect(slotSensitivity(p, at('expression-non-null'), person).l1).toBe(2n);
    // items - 2000 in [-2000, -1000]: the largest square is 4·10^6.
    expect(slotSensitivity(p, at('expression-squares', 0), person).l1).toBe(8_000_000n);
  });
});

describe('VAR_* and STDDEV_* in a result', () => {
  it('are the exact rationals rounded half away from zero to 6 decimals; a standard deviation the rounded exact root', async () => {
    const p = await plan(`SELECT VAR_SAMP(a.amount), VAR_POP(a.amount), STDDEV_SAMP(a.amount), STDDEV_POP(a.amount) ${JOIN}`);
    // amounts 1.00, 2.00, 3.00, 4.00 (cents): Σ = 1000, n = 4, Σ² = 300000.
    const vector = slots(p).map((s) => ({ rows: 4n, keys: 4n, sum: 1000n, 'non-null': 4n, squares: 300_000n })[s.kind as 'rows']);
    const opened = releasedSlots(p).map((i) => vector[i]!);
    const r = assembleResult('q', p, [[]], [opened]);
    expect(r.rows).toEqual([['1.666667', '1.250000', '1.290994', '1.118034']]);
    // One value: the sample forms are NULL, the population ones 0.
    const one = slots(p).map((s) => ({ rows: 1n, keys: 1n, sum: 250n, 'non-null': 1n, squares: 62_500n })[s.kind as 'rows']);
    expect(assembleResult('q', p, [[]], [releasedSlots(p).map((i) => one[i]!)]).rows).toEqual([[null, '0.000000', null, '0.000000']]);
  });

  it('takes a standard deviation from the exact integer square root: √1 is 1, √3 is 1.732051, √0 is 0', async () => {
    const p = await plan(`SELECT STDDEV_POP(a.items) ${JOIN}`);
    // items 0 and 2: variance 1, deviation 1; items 0, 0, 0, 4: variance 3, deviation √3 = 1.7320508.
    const of = (sum: bigint, n: bigint, squares: bigint) => {
      const v = slots(p).map((s) => ({ rows: n, keys: n, sum, 'non-null': n, squares })[s.kind as 'rows']);
      return assembleResult('q', p, [[]], [releasedSlots(p).map((i) => v[i]!)]).rows[0]![0];
    };
    expect(of(2n, 2n, 4n)).toBe('1.000000');
    expect(of(4n, 4n, 16n)).toBe('1.732051');
    expect(of(2n, 2n, 2n)).toBe('0.000000');
  });
});

describe('the preview (cleanroom query --preview, the console)', () => {
  it('states the error bound of each of the three values behind a variance, and of an expression\'s sum', async () => {
    const { preview } = await import('../../src/console/preview.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const ledger = join(mkdtempSync(join(tmpdir(), 'cleanroom-preview-')), 'ledger');
    // amount spans ±100,000.00: its squares (10^14 units of 10^-4) carry noise too wide to state when two holders add
    // theirs, and are refused; in this two-party aggregate query the dealer alone adds noise (SPEC §10.1), which fits.
    const wide = await plan(`SELECT a.category, STDDEV_SAMP(a.amount) ${JOIN} GROUP BY a.category`, manifest({ policy: true }));
    expect(() => assertAddedPointsFit(noisePlan(wide, 2)!)).toThrow(/too wide for its error bound to be stated \(past 2\^53\): narrow the declared bounds/);
    await expect(preview(wide, ADVERTISER, ledger)).resolves.toBeDefined();
    const p = await plan(`SELECT a.category, STDDEV_SAMP(a.items * 0.5), SUM(a.amount * a.items) AS revenue ${JOIN} GROUP BY a.category`, manifest({ policy: true }));
    const shown = await preview(p, ADVERTISER, ledger);
    expect(shown.errors.map((e) => e.output)).toEqual(['stddev_samp', 'revenue']);
    expect(shown.errors[0]!.bound).toMatch(/^from a noisy sum ± \d+\.\d{1}, sum of squares ± \d+\.\d{2} and count ± \d+; the result states each group's interval$/);
    expect(shown.errors[1]!.bound).toMatch(/^± \d+\.\d{2}$/);
  });
});

describe('what an expression opens beyond its columns\' sums, on a table without a policy (SPEC §5)', () => {
  // The test collaboration: amount allows sum and avg, items sum only, neither variance; no policy; both required (an
  // expression over a column that may be NULL sums a subset: privacy-model.null-subset).
  const base = buildCollaboration({ minDistinctKeys: { publisher: 1, advertiser: 1 }, overlapDisclosure: { publisher: [ADVERTISER] } }).manifest;
  const required = (t: Table): Table => ({ ...t, columns: t.columns.map((c) => (c.name === 'amount' || c.name === 'items' ? { ...c, required: true } : c)) as Table['columns'] });
  const bare = ManifestSchema.parse({ ...base, tables: base.tables.map((t) => (t.name === ADVERTISER ? required(t) : t)) });
  const nullable = base;
  const J = 'FROM advertiser a JOIN publisher p ON a.email = p.email';
  const planBare = async (sql: string) => planQuery(await parseQuery(sql), bare, ADVERTISER);

  it('a product of two different columns is a sum of degree 2 their sum rules allow', async () => {
    await expect(planBare(`SELECT SUM(a.amount * a.items) AS revenue ${J}`)).resolves.toMatchObject({ mode: 'aggregate' });
  });

  it("a column's square, however written, needs variance in its rule", async () => {
    for (const e of ['a.items * a.items', '(a.amount + a.items) * (a.amount - a.items)', '-(a.items) * (2 * a.items + 1)']) {
      const refusal = planBare(`SELECT SUM(${e}) AS s ${J}`);
      await expect(refusal).rejects.toMatchObject({ code: 'RULE_VIOLATION', rule: 'advertiser.rules.aggregations' });
      await expect(refusal).rejects.toThrow(/sums the squares of advertiser\.(items|amount)/);
    }
  });

  it('an expression over two columns of which one may be NULL sums a subset: refused (privacy-model.null-subset)', async () => {
    const q = await parseQuery(`SELECT SUM(a.amount + 0 * a.items) AS s ${J}`);
    expect(() => planQuery(q, nullable, ADVERTISER)).toThrow(/advertiser\.amount, advertiser\.items may be NULL.*rule: privacy-model\.null-subset; allowed: columns declared required/);
  });

  it('degree 3 or more is refused (privacy-model.power-sums), the variance family doubling its expression\'s', async () => {
    await expect(planBare(`SELECT SUM(a.amount * a.items * a.items) AS s ${J}`)).rejects.toMatchObject({ rule: 'privacy-model.power-sums' });
  });

  it('a CASE inside an aggregate is refused (privacy-model.case-in-aggregate), as a dimension it is not', async () => {
    await expect(planBare(`SELECT SUM(CASE WHEN a.category = 'toys' THEN a.amount ELSE 0 END) AS s ${J}`)).rejects.toMatchObject({ rule: 'privacy-model.case-in-aggregate' });
    await expect(planBare(`SELECT CASE WHEN a.category = 'toys' THEN 'toys' ELSE 'other' END AS kind, SUM(a.amount) ${J} GROUP BY CASE WHEN a.category = 'toys' THEN 'toys' ELSE 'other' END`)).resolves.toMatchObject({ mode: 'aggregate' });
  });
});
