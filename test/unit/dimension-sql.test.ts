/**
 * GROUP BY dimensions as an owner's DuckDB computes them (src/data/dimension-sql.ts through TableStore.aggregateAll):
 * each label against the one worked out by hand from SPEC §5's definitions, in UTC whatever the machine's zone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TableStore } from '../../src/data/table-store.js';
import type { Table } from '../../src/manifest/schema.js';
import type { Dimension } from '../../src/query/ast.js';
import { parseQuery } from '../../src/query/parse.js';
import type { TableSide } from '../../src/query/plan.js';

const dir = mkdtempSync(join(tmpdir(), 'cleanroom-dims-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TABLE: Table = {
  name: 'shop',
  owner: 'shop',
  columns: [
    { name: 'email', type: 'string' },
    { name: 'day', type: 'date' },
    { name: 'seen', type: 'timestamp' },
    { name: 'member', type: 'boolean' },
    { name: 'amount', type: 'decimal', scale: 2, min: -1000, max: 1000 },
  ],
  joinKey: { column: 'email', normalization: 'email' },
  rules: { aggregations: [], dimensions: ['day', 'seen', 'member', 'amount'], minDistinctKeys: 1, overlapDisclosure: [] },
};

// Wednesday 2025-01-01 is in the ISO week of Monday 2024-12-30; 23:30 at -01:00 is 00:30 UTC the next day.
const CSV = `email,day,seen,member,amount
a@x,2025-01-01,2024-12-31T23:30:00-01:00,true,10.00
b@x,2024-12-29,2024-12-29 08:00:00Z,FALSE,-5.00
c@x,2024-12-30,2025-03-31 23:59:59.5,false,
d@x,,,,150.00
`;

async function labels(sql: string): Promise<unknown[][]> {
  const q = await parseQuery(`SELECT ${sql}, COUNT(*) FROM shop s JOIN other o ON s.email = o.email GROUP BY ${sql}`);
  const store = await TableStore.open({ shop: { path: join(dir, 'shop.csv'), format: 'csv' } }, join(dir, `cache-${Math.random()}`));
  try {
    const side: TableSide = { table: TABLE, filters: [] };
    const groups = await store.aggregateAll(side, q.groupBy as Dimension[], []);
    return groups.map((g) => [...g.labels, Number(g.values[0])]);
  } finally {
    store.close();
  }
}

writeFileSync(join(dir, 'shop.csv'), CSV);

describe('dimensions in DuckDB', () => {
  it('date_trunc of a date: ISO weeks from Monday, months, quarters, years, as YYYY-MM-DD; NULL last', async () => {
    expect(await labels("date_trunc('week', s.day)")).toStrictEqual([['2024-12-23', 1], ['2024-12-30', 2], [null, 1]]);
    expect(await labels("date_trunc('month', s.day)")).toStrictEqual([['2024-12-01', 2], ['2025-01-01', 1], [null, 1]]);
    expect(await labels("date_trunc('quarter', s.day)")).toStrictEqual([['2024-10-01', 2], ['2025-01-01', 1], [null, 1]]);
    expect(await labels("date_trunc('year', s.day)")).toStrictEqual([['2024-01-01', 2], ['2025-01-01', 1], [null, 1]]);
  });

  it('date_trunc and extract of a timestamp read it in UTC, the offset applied when the file was read', async () => {
    expect(await labels("date_trunc('day', s.seen)")).toStrictEqual([['2024-12-29', 1], ['2025-01-01', 1], ['2025-03-31', 1], [null, 1]]);
    expect(await labels('extract(hour FROM s.seen)')).toStrictEqual([[0, 1], [8, 1], [23, 1], [null, 1]]);
    expect(await labels('extract(quarter FROM s.seen)')).toStrictEqual([[1, 2], [4, 1], [null, 1]]);
  });

  it('extract dow counts from Sunday = 0; year and month as integers', async () => {
    // 2024-12-29 Sunday, 2024-12-30 Monday, 2025-01-01 Wednesday.
    expect(await labels('extract(dow FROM s.day)')).toStrictEqual([[0, 1], [1, 1], [3, 1], [null, 1]]);
    expect(await labels('extract(year FROM s.day), extract(month FROM s.day)')).toStrictEqual([[2024, 12, 2], [2025, 1, 1], [null, null, 1]]);
  });

  it('a boolean and a timestamp column label as text; a CASE labels the first true branch, NULL without ELSE', async () => {
    expect(await labels('s.member')).toStrictEqual([['false', 2], ['true', 1], [null, 1]]);
    expect(await labels('s.seen')).toStrictEqual([['2024-12-29 08:00:00', 1], ['2025-01-01 00:30:00', 1], ['2025-03-31 23:59:59.5', 1], [null, 1]]);
    expect(await labels("CASE WHEN s.amount >= 100 THEN 'large' WHEN s.amount >= 0 THEN 'small' END")).toStrictEqual([['large', 1], ['small', 1], [null, 2]]);
    expect(await labels("CASE WHEN s.day < DATE '2025-01-01' OR s.member THEN 'early or member' ELSE 'other' END")).toStrictEqual([['early or member', 3], ['other', 1]]);
    expect(await labels("CASE WHEN NOT s.member THEN 'not a member' END")).toStrictEqual([['not a member', 2], [null, 2]]);
    expect(await labels("CASE WHEN s.day < DATE '2025-01-01' OR s.member = true THEN 'early or member' ELSE 'other' END")).toStrictEqual([['early or member', 3], ['other', 1]]);
    expect(await labels("CASE WHEN s.seen >= TIMESTAMP '2025-01-01 00:30' THEN 'new' ELSE 'old' END")).toStrictEqual([['new', 2], ['old', 2]]);
  });
});
