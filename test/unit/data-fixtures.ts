import type { Dimension } from '../../src/query/ast.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyHasher } from '../../src/data/hash-cache.js';
import type { FileSource } from '../../src/data/table-source.js';
import { TableStore } from '../../src/data/table-store.js';
import type { Table } from '../../src/manifest/schema.js';
import type { TableSide } from '../../src/query/plan.js';

/** A temporary directory for one test file's tables and caches; `remove` in afterAll. */
export function scratchDir(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    /** A new file with these bytes, under a fresh name unless one is given. */
    file(content: string | Buffer, name = `t${n++}.csv`): string {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    cacheDir: () => join(dir, `cache-${n++}`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The table of these tests: a key, a decimal and an integer with bounds, and a free-text dimension. */
export const table = (over: Partial<Table> = {}): Table => ({
  name: 't',
  owner: 'm',
  columns: [
    { name: 'k', type: 'string' },
    { name: 'amount', type: 'decimal', scale: 2, min: -1000, max: 1000 },
    { name: 'n', type: 'integer', min: 0, max: 100 },
    { name: 'cat', type: 'string' },
  ],
  joinKey: { column: 'k', normalization: 'email' },
  rules: { aggregations: [{ column: 'amount', functions: ['sum', 'avg'] }], dimensions: ['cat', 'n'], minDistinctKeys: 1, overlapDisclosure: [] },
  ...over,
});

export const side = (t: Table = table(), filters: TableSide['filters'] = []): TableSide => ({ table: t, filters });

export async function openStore(path: string, cacheDir: string, source: Partial<FileSource> = {}, t: Table = table()): Promise<TableStore> {
  return TableStore.open({ [t.name]: { path, format: 'csv', ...source } }, cacheDir);
}

/** A stand-in for H: SHA-256 of the key, remembered so that a test can read the hashed stream back as keys. */
export function recordingHasher(): KeyHasher & { readonly seen: Map<string, string> } {
  const seen = new Map<string, string>();
  return {
    seen,
    dst: new Uint8Array([1]),
    parallelism: 2,
    async hash(keys) {
      return Buffer.concat(
        keys.map((k) => {
          const h = createHash('sha256').update(k).digest();
          seen.set(h.toString('hex'), k);
          return h;
        }),
      );
    },
  };
}

/** The keys behind the hashed stream, in stream order (which aggregateMatched's indices refer to). */
export async function streamedKeys(store: TableStore, s: TableSide, hasher = recordingHasher()): Promise<string[]> {
  const all: string[] = [];
  for await (const batch of store.hashedKeys(s, hasher, 1000)) {
    for (let off = 0; off < batch.length; off += 32) all.push(hasher.seen.get(Buffer.from(batch.subarray(off, off + 32)).toString('hex'))!);
  }
  return all;
}

/** `rows` CSV lines of `k,amount,n,cat`, key i as `u<i>@x.com`, amount i cents (mod 1000.00), n and cat cycling. */
export function csvRows(rows: number, at: (i: number) => string | undefined = () => undefined): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(at(i) ?? `u${i}@x.com,${((i % 100000) / 100).toFixed(2)},${i % 7},${i % 2 === 0 ? 'a' : 'b'}`);
  return lines.join('\n');
}

/** GROUP BY of plain columns, as the planner hands them to a TableStore. */
export function dims(...columns: string[]): Dimension[] {
  return columns.map((column) => ({ kind: 'column', column: { table: table().name, column } }));
}

/** A Parquet file in `dir` holding what DuckDB's `select` returns, typed as DuckDB types it. */
export async function parquetOf(dir: string, select: string): Promise<string> {
  const path = join(dir, `${randomBytes(8).toString('hex')}.parquet`);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`COPY (${select}) TO '${path}' (FORMAT parquet)`);
  conn.closeSync();
  db.closeSync();
  return path;
}
