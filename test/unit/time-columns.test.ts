/**
 * Date, timestamp and boolean columns (issue 18): the same values, read from a CSV file, a Parquet file and a
 * PostgreSQL table, come back in their types (a timestamp as the same UTC instant whatever offset it was written
 * with), every bad value is named by file, line or row, column and rule, and filters on them keep the rows the
 * plaintext oracle keeps. The process runs in a zone that is not UTC (set before any DuckDB or PostgreSQL starts):
 * nothing may depend on the machine's zone.
 */
process.env.TZ = 'America/St_Johns';

import { DuckDBInstance, listValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySet } from '../../scripts/plaintext/rows.js';
import { labelOf } from '../../scripts/plaintext/values.js';
import { startPostgres, type PostgresServer } from '../../scripts/postgres-server.js';
import { describeColumn } from '../../src/console/rules-text.js';
import { columnRules, typedSql } from '../../src/data/column-rules.js';
import type { DataProblem } from '../../src/data/data-problem.js';
import { postgresRules } from '../../src/data/postgres-rules.js';
import type { TableSource } from '../../src/data/table-source.js';
import { TableStore } from '../../src/data/table-store.js';
import { Column, Manifest, type Table } from '../../src/manifest/schema.js';
import type { Condition, Dimension, Literal, Predicate } from '../../src/query/ast.js';
import { buildCollaboration } from '../support/collaboration.js';
import { recordingHasher, scratchDir, side, streamedKeys, parquetOf } from './data-fixtures.js';

const scratch = scratchDir('cleanroom-time-');
let server: PostgresServer;
const READER = 'cleanroom_time_reader';
const PASSWORD = 'reader-pass';
const ENV = 'CLEANROOM_TEST_PG_TIME_PASSWORD';

const table = (columns: Table['columns'] = COLUMNS): Table => ({
  name: 't',
  owner: 'm',
  columns,
  joinKey: { column: 'k', normalization: 'email' },
  rules: { aggregations: [], dimensions: ['d', 'ts', 'b'], minDistinctKeys: 1, overlapDisclosure: [] },
});
const COLUMNS: Table['columns'] = [
  { name: 'k', type: 'string' },
  { name: 'd', type: 'date', min: '2024-01-01', max: '2024-12-31' },
  { name: 'ts', type: 'timestamp', min: '2024-01-01T00:00Z', max: '2024-12-31T23:59:59Z' },
  { name: 'b', type: 'boolean' },
];

/** k, d, ts, b as text, in every form SPEC §5 accepts: offsets, T or a space, spaces around, any case. */
const ROWS: (string | null)[][] = [
  ['a@x.com', '2024-01-31', '2024-01-31T10:00+02:00', 'true'],
  ['b@x.com', '2024-02-29', '2024-01-31 08:00:00Z', 'FALSE'],
  ['c@x.com', ' 2024-12-31 ', '2024-06-30 23:59:59.123456-0130', ' True '],
  ['d@x.com', null, '2024-03-01 00:00', null],
  ['e@x.com', '2024-01-01', '2024-03-01T00:00:00.5+00', 'false'],
];
/** The same rows as a Parquet file holds them, in its own types. */
const PARQUET_SELECT = `SELECT * FROM (VALUES
  ('a@x.com', DATE '2024-01-31', TIMESTAMPTZ '2024-01-31 10:00:00+02', true),
  ('b@x.com', DATE '2024-02-29', TIMESTAMPTZ '2024-01-31 08:00:00+00', false),
  ('c@x.com', DATE '2024-12-31', TIMESTAMPTZ '2024-06-30 23:59:59.123456-01:30', true),
  ('d@x.com', NULL, TIMESTAMPTZ '2024-03-01 00:00:00+00', NULL),
  ('e@x.com', DATE '2024-01-01', TIMESTAMPTZ '2024-03-01 00:00:00.5+00', false)) v(k, d, ts, b)`;

const csvOf = (rows: readonly (readonly (string | null)[])[], header = 'k,d,ts,b') => `${header}\n${rows.map((r) => r.map((v) => (v === null ? '' : `"${v}"`)).join(',')).join('\n')}\n`;
const ref = (column: string) => ({ table: 't', column });
const dim = (column: string): Dimension => ({ kind: 'column', column: ref(column) });
type Loose<P> = P extends Predicate ? Omit<P, 'column'> & { column: string } : never;
const filter = (p: Loose<Predicate>): Predicate => ({ ...p, column: ref(p.column) }) as Predicate;
const date = (value: string): Literal => ({ type: 'date', value });
const timestamp = (value: string): Literal => ({ type: 'timestamp', value });
const bool = (value: boolean): Literal => ({ type: 'boolean', value });

const parquet = (select: string) => parquetOf(scratch.dir, select);

const pgSource = (name: string): TableSource => ({ kind: 'postgres', url: server.url(READER), passwordEnv: ENV, table: `public.${name}` });

/** A store reading `source` as t, closed after `f`. */
async function withStore<T>(source: TableSource, f: (store: TableStore) => Promise<T>): Promise<T> {
  const store = await TableStore.open({ t: source }, scratch.cacheDir());
  try {
    return await f(store);
  } finally {
    store.close();
  }
}

let sources: [string, () => TableSource][];

beforeAll(async () => {
  server = await startPostgres();
  await server.load('typed', COLUMNS, ROWS);
  await server.sql(`CREATE TABLE as_text (k text, d text, ts text, b text)`);
  await server.sql(`INSERT INTO as_text SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [0, 1, 2, 3].map((i) => ROWS.map((r) => r[i])));
  await server.sql(`CREATE TABLE naive AS SELECT k, d, ts AT TIME ZONE 'UTC' AS ts, b FROM typed`);
  await server.reader(READER, PASSWORD);
  process.env[ENV] = PASSWORD;
  const csv = scratch.file(csvOf(ROWS));
  const typedParquet = await parquet(PARQUET_SELECT);
  // A TIMESTAMP without a zone is UTC; nanoseconds that are whole microseconds are read as microseconds.
  const naiveParquet = await parquet(`SELECT k, d, CAST(timezone('UTC', ts) AS TIMESTAMP_NS) AS ts, b FROM (${PARQUET_SELECT})`);
  const textParquet = await parquet(`SELECT * FROM read_csv('${csv}', all_varchar = true)`);
  sources = [
    ['CSV', () => ({ path: csv, format: 'csv' })],
    ['Parquet DATE, TIMESTAMP WITH TIME ZONE, BOOLEAN', () => ({ path: typedParquet, format: 'parquet' })],
    ['Parquet TIMESTAMP_NS', () => ({ path: naiveParquet, format: 'parquet' })],
    ['Parquet VARCHAR', () => ({ path: textParquet, format: 'parquet' })],
    ['PostgreSQL date, timestamptz, boolean', () => pgSource('typed')],
    ['PostgreSQL text', () => pgSource('as_text')],
    ['PostgreSQL timestamp without time zone', () => pgSource('naive')],
  ];
}, 120_000);

afterAll(async () => {
  await server?.stop();
  scratch.remove();
});

describe('the process is not in UTC', () => {
  it('so that a reading that used the machine zone would differ', () => {
    expect(new Date('2024-01-01T00:00:00Z').getTimezoneOffset()).toBe(210);
  });
});

describe('good values read back in their types, alike from CSV, Parquet and PostgreSQL', () => {
  /** Each group's label and row count. */
  const groups = (store: TableStore, column: string) => store.aggregateAll(side(table()), [dim(column)], []).then((gs) => gs.map((g) => [g.labels[0], Number(g.values[0])]));

  it.each([0, 1, 2, 3, 4, 5, 6])('source %i', async (i) => {
    const [, source] = sources[i]!;
    await withStore(source(), async (store) => {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([]);
      expect(await groups(store, 'd')).toEqual([['2024-01-01', 1], ['2024-01-31', 1], ['2024-02-29', 1], ['2024-12-31', 1], [null, 1]]);
      // The same instant from 10:00+02:00 and 08:00Z; -01:30 moves c past midnight into July, UTC.
      expect(await groups(store, 'ts')).toEqual([['2024-01-31 08:00:00', 2], ['2024-03-01 00:00:00', 1], ['2024-03-01 00:00:00.5', 1], ['2024-07-01 01:29:59.123456', 1]]);
      expect(await groups(store, 'b')).toEqual([['false', 2], ['true', 2], [null, 1]]);
    });
  });

  it('the oracle labels the CSV texts as the node does', () => {
    const byColumn = (i: number) => ROWS.map((r) => labelOf(r[i] ?? null, COLUMNS[i]!));
    expect(byColumn(1)).toEqual(['2024-01-31', '2024-02-29', '2024-12-31', null, '2024-01-01']);
    expect(byColumn(2)).toEqual(['2024-01-31 08:00:00', '2024-01-31 08:00:00', '2024-07-01 01:29:59.123456', '2024-03-01 00:00:00', '2024-03-01 00:00:00.5']);
    expect(byColumn(3)).toEqual(['true', 'false', 'true', null, 'false']);
  });
});

describe('filters on date, timestamp and boolean columns keep the rows SPEC §5 keeps', () => {
  const cases: [string, Condition, string][] = [
    ['d >= DATE', filter({ kind: 'compare', column: 'd', op: '>=', value: date('2024-02-01') }), 'b c'],
    ['d IN (DATE, DATE)', filter({ kind: 'in', column: 'd', values: [date('2024-01-01'), date('2024-02-29')] }), 'b e'],
    ['d IS NULL', filter({ kind: 'null', column: 'd' }), 'd'],
    ['NOT d < DATE (NULL is unknown)', { kind: 'not', operand: filter({ kind: 'compare', column: 'd', op: '<', value: date('2024-02-29') }) }, 'b c'],
    ['ts < TIMESTAMP', filter({ kind: 'compare', column: 'ts', op: '<', value: timestamp('2024-03-01 00:00:00') }), 'a b'],
    ['ts = TIMESTAMP (an instant written with an offset)', filter({ kind: 'compare', column: 'ts', op: '=', value: timestamp('2024-01-31 08:00:00') }), 'a b'],
    ['ts = DATE (midnight UTC)', filter({ kind: 'compare', column: 'ts', op: '=', value: date('2024-03-01') }), 'd'],
    ['ts BETWEEN DATE AND TIMESTAMP', filter({ kind: 'between', column: 'ts', low: date('2024-03-01'), high: timestamp('2024-07-01 01:29:59.123456') }), 'c d e'],
    ['ts > TIMESTAMP with a fraction', filter({ kind: 'compare', column: 'ts', op: '>', value: timestamp('2024-03-01 00:00:00.499999') }), 'c e'],
    ['b = true', filter({ kind: 'compare', column: 'b', op: '=', value: bool(true) }), 'a c'],
    ['NOT b = true', { kind: 'not', operand: filter({ kind: 'compare', column: 'b', op: '=', value: bool(true) }) }, 'b e'],
    ['b != false OR b IS NULL', { kind: 'or', operands: [filter({ kind: 'compare', column: 'b', op: '!=', value: bool(false) }), filter({ kind: 'null', column: 'b' })] }, 'a c d'],
    ['b IN (false)', filter({ kind: 'in', column: 'b', values: [bool(false)] }), 'b e'],
  ];
  const keysOf = (expected: string) => expected.split(' ').map((k) => `${k}@x.com`);

  it.each(cases)('%s: the oracle', (_name, condition, expected) => {
    const rows = ROWS.map((r) => Object.fromEntries(COLUMNS.map((c, i) => [c.name, r[i] ?? null])));
    expect([...keySet(table(), rows, [condition])].sort()).toEqual(keysOf(expected));
  });

  it.each([0, 1, 2, 3, 4, 5, 6])('every filter, source %i', async (i) => {
    const [, source] = sources[i]!;
    await withStore(source(), async (store) => {
      // One hasher for the store: its hash cache keeps what earlier queries hashed.
      const hasher = recordingHasher();
      for (const [name, condition, expected] of cases) {
        const s = side(table(), [condition]);
        expect([(await streamedKeys(store, s, hasher)).sort(), name]).toEqual([keysOf(expected), name]);
        await store.release(s);
      }
    });
  });
});

describe('PostgreSQL runs filters on its date, timestamp and boolean columns itself', () => {
  it('never computes the rows they leave out', async () => {
    // A key that fails when computed for every row but c: only a read filtered inside PostgreSQL succeeds.
    for (const type of ['timestamp with time zone', 'timestamp without time zone']) {
      const ts = type.endsWith('with time zone') ? 'ts' : "ts AT TIME ZONE 'UTC'";
      await server.sql(`DROP VIEW IF EXISTS probe_time`);
      await server.sql(`CREATE VIEW probe_time AS SELECT CASE WHEN coalesce(d >= '2024-02-01' AND b AND ts < '2024-12-01 00:00+00', false) THEN k ELSE (1 / (length(k) - length(k)))::text END AS k, d, ${ts} AS ts, b FROM typed`);
      await server.sql(`GRANT SELECT ON probe_time TO ${READER}`);
      const filters = [
        filter({ kind: 'compare', column: 'd', op: '>=', value: date('2024-02-01') }),
        filter({ kind: 'compare', column: 'b', op: '=', value: bool(true) }),
        filter({ kind: 'compare', column: 'ts', op: '<', value: timestamp('2024-12-01 00:00:00') }),
      ];
      expect(await withStore(pgSource('probe_time'), (store) => streamedKeys(store, side(table(), filters))), type).toEqual(['c@x.com']);
    }
  });
});

describe('bad values are named by file, line or row, column and rule', () => {
  const required: Table['columns'] = COLUMNS.map((c) => (c.name === 'd' ? { ...c, required: true } : c));
  const BAD: [string, string, string][] = [
    // [line's d, ts, b]
    ['2024-01-05', '2024-01-05 10:00', 'true'],
    ['2024-1-5', '2024-01-05 10:00', 'true'],
    ['2023-02-29', '2024-01-05 10:00', 'true'],
    ['2025-01-01', '2024-01-05 10:00', 'true'],
    ['2024-01-05', '2024-01-05 24:00', 'true'],
    ['2024-01-05', '2024-02-30T10:00Z', 'true'],
    ['2024-01-05', '2024-01-01T00:30+01:00', 'true'],
    ['2024-01-05', '2024-01-05T10:00+02:00 ', 'yes'],
    ['2024-01-05', '2024-01-05 10:00:00.1234567', 't'],
    ['', '2024-01-05 10:00', '1'],
  ];
  const expected = [
    { line: 3, column: 'd', rule: 'date', detail: 'is not a date written YYYY-MM-DD', value: '2024-1-5' },
    { line: 4, column: 'd', rule: 'date', detail: 'is not a day that exists in the calendar (years 0001 to 9999)', value: '2023-02-29' },
    { line: 5, column: 'd', rule: 'bounds', detail: 'is outside the declared bounds (from 2024-01-01 to 2024-12-31)', value: '2025-01-01' },
    { line: 6, column: 'ts', rule: 'timestamp', detail: expect.stringMatching(/^is not a timestamp written YYYY-MM-DD HH:MM\[:SS\[\.ffffff\]\]/), value: '2024-01-05 24:00' },
    { line: 7, column: 'ts', rule: 'timestamp', detail: expect.stringMatching(/^is not an instant that exists/), value: '2024-02-30T10:00Z' },
    // 00:30 at +01:00 is 23:30 UTC the day before: before the declared min.
    { line: 8, column: 'ts', rule: 'bounds', detail: 'is outside the declared bounds (from 2024-01-01T00:00Z to 2024-12-31T23:59:59Z)', value: '2024-01-01T00:30+01:00' },
    { line: 9, column: 'b', rule: 'boolean', detail: expect.stringMatching(/^is not true or false/), value: 'yes' },
    { line: 10, column: 'b', rule: 'boolean', detail: expect.stringMatching(/^is not true or false/), value: 't' },
    { line: 10, column: 'ts', rule: 'timestamp', detail: expect.stringMatching(/^is not a timestamp written/), value: '2024-01-05 10:00:00.1234567' },
    { line: 11, column: 'b', rule: 'boolean', detail: expect.stringMatching(/^is not true or false/), value: '1' },
    { line: 11, column: 'd', rule: 'required', detail: 'is empty, and the manifest declares the column required (no NULL)', value: '' },
  ];
  /** Problems in file order, the columns of one line by name. */
  const inOrder = (ps: readonly DataProblem[]) => [...ps].sort((x, y) => (x.line ?? x.row!) - (y.line ?? y.row!) || x.column!.localeCompare(y.column!));

  it('in a CSV file, by line', async () => {
    const path = scratch.file(csvOf(BAD.map(([d, ts, b], i) => [`u${i}@x.com`, d || null, ts, b])));
    await withStore({ path, format: 'csv' }, async (store) => {
      const [report] = await store.check([table(required)]);
      expect(inOrder(report!.problems.problems)).toEqual(expected.map((p) => ({ file: path, ...p })));
      const err = await store.prepare(table(required)).catch((e: unknown) => e);
      expect((err as Error).message).toContain(`${path} line 3: d "2024-1-5" is not a date written YYYY-MM-DD`);
    });
  });

  it('in a Parquet file of text, by row; and a type that cannot hold the column', async () => {
    const csv = scratch.file(csvOf(BAD.map(([d, ts, b], i) => [`u${i}@x.com`, d || null, ts, b])));
    const path = await parquet(`SELECT * FROM read_csv('${csv}', all_varchar = true)`);
    await withStore({ path, format: 'parquet' }, async (store) => {
      const [report] = await store.check([table(required)]);
      expect(inOrder(report!.problems.problems)).toEqual(expected.map(({ line, ...p }) => ({ file: path, row: line - 1, ...p })));
    });
    const wrong = await parquet(`SELECT 'a@x.com' AS k, 20240101 AS d, DATE '2024-01-01' AS ts, 'true' AS b`);
    await withStore({ path: wrong, format: 'parquet' }, async (store) => {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([
        expect.objectContaining({ column: 'd', rule: 'column-type', detail: 'is stored as INTEGER, which cannot hold a date column' }),
        expect.objectContaining({ column: 'ts', rule: 'column-type', detail: 'is stored as DATE, which cannot hold a timestamp column' }),
      ]);
    });
  });

  it('in a typed Parquet file: out of bounds, and nanoseconds a timestamp cannot hold', async () => {
    const path = await parquet(`SELECT 'a@x.com' AS k, DATE '2023-12-31' AS d, TIMESTAMP_NS '2024-01-05 10:00:00.123456789' AS ts, true AS b`);
    await withStore({ path, format: 'parquet' }, async (store) => {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([
        { file: path, row: 1, column: 'd', rule: 'bounds', detail: 'is outside the declared bounds (from 2024-01-01 to 2024-12-31)', value: '2023-12-31' },
        { file: path, row: 1, column: 'ts', rule: 'timestamp', detail: expect.stringMatching(/^is not a timestamp written/), value: '2024-01-05 10:00:00.123456789' },
      ]);
    });
    // DuckDB writes a TIMESTAMP WITH TIME ZONE in its TimeZone setting: UTC in the node, not this process's zone.
    const zoned = await parquet(`SELECT 'a@x.com' AS k, DATE '2024-01-01' AS d, TIMESTAMPTZ '2025-01-01 02:00:00+02' AS ts, true AS b`);
    await withStore({ path: zoned, format: 'parquet' }, async (store) => {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([expect.objectContaining({ row: 1, column: 'ts', rule: 'bounds', value: '2025-01-01 00:00:00+00' })]);
    });
  });

  it('in PostgreSQL: each value when read, and counted over the whole table by the same rules in PostgreSQL', async () => {
    await server.sql(`CREATE TABLE bad_text (k text, d text, ts text, b text)`);
    await server.sql(`INSERT INTO bad_text SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [
      BAD.map((_, i) => `u${i}@x.com`),
      ...[0, 1, 2].map((j) => BAD.map((r) => r[j] || null)),
    ]);
    await server.sql(`GRANT SELECT ON bad_text TO ${READER}`);
    await withStore(pgSource('bad_text'), async (store) => {
      const [report] = await store.check([table(required)]);
      const named = report!.problems.problems.map((p) => ({ column: p.column, rule: p.rule, detail: p.detail, value: p.value }));
      expect(named).toEqual(expect.arrayContaining(expected.map(({ line: _line, ...p }) => p)));
      expect(report!.problems.total).toBe(expected.length);
      // A filter pushed down into PostgreSQL: the rules are then counted there, over every row, with the same verdicts.
      const s = side(table(required), [filter({ kind: 'compare', column: 'k', op: '!=', value: { type: 'string', value: 'x' } })]);
      const err = await store.distinctKeys(s, ['k', 'd', 'ts', 'b']).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DATA_INVALID' });
      const message = (err as Error).message;
      const counts = new Map<string, number>();
      for (const p of expected) counts.set(`${p.column} ${typeof p.detail === 'string' ? p.detail : ''}`, (counts.get(`${p.column} ${typeof p.detail === 'string' ? p.detail : ''}`) ?? 0) + 1);
      for (const [what, n] of counts) if (!what.endsWith(' ')) expect(message).toContain(`${what} in ${n} row(s) of the table`);
      expect(message).toContain('ts is not a timestamp written');
      expect(message).toMatch(/b is not true or false \([^)]*\) in 3 row\(s\) of the table/);
    });
  });

  it('in a typed PostgreSQL table: years ISO cannot write and instants out of bounds, the same verdicts counted inside PostgreSQL', async () => {
    await server.load('typed_bad', COLUMNS, [
      ['a@x.com', '2024-06-01', '2025-01-01 00:00:00+00', 'true'],
      ['b@x.com', 'infinity', '2024-06-01 00:00:00+00', 'false'],
      ['c@x.com', '0044-03-15 BC', '2024-06-01 00:00:00+00', null],
      ['d@x.com', '2024-06-01', '2023-12-31 23:59:59.999999+00', 'true'],
    ]);
    await server.sql(`GRANT SELECT ON typed_bad TO ${READER}`);
    await withStore(pgSource('typed_bad'), async (store) => {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems.map((p) => [p.column, p.rule, p.value]).sort()).toEqual([
        ['d', 'date', '0044-03-15 BC'],
        ['d', 'date', 'infinity'],
        ['ts', 'bounds', '2023-12-31 23:59:59.999999+00'],
        ['ts', 'bounds', '2025-01-01 00:00:00+00'],
      ]);
      const s = side(table(), [filter({ kind: 'compare', column: 'b', op: '=', value: bool(true) })]);
      const message = await store.distinctKeys(s, ['k', 'd', 'ts', 'b']).then(() => '', (e: unknown) => (e as Error).message);
      expect(message).toContain('d is not a date written YYYY-MM-DD in 2 row(s) of the table');
      expect(message).toContain('ts is outside the declared bounds (from 2024-01-01T00:00Z to 2024-12-31T23:59:59Z) in 2 row(s) of the table');
    });
  });
});

describe('DuckDB and PostgreSQL give every text the same verdict', () => {
  const TEXTS = [
    '2024-01-31', '2024-1-31', '2024-02-29', '2023-02-29', '2024-04-31', '2024-13-01', '2024-00-10', '0000-01-01', '0001-01-01', '9999-12-31',
    ' 2024-01-31 ', '2024-01-31T10:00', '2024-01-31 10:00', '2024-01-31T10:00:00Z', '2024-01-31 10:00:59.999999+14:00', '2024-01-31 23:60',
    '2024-01-31 24:00', '2024-01-31 10:00:60', '2024-01-31 10:00+2', '2024-01-31 10:00+0530', '2024-01-31 10:00-05', '2024-01-31 10:00 +05',
    '2024-01-31 10:00:00.', '2024-01-31 10:00.5', '0001-01-01 00:30+01', '9999-12-31 23:30-01', '2024-01-31t10:00', '2024-01-31 10:00+15:59',
    '2024-01-31 10:00-16:00', '2024-01-31 10:00+24', '2024-01-31 10:00Z', '2024-01-31T10:00:00-0000', '2024-02-29T23:59:59.999999-15:59', '9999-12-31 23:59:59.999999Z',
    '9999-12-31 23:59:59.999999-00:01', '2024-01-31 10:00:00.5 Z', 'true', 'FALSE', ' True ', 't', '1', 'yes', '',
  ];
  const columns: Column[] = [
    { name: 'd', type: 'date', min: '2024-01-31', max: '2024-12-31' },
    { name: 'ts', type: 'timestamp', min: '2024-01-31T10:00+01:00' },
    { name: 'b', type: 'boolean' },
  ];

  it.each(columns.map((c) => [c.type, c] as const))('%s', async (_type, column) => {
    const params: unknown[] = [];
    const rules = postgresRules(column, 'v', (value) => (params.push(value), `$${params.length}`));
    const pg = (await server.sql(`SELECT v, ${rules.map((r, i) => `(${r.bad}) AS r${i}`).join(', ')} FROM unnest($${params.length + 1}::text[]) WITH ORDINALITY u(v, i) ORDER BY i`, [...params, TEXTS])).rows.map((r) => Object.values(r));
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const duckRules = columnRules(column, 'v');
      expect(duckRules.map((r) => [r.rule, r.detail])).toEqual(rules.map((r) => [r.rule, r.detail]));
      const duck = (await conn.runAndReadAll(`SELECT v, ${duckRules.map((r) => `(${r.bad})`).join(', ')} FROM unnest($1::VARCHAR[]) WITH ORDINALITY u(v, i) ORDER BY i`, [listValue(TEXTS)])).getRows();
      expect(duck).toEqual(pg);
      expect(duck.filter(([, ...bad]) => bad.includes(true)).length).toBeGreaterThan(8);
      // Every text the rules take reads as the value the plaintext oracle gives it (in UTC), and only those read.
      const good = TEXTS.filter((v, i) => v !== '' && !duck[i]!.slice(1).includes(true));
      expect(good.length).toBeGreaterThan(2);
      const typed = async (v: string) => {
        const [[x]] = (await conn.runAndReadAll(`SELECT CAST(${typedSql(column, '$1::VARCHAR', 'refused')} AS VARCHAR)`, [v])).getRows() as [[string]];
        return x;
      };
      for (const v of good) expect([v, await typed(v)]).toEqual([v, labelOf(v, column)]);
      for (const v of TEXTS.filter((x) => x !== '' && !good.includes(x))) await expect(typed(v), v).rejects.toThrow(/refused/);
      // The oracle refuses the same texts but those out of bounds (which it leaves to the node).
      const unreadable = TEXTS.filter((v, i) => v !== '' && duckRules.some((r, j) => r.rule !== 'bounds' && duck[i]![j + 1] === true));
      const oracle = (v: string) => {
        try {
          labelOf(v, column);
          return 'read';
        } catch {
          return 'refused';
        }
      };
      for (const v of TEXTS.filter((x) => x !== '')) expect([v, oracle(v)]).toEqual([v, unreadable.includes(v) ? 'refused' : 'read']);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});

describe('the manifest', () => {
  const withColumn = (c: unknown) => {
    const { manifest } = buildCollaboration();
    const [first, ...rest] = manifest.tables;
    return Manifest.safeParse({ ...manifest, tables: [{ ...first!, columns: [...first!.columns, c] }, ...rest] });
  };

  it('refuses a date or timestamp min after its max, comparing instants', () => {
    expect(withColumn({ name: 'd', type: 'date', min: '2024-12-31', max: '2024-01-01' }).error?.message).toMatch(/d: min is after max/);
    // 01:00+02:00 is 23:00 UTC the day before: after 22:30Z.
    expect(withColumn({ name: 'ts', type: 'timestamp', min: '2024-01-01T01:00+02:00', max: '2023-12-31T22:30Z' }).error?.message).toMatch(/ts: min is after max/);
    expect(withColumn({ name: 'ts', type: 'timestamp', min: '2024-01-01T01:00+02:00', max: '2023-12-31T23:30Z' }).success).toBe(true);
  });

  it('says the bounds of a date or timestamp column to the privacy officer', () => {
    const t = table([...COLUMNS, { name: 'since', type: 'timestamp', max: '2025-01-01T00:00Z', required: true }]);
    expect(t.columns.map((c) => describeColumn(t, c).detail)).toEqual(['join key', 'from 2024-01-01 to 2024-12-31', 'from 2024-01-01T00:00Z to 2024-12-31T23:59:59Z; UTC', '', 'up to 2025-01-01T00:00Z; UTC; required (no NULL)']);
  });

  it('refuses a day that does not exist in bounds, and bounds not written ISO', () => {
    for (const bad of ['2024-02-30', '2023-02-29', '2024-1-1', '2024-01-01T00:00']) expect(Column.safeParse({ name: 'd', type: 'date', min: bad }).success, bad).toBe(false);
    for (const bad of ['2024-02-30T00:00', '2024-01-01 24:00', '2024-01-01', '2024-01-01T10:00:60']) expect(Column.safeParse({ name: 'ts', type: 'timestamp', max: bad }).success, bad).toBe(false);
    expect(Column.safeParse({ name: 'd', type: 'date', min: '2024-02-29', max: '2024-12-31', required: true }).success).toBe(true);
    expect(Column.safeParse({ name: 'b', type: 'boolean', min: 'false' }).success).toBe(false);
  });
});
