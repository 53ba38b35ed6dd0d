import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataInvalid } from '../../src/data/data-problem.js';
import { TableStore, usedColumns } from '../../src/data/table-store.js';
import { dims, csvRows, openStore, scratchDir, side, streamedKeys, table, parquetOf } from './data-fixtures.js';

const scratch = scratchDir('cleanroom-check-');
afterAll(() => scratch.remove());

const HEADER = 'k,amount,n,cat\n';
const catIs = (value: string) => [{ kind: 'compare' as const, column: { table: 't', column: 'cat' }, op: '=' as const, value: { type: 'string' as const, value } }];

describe('only the columns a query reads decide whether it runs', () => {
  const text = HEADER + 'a@x.com,1.50,1,a\nb@x.com,2.00,999,a\nc@x.com,3.00,2,b\n';

  it('a bad value in n refuses queries that read n, and no other', async () => {
    const store = await openStore(scratch.file(text), scratch.cacheDir());
    try {
      await expect(store.prepare(table())).rejects.toThrow(/line 3: n "999" is outside the declared bounds \[0, 100\]/);
      await expect(store.prepare(table(), ['k', 'n'])).rejects.toBeInstanceOf(DataInvalid);
      await store.prepare(table(), usedColumns(side(table(), catIs('a')), dims('cat'), ['amount']));
      const s = side(table(), catIs('a'));
      const keys = await streamedKeys(store, s);
      expect([...keys].sort()).toEqual(['a@x.com', 'b@x.com']);
      expect(await store.aggregateMatched(s, dims('cat'), ['amount'], [0, 1])).toEqual([{ labels: ['a'], values: [2n, 2n, 350n, 2n] }]);
      await expect(store.aggregateAll(side(), dims('n'), [])).rejects.toThrow(/line 3: n "999"/);
    } finally {
      store.close();
    }
  });

  it('check reports every problem of every column at once, with the rows it read', async () => {
    const store = await openStore(scratch.file(HEADER + 'a@x.com,1.5x,1,a\nb@x.com,2.00,999,a\n'), scratch.cacheDir());
    try {
      const [report] = await store.check([table()]);
      expect(report!.rows).toBe(2n);
      expect(report!.problems.total).toBe(2);
      expect(report!.problems.problems).toEqual([
        expect.objectContaining({ line: 2, column: 'amount', rule: 'decimal', value: '1.5x' }),
        expect.objectContaining({ line: 3, column: 'n', rule: 'bounds', value: '999' }),
      ]);
    } finally {
      store.close();
    }
  });

  it('a missing column refuses only the queries that need it', async () => {
    const store = await openStore(scratch.file('k,amount,cat\na@x.com,1.00,a\n'), scratch.cacheDir());
    try {
      await expect(store.prepare(table(), ['k', 'n'])).rejects.toThrow(/line 1: n is not named in the header/);
      expect(await store.aggregateAll(side(), dims('cat'), ['amount'])).toEqual([{ labels: ['a'], values: [1n, 1n, 100n, 1n] }]);
    } finally {
      store.close();
    }
  });

  it('a column named twice in the header is ambiguous, and refused for the queries that need it', async () => {
    const store = await openStore(scratch.file('k,amount,n,cat,amount\na@x.com,1.00,1,a,2.00\n'), scratch.cacheDir());
    try {
      await expect(store.aggregateAll(side(), dims('cat'), ['amount'])).rejects.toThrow(/line 1: amount is named more than once in the header/);
      expect(await streamedKeys(store, side())).toEqual(['a@x.com']);
    } finally {
      store.close();
    }
  });
});

describe('a file version is checked once, and again when it changes', () => {
  it('a query fails only for what changed since, and runs again once the file is fixed', async () => {
    const path = scratch.file(HEADER + 'a@x.com,1.50,1,a\n');
    const store = await openStore(path, scratch.cacheDir());
    try {
      expect(await store.aggregateAll(side(), dims('cat'), ['amount'])).toEqual([{ labels: ['a'], values: [1n, 1n, 150n, 1n] }]);
      writeFileSync(path, HEADER + 'a@x.com,1.50,1,a\nb@x.com,1.505,1,a\n');
      await expect(store.aggregateAll(side(), dims('cat'), ['amount'])).rejects.toThrow(/line 3: amount "1\.505" has more than 2 decimals/);
      writeFileSync(path, HEADER + 'a@x.com,1.50,1,a\nb@x.com,1.55,1,a\n');
      expect(await store.aggregateAll(side(), dims('cat'), ['amount'])).toEqual([{ labels: ['a'], values: [2n, 2n, 305n, 2n] }]);
    } finally {
      store.close();
    }
  });

  it('a rewrite of the same size with the old modification time is still seen', async () => {
    const path = scratch.file(HEADER + 'a@x.com,1.50,1,a\n');
    const store = await openStore(path, scratch.cacheDir());
    try {
      await store.prepare(table());
      const { atime, mtime } = statSync(path);
      writeFileSync(path, HEADER + 'a@x.com,1.5x,1,a\n');
      utimesSync(path, atime, mtime);
      await expect(store.prepare(table())).rejects.toThrow(/line 2: amount "1\.5x" is not a decimal number/);
    } finally {
      store.close();
    }
  });

  it('a file that cannot be opened is named, with the reason', async () => {
    const store = await openStore(join(scratch.dir, 'absent.csv'), scratch.cacheDir());
    try {
      await expect(store.prepare(table())).rejects.toMatchObject({ code: 'DATA_INVALID', message: expect.stringMatching(/absent\.csv: cannot be opened as a file \(ENOENT\)/) });
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([expect.objectContaining({ rule: 'unreadable' })]);
    } finally {
      store.close();
    }
  });
});

describe('Parquet: the schema is checked against the manifest, values by row', () => {
  const parquet = (select: string) => parquetOf(scratch.dir, select);
  const parquetStore = async (path: string) => TableStore.open({ t: { path, format: 'parquet' } }, scratch.cacheDir());

  it('reads typed columns, extra columns ignored', async () => {
    const store = await parquetStore(await parquet(`SELECT 'a@x.com' AS k, 1.5::DECIMAL(10,4) AS amount, 3::INTEGER AS n, 'a' AS cat, true AS extra UNION ALL SELECT 'b@x.com', 2.25, NULL, 'a', false`));
    try {
      expect(await store.aggregateAll(side(), dims('cat'), ['amount'])).toEqual([{ labels: ['a'], values: [2n, 2n, 375n, 2n] }]);
    } finally {
      store.close();
    }
  });

  it('a missing column and a type that cannot hold the declared one', async () => {
    const store = await parquetStore(await parquet(`SELECT 'a@x.com' AS k, true AS amount, 'a' AS cat`));
    try {
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([
        expect.objectContaining({ column: 'amount', rule: 'column-type', detail: 'is stored as BOOLEAN, which cannot hold a decimal column' }),
        expect.objectContaining({ column: 'n', rule: 'missing-column' }),
      ]);
      await expect(store.prepare(table(), ['k', 'amount'])).rejects.toThrow(/amount is stored as BOOLEAN/);
      expect(await streamedKeys(store, side())).toEqual(['a@x.com']);
    } finally {
      store.close();
    }
  });

  it('bad values are named by row', async () => {
    const store = await parquetStore(await parquet(`SELECT 'u' || i || '@x.com' AS k, CASE WHEN i = 1500 THEN 1.125 ELSE 1 END::DECIMAL(10,3) AS amount, i % 100 AS n, 'a' AS cat FROM range(3000) r(i)`));
    try {
      await expect(store.prepare(table())).rejects.toThrow(/\.parquet row 1501: amount "1\.125" has more than 2 decimals/);
    } finally {
      store.close();
    }
  });
});

describe('the hash cache', () => {
  it('is owner-only, however the directory was made', async () => {
    const cacheDir = join(scratch.dir, 'shared-cache');
    mkdirSync(cacheDir, { mode: 0o755 });
    const store = await openStore(scratch.file(HEADER + csvRows(10)), cacheDir);
    try {
      await streamedKeys(store, side());
      expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
      // DuckDB's spill directory and one directory per DST, each owner-only.
      expect(statSync(join(cacheDir, 'spill')).mode & 0o777).toBe(0o700);
      const [dst, ...others] = readdirSync(cacheDir).filter((f) => f !== 'spill');
      expect(others).toEqual([]);
      expect(statSync(join(cacheDir, dst!)).mode & 0o777).toBe(0o700);
      const files = readdirSync(join(cacheDir, dst!));
      expect(files).toHaveLength(1);
      expect(statSync(join(cacheDir, dst!, files[0]!)).mode & 0o777).toBe(0o600);
    } finally {
      store.close();
    }
  });
});

describe('a table file swapped for a link after start', () => {
  it('is refused, not followed: the link could lead out of the data directories', async () => {
    const outside = scratch.file(HEADER + 'secret@x.com,9.99,1,a\n');
    const path = scratch.file(HEADER + 'a@x.com,1.50,1,a\n');
    const store = await openStore(path, scratch.cacheDir());
    try {
      await store.prepare(table(), ['k']);
      expect(await streamedKeys(store, side())).toEqual(['a@x.com']);
      rmSync(path);
      symlinkSync(outside, path);
      await expect(store.prepare(table(), ['k'])).rejects.toThrow(DataInvalid);
      const [report] = await store.check([table()]);
      expect(report!.problems.problems).toEqual([expect.objectContaining({ rule: 'unreadable' })]);
    } finally {
      store.close();
    }
  });
});
