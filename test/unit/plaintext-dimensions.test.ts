import { describe, expect, it } from 'vitest';
import { plaintextAnswer } from '../../scripts/plaintext/answer.js';
import { compareLabelRows, dimensionLabel } from '../../scripts/plaintext/dimensions.js';
import type { Table } from '../../src/manifest/schema.js';
import type { Condition, Dimension, ExtractField, TruncUnit } from '../../src/query/ast.js';

/** The plaintext oracle's dimensions (SPEC §5) on single values, every expected label worked out by hand. */
const T: Table = {
  name: 't',
  owner: 't',
  columns: [
    { name: 'k', type: 'string' },
    { name: 'd', type: 'date' },
    { name: 'ts', type: 'timestamp' },
    { name: 'b', type: 'boolean' },
    { name: 'n', type: 'integer', min: 0, max: 100 },
    { name: 'amount', type: 'decimal', scale: 2, min: -1000, max: 1000 },
  ],
  joinKey: { column: 'k', normalization: 'email' },
  rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['d', 'ts', 'b', 'n', 'amount'], minDistinctKeys: 1, overlapDisclosure: ['u'] },
};
const U: Table = { ...T, name: 'u', owner: 'u', rules: { ...T.rules, overlapDisclosure: ['t'] } };

const col = (column: string) => ({ table: 't', column });
const trunc = (unit: TruncUnit, column = 'd'): Dimension => ({ kind: 'date-trunc', unit, column: col(column) });
const extract = (field: ExtractField, column = 'd'): Dimension => ({ kind: 'extract', field, column: col(column) });
const label = (d: Dimension, row: Record<string, string | number | null>) => dimensionLabel(row, d, T);
const onDate = (d: Dimension, value: string | null) => label(d, { d: value });
const onTs = (d: Dimension, value: string | null) => label(d, { ts: value });

describe("the oracle's date_trunc", () => {
  it('week: the Monday of the ISO week, across a year boundary', () => {
    // 2024-12-30 is a Monday; 2025-01-01 a Wednesday of the same ISO week (week 1 of 2025).
    expect(['2024-12-29', '2024-12-30', '2024-12-31', '2025-01-01', '2025-01-05', '2025-01-06'].map((v) => onDate(trunc('week'), v))).toEqual([
      '2024-12-23',
      '2024-12-30',
      '2024-12-30',
      '2024-12-30',
      '2024-12-30',
      '2025-01-06',
    ]);
    // 2021-01-03 is a Sunday: its week began on Monday 2020-12-28. Before the epoch too: 1969-12-31 is a Wednesday.
    expect(onDate(trunc('week'), '2021-01-03')).toBe('2020-12-28');
    expect(onDate(trunc('week'), '1969-12-31')).toBe('1969-12-29');
  });

  it('month, quarter (Jan, Apr, Jul, Oct) and year; day keeps the date', () => {
    expect(onDate(trunc('month'), '2024-02-29')).toBe('2024-02-01');
    expect(['2024-01-01', '2024-03-31', '2024-04-01', '2024-06-30', '2024-08-15', '2024-09-30', '2024-10-01', '2024-12-31'].map((v) => onDate(trunc('quarter'), v))).toEqual([
      '2024-01-01',
      '2024-01-01',
      '2024-04-01',
      '2024-04-01',
      '2024-07-01',
      '2024-07-01',
      '2024-10-01',
      '2024-10-01',
    ]);
    expect(onDate(trunc('year'), '2024-12-31')).toBe('2024-01-01');
    expect(onDate(trunc('day'), '0001-01-01')).toBe('0001-01-01');
  });

  it('on a timestamp: the UTC day, an offset applied first', () => {
    expect(onTs(trunc('day', 'ts'), '2024-12-31T23:59:59.999999Z')).toBe('2024-12-31');
    // 00:30 at +01:00 is 23:30 UTC the day before; 22:30 at -02:00 is 00:30 UTC the day after, in the next year.
    expect(onTs(trunc('day', 'ts'), '2025-01-01T00:30:00+01:00')).toBe('2024-12-31');
    expect(onTs(trunc('year', 'ts'), '2024-12-31 22:30:00-02:00')).toBe('2025-01-01');
    expect(onTs(trunc('quarter', 'ts'), '2024-12-31 22:30:00-02:00')).toBe('2025-01-01');
    expect(onTs(trunc('week', 'ts'), '2025-01-05 23:59')).toBe('2024-12-30');
    expect(onTs(trunc('month', 'ts'), '2024-03-01T00:00:00+00:30')).toBe('2024-02-01');
  });
});

describe("the oracle's extract", () => {
  it('dow of known days: 0 is Sunday, 6 Saturday', () => {
    // 1970-01-01 was a Thursday, 2000-01-01 a Saturday, 2024-12-25 a Wednesday, 2025-01-05 a Sunday, 1969-12-28 a Sunday.
    expect(['1970-01-01', '2000-01-01', '2024-12-25', '2025-01-05', '2025-01-06', '1969-12-28'].map((v) => onDate(extract('dow'), v))).toEqual([4, 6, 3, 0, 1, 0]);
  });

  it('year, quarter and month as integers', () => {
    expect(['year', 'quarter', 'month'].map((f) => onDate(extract(f as ExtractField), '2024-11-30'))).toEqual([2024, 4, 11]);
    expect(['year', 'quarter', 'month'].map((f) => onDate(extract(f as ExtractField), '2025-01-01'))).toEqual([2025, 1, 1]);
    expect(onDate(extract('quarter'), '2024-07-01')).toBe(3);
  });

  it('hour of a timestamp near midnight, in UTC; the day, dow and year move with it', () => {
    expect(onTs(extract('hour', 'ts'), '2024-12-31T23:59:59.999999Z')).toBe(23);
    expect(onTs(extract('hour', 'ts'), '2025-01-01 00:00:00')).toBe(0);
    expect(onTs(extract('hour', 'ts'), '2025-01-01T00:30:00+01:00')).toBe(23);
    expect(onTs(extract('year', 'ts'), '2025-01-01T00:30:00+01:00')).toBe(2024);
    expect(onTs(extract('dow', 'ts'), '2025-01-01T00:30:00+01:00')).toBe(2); // Tuesday 2024-12-31
    expect(onTs(extract('hour', 'ts'), '2024-12-31 22:30:00-02:00')).toBe(0);
    expect(onTs(extract('dow', 'ts'), '2024-12-31 22:30:00-02:00')).toBe(3); // Wednesday 2025-01-01
    expect(onTs(extract('month', 'ts'), '2024-12-31 22:30:00-02:00')).toBe(1);
  });
});

describe("the oracle's column labels and NULLs", () => {
  it('a date as YYYY-MM-DD, a timestamp in UTC as DuckDB writes it, a boolean as true or false', () => {
    const column = (c: string): Dimension => ({ kind: 'column', column: col(c) });
    expect(label(column('d'), { d: '2024-02-29' })).toBe('2024-02-29');
    expect(label(column('ts'), { ts: '2024-03-05T07:08:09.120Z' })).toBe('2024-03-05 07:08:09.12');
    expect(label(column('ts'), { ts: '2024-03-05 07:08' })).toBe('2024-03-05 07:08:00');
    expect(label(column('ts'), { ts: '2024-03-05T01:00:00+02:00' })).toBe('2024-03-04 23:00:00');
    expect(label(column('b'), { b: 'true' })).toBe('true');
    expect(label(column('b'), { b: 'false' })).toBe('false');
    expect(label(column('n'), { n: '7' })).toBe(7);
    expect(label(column('amount'), { amount: '-1.5' })).toBe('-1.50');
  });

  it('a NULL value gives a NULL label under every dimension but CASE', () => {
    const all: Dimension[] = [
      { kind: 'column', column: col('d') },
      { kind: 'column', column: col('b') },
      ...(['day', 'week', 'month', 'quarter', 'year'] as const).flatMap((u) => [trunc(u), trunc(u, 'ts')]),
      ...(['year', 'quarter', 'month', 'dow'] as const).flatMap((f) => [extract(f), extract(f, 'ts')]),
      extract('hour', 'ts'),
    ];
    for (const d of all) expect(label(d, { d: null, ts: null, b: null }), JSON.stringify(d)).toBeNull();
    // A missing field reads as NULL too.
    expect(label(trunc('week'), {})).toBeNull();
  });

  it('labels order NULLs last, numbers by value, text (dates, timestamps) by bytes', () => {
    const rows = [[null, 'b'], [10, 'a'], [9, 'b'], [9, '2024-12-30 00:00:00.5'], [9, '2024-12-30 00:00:00']];
    expect([...rows].sort((a, b) => compareLabelRows(a, b, ['number', 'text']))).toEqual([[9, '2024-12-30 00:00:00'], [9, '2024-12-30 00:00:00.5'], [9, 'b'], [10, 'a'], [null, 'b']]);
    expect([['9.50'], ['10.00'], ['-1.00']].sort((a, b) => compareLabelRows(a, b, ['number']))).toEqual([['-1.00'], ['9.50'], ['10.00']]);
  });
});

describe("the oracle's CASE dimension", () => {
  const gt = (n: number): Condition => ({ kind: 'compare', op: '>', value: { type: 'number', value: String(n) }, column: col('n') });
  const branches = [
    { when: gt(10), then: 'big' },
    { when: gt(5), then: 'mid' },
  ];
  const noElse: Dimension = { kind: 'case', branches, otherwise: null };
  const withElse: Dimension = { kind: 'case', branches, otherwise: 'small' };

  it('the first branch whose condition is true wins', () => {
    // 20 meets both conditions: the first one labels it.
    expect([20, 11, 10, 7, 6].map((n) => label(noElse, { n }))).toEqual(['big', 'big', 'mid', 'mid', 'mid']);
  });

  it('without ELSE an unmatched row gets NULL; an unknown condition (NULL value) is no match', () => {
    expect([5, 0, null].map((n) => label(noElse, { n }))).toEqual([null, null, null]);
    expect([5, 0, null].map((n) => label(withElse, { n }))).toEqual(['small', 'small', 'small']);
    const orNull: Dimension = { kind: 'case', branches: [{ when: { kind: 'or', operands: [gt(50), { kind: 'null', column: col('n') }] }, then: 'high or none' }, ...branches], otherwise: null };
    expect([60, null, 20, 1].map((n) => label(orNull, { n }))).toEqual(['high or none', 'high or none', 'big', null]);
    // NOT (n > 10) is unknown on NULL: no match, so the ELSE.
    const notBig: Dimension = { kind: 'case', branches: [{ when: { kind: 'not', operand: gt(10) as Extract<Condition, { kind: 'compare' }> }, then: 'not big' }], otherwise: 'else' };
    expect([3, 30, null].map((n) => label(notBig, { n }))).toEqual(['not big', 'else', 'else']);
  });
});

describe('the oracle groups, orders and tests by dimensions', () => {
  const rows = (values: readonly [string, string | null, string | null, number | null][]) => values.map(([k, d, ts, n]) => ({ k, d, ts, b: null, n, amount: '1.00' }));
  const DATA = {
    t: rows([
      ['a@x', '2024-12-30', '2024-12-31T23:30:00Z', 20],
      ['b@x', '2025-01-01', '2025-01-01T00:30:00+01:00', 7],
      ['c@x', '2025-01-05', '2025-01-01T00:30:00Z', 1],
      ['d@x', '2024-12-29', null, null],
      ['e@x', null, '2024-06-01 12:00', 11],
    ]),
    u: ['a@x', 'b@x', 'c@x', 'd@x', 'e@x'].map((k) => ({ k, d: null, ts: null, b: null, n: null, amount: null })),
  };
  const TABLES = [T, U];

  it('GROUP BY date_trunc and extract: labels, NULLs last', async () => {
    const week = await plaintextAnswer("SELECT date_trunc('week', t.d), COUNT(*) FROM t JOIN u ON t.k = u.k GROUP BY date_trunc('week', t.d)", TABLES, DATA);
    expect(week.columns).toEqual(['d_week', 'count']);
    expect(week.rows).toEqual([['2024-12-23', 1], ['2024-12-30', 3], [null, 1]]);
    const hour = await plaintextAnswer('SELECT extract(hour FROM t.ts) AS h, extract(year FROM t.ts), COUNT(*) FROM t JOIN u ON t.k = u.k GROUP BY extract(hour FROM t.ts), extract(year FROM t.ts)', TABLES, DATA);
    expect(hour.columns).toEqual(['h', 'ts_year', 'count']);
    expect(hour.rows).toEqual([[0, 2025], [12, 2024], [23, 2024], [null, null]].map((r, i) => [...r, i === 2 ? 2 : 1]));
  });

  it('GROUP BY CASE, with HAVING and ORDER BY naming the dimension as SELECT writes it', async () => {
    const sql =
      "SELECT CASE WHEN t.n > 10 THEN 'big' WHEN t.n > 5 THEN 'mid' END, COUNT(*) FROM t JOIN u ON t.k = u.k GROUP BY CASE WHEN t.n > 10 THEN 'big' WHEN t.n > 5 THEN 'mid' END";
    expect((await plaintextAnswer(sql, TABLES, DATA)).rows).toEqual([['big', 2], ['mid', 1], [null, 2]]);
    const ordered = await plaintextAnswer(`${sql} ORDER BY CASE WHEN t.n > 10 THEN 'big' WHEN t.n > 5 THEN 'mid' END DESC NULLS FIRST`, TABLES, DATA);
    expect(ordered.rows).toEqual([[null, 2], ['mid', 1], ['big', 2]]);
    const having = await plaintextAnswer(`${sql} HAVING CASE WHEN t.n > 10 THEN 'big' WHEN t.n > 5 THEN 'mid' END IN ('big', 'none')`, TABLES, DATA);
    expect(having.rows).toEqual([['big', 2]]);
    expect((await plaintextAnswer(`${sql} HAVING "case" < 'mid'`, TABLES, DATA)).rows).toEqual([['big', 2]]);
  });

  it('HAVING compares DATE and TIMESTAMP literals with labels as text', async () => {
    const days = await plaintextAnswer(
      "SELECT date_trunc('day', t.ts) AS day, COUNT(*) FROM t JOIN u ON t.k = u.k GROUP BY date_trunc('day', t.ts) HAVING day >= DATE '2024-12-31' ORDER BY day DESC",
      TABLES,
      DATA,
    );
    expect(days.rows).toEqual([['2025-01-01', 1], ['2024-12-31', 2]]);
    const instants = await plaintextAnswer("SELECT t.ts, COUNT(*) FROM t JOIN u ON t.k = u.k GROUP BY t.ts HAVING t.ts BETWEEN TIMESTAMP '2024-12-31 23:30' AND TIMESTAMP '2025-01-01 00:00:00'", TABLES, DATA);
    // 00:30 at +01:00 is 2024-12-31 23:30:00 UTC, the same instant as the first row's.
    expect(instants.rows).toEqual([['2024-12-31 23:30:00', 2]]);
  });
});
