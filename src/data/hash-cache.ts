import type { DuckDBConnection } from '@duckdb/node-api';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanroomError } from '../errors.js';
import type { Table } from '../manifest/schema.js';

/** Hashes batches of normalised keys to the group (on the worker pool), with the collaboration's DST. */
export interface KeyHasher {
  readonly dst: Uint8Array;
  /** Batches hashed at the same time while the cache is built: one per worker keeps every core busy. */
  readonly parallelism: number;
  hash(keys: readonly string[]): Promise<Uint8Array>;
}

/** Bump when the cache's contents change meaning, so that old caches are rebuilt rather than misread. */
const CACHE_FORMAT = 'cleanroom-h2g-cache/1';

/**
 * H(k) depends only on the normalised key and the collaboration, not on the query: each table's hashes are kept
 * on the node's disk, next to the data they come from, and reused by every query until the table file changes.
 * The file is named after a fingerprint of the table's bytes (the digest its check took), its join key and the
 * DST, so a changed table or manifest simply finds no cache. Per-query secrets stay fresh: only the unblinded
 * hashes are cached.
 */
export class HashCache {
  /** One build per table at a time: concurrent queries on a table (one PSI per holder) wait for the first. */
  private readonly building = new Map<string, Promise<string>>();

  constructor(private readonly dir: string) {}

  /** The cache file of the table version whose bytes have SHA-256 `digest`, built first if there is none. */
  async ensure(conn: DuckDBConnection, table: Table, digest: string, hasher: KeyHasher, keys: () => AsyncGenerator<string[]>): Promise<string> {
    const running = this.building.get(table.name);
    if (running) await running.catch(() => {});
    const build = this.build(conn, table, digest, hasher, keys);
    this.building.set(table.name, build);
    try {
      return await build;
    } finally {
      if (this.building.get(table.name) === build) this.building.delete(table.name);
    }
  }

  private async build(conn: DuckDBConnection, table: Table, digest: string, hasher: KeyHasher, keys: () => AsyncGenerator<string[]>): Promise<string> {
    const file = join(this.dir, `${table.name}-${fingerprint(table, digest, hasher.dst)}.parquet`);
    if (await exists(file)) return file;
    // The cache holds normalised keys: as confidential as the table itself, so owner-only, whoever made the directory.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const temp = `hash_cache_${table.name}`;
    try {
      await conn.run(`CREATE OR REPLACE TEMP TABLE "${temp}" (nk VARCHAR, h BLOB)`);
      const appender = await conn.createAppender(temp);
      const inflight: Promise<void>[] = [];
      let chain = Promise.resolve();
      for await (const batch of keys()) {
        const hashed = hasher.hash(batch);
        hashed.catch(() => {});
        chain = chain.then(async () => {
          const h = await hashed;
          batch.forEach((k, i) => {
            appender.appendVarchar(k);
            appender.appendBlob(h.subarray(i * 32, i * 32 + 32));
            appender.endRow();
          });
        });
        inflight.push(chain);
        if (inflight.length > hasher.parallelism) await inflight.shift();
      }
      await chain;
      appender.closeSync();
      // Written under a temporary name and renamed: a crash never leaves a truncated cache behind.
      const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
      await conn.run(`COPY "${temp}" TO '${partial.replaceAll("'", "''")}' (FORMAT parquet)`);
      await chmod(partial, 0o600);
      await rename(partial, file);
    } catch (err) {
      // The system's code (ENOSPC, EACCES) says what to fix; DuckDB's message could quote a key, so it stays the cause.
      const code = (err as { code?: unknown }).code;
      throw err instanceof CleanroomError ? err : new CleanroomError('DATA_INVALID', `cannot build the hash cache of ${table.name} in ${this.dir}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
    } finally {
      await conn.run(`DROP TABLE IF EXISTS "${temp}"`).catch(() => {});
    }
    await this.removeStale(table, file);
    return file;
  }

  private async removeStale(table: Table, keep: string): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(`${table.name}-`) && name.endsWith('.parquet') && join(this.dir, name) !== keep) await rm(join(this.dir, name), { force: true });
    }
  }
}

function fingerprint(table: Table, digest: string, dst: Uint8Array): string {
  const h = createHash('sha256');
  h.update(`${CACHE_FORMAT}\0${table.name}\0${table.joinKey.column}\0${table.joinKey.normalization}\0${digest}\0`);
  h.update(dst);
  return h.digest('hex').slice(0, 32);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
