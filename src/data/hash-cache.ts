import type { DuckDBConnection } from '@duckdb/node-api';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanroomError } from '../errors.js';
import { MAX_HASH_CACHE_SEGMENTS } from '../limits.js';
import { quoteLiteral } from './sql-text.js';

/** Hashes batches of normalised keys to the group (on the worker pool), with the collaboration's DST. */
export interface KeyHasher {
  readonly dst: Uint8Array;
  /** Batches hashed at the same time while the cache is filled: one per worker keeps every core busy. */
  readonly parallelism: number;
  hash(keys: readonly string[]): Promise<Uint8Array>;
}

/** Bump when the cache's contents change meaning, so that old caches are rebuilt rather than misread. */
const CACHE_FORMAT = 'cleanroom-h2g-cache/3';

/**
 * A hash is kept as four UBIGINT columns (its 32 bytes as four little-endian words), not a BLOB: a query reads every
 * hash of its key set, and a fixed-width column is read from DuckDB's vectors in JavaScript without a native call and
 * an allocation per row, which a BLOB longer than 12 bytes costs (about 3.5 µs a key, 5% of a PSI run).
 */
export const HASH_WORDS = ['h0', 'h1', 'h2', 'h3'] as const;
const WORD_BYTES = 8;
/** The size of a hash the cache keeps: the group's point size (a hasher's output of another size is refused). */
export const HASH_BYTES = HASH_WORDS.length * WORD_BYTES;

/** The cache's relation for one query's join, held until the query has read it. */
export interface CacheLease {
  /** DuckDB SQL reading (nk, h0, h1, h2, h3) for every key the lookup asked for (and others). */
  readonly relation: string;
  release(): void;
}

/**
 * H(k) depends only on the normalised key and the collaboration's DST, not on the query or the table: the node keeps
 * each hash it computed, addressed by its key, in Parquet files of a directory per DST, and a query hashes only the
 * keys no earlier query did. A changed table, a file or a database table alike, needs no invalidation rule: its
 * unchanged keys are found, its new ones hashed. Per-query secrets stay fresh: only unblinded hashes are kept.
 * The files hold normalised keys, as confidential as the tables: owner-only, whoever made the directory.
 */
export class HashCache {
  /** Per DST directory: its files, the queries reading them, and the fill in progress. */
  private readonly dsts = new Map<string, Promise<DstCache>>();

  constructor(private readonly dir: string) {}

  /**
   * Makes sure every key of the DuckDB table `keys` (column nk, readable on `reader`) has its hash in the cache,
   * hashing those missing: `reader` streams the missing keys while `writer` writes their hashes. When nothing is
   * missing (the common case) no lock is taken: queries at once only wait for each other to add keys.
   */
  async lookup(reader: DuckDBConnection, writer: DuckDBConnection, keys: string, hasher: KeyHasher, background?: BackgroundFill): Promise<CacheLease> {
    const dir = join(this.dir, `h2g-${fingerprint(hasher.dst)}`);
    try {
      return await this.tryLookup(dir, reader, writer, keys, hasher, background).catch(async (err: unknown) => {
        // The cache may be deleted at any time (to free space): its files gone, it starts over from what is on disk.
        if (!(await this.vanished(dir))) throw err;
        this.dsts.delete(dir);
        return this.tryLookup(dir, reader, writer, keys, hasher, background);
      });
    } catch (err) {
      // The system's code (ENOSPC, EACCES) says what to fix; DuckDB's message could quote a key, so it stays the cause.
      const code = (err as { code?: unknown }).code;
      throw err instanceof CleanroomError ? err : new CleanroomError('DATA_INVALID', `cannot fill the hash cache in ${dir}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err });
    }
  }

  private async tryLookup(dir: string, reader: DuckDBConnection, writer: DuckDBConnection, keys: string, hasher: KeyHasher, background?: BackgroundFill): Promise<CacheLease> {
    const cache = await this.open(dir);
    // No query starts reading during a merge; once counted (in the same turn as the last check), a merge, which
    // deletes files, waits for this one.
    for (let m = cache.merging; ; m = cache.merging) {
      await m;
      if (m === cache.merging) break;
    }
    cache.readers += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      cache.readers -= 1;
    };
    try {
      if (background) {
        // Fills that a query started meanwhile interrupt this one; it goes on after them with what is still missing.
        while ((await this.chainFill(cache, () => this.fill(cache, reader, writer, keys, hasher, background))) && !background.stopped());
      } else if (cache.files.length === 0 || (await missingCount(reader, keys, cache.files)) > 0n) {
        cache.waiting += 1;
        await this.chainFill(cache, () => {
          cache.waiting -= 1;
          return this.fill(cache, reader, writer, keys, hasher);
        });
      }
    } catch (err) {
      release();
      throw err;
    }
    const files = cache.files;
    const empty = `(SELECT NULL::VARCHAR AS nk, ${HASH_WORDS.map((w) => `NULL::UBIGINT AS ${w}`).join(', ')} WHERE false)`;
    return { relation: files.length > 0 ? parquet(files) : empty, release };
  }

  /** Runs `fill` once the fill in progress (if any) has ended, so that no key is ever added twice; resolves with its result. */
  private chainFill<T>(cache: DstCache, fill: () => Promise<T>): Promise<T> {
    const next = cache.filling.catch(() => {}).then(fill);
    cache.filling = next.then(() => {});
    return next;
  }

  /** Whether files this process counts on were removed from under it. */
  private async vanished(dir: string): Promise<boolean> {
    const cache = await this.dsts.get(dir)?.catch(() => undefined);
    if (!cache) return false;
    const present = await Promise.all([dir, ...cache.files].map((f) => stat(f).then(() => true, () => false)));
    return present.includes(false);
  }

  /** The directory's state, its files listed once per process (this process is the only writer). */
  private async open(dir: string): Promise<DstCache> {
    let opening = this.dsts.get(dir);
    if (!opening) {
      opening = (async (): Promise<DstCache> => {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(this.dir, 0o700);
        await chmod(dir, 0o700);
        const files = (await readdir(dir)).filter((n) => n.endsWith('.parquet')).map((n) => join(dir, n));
        return { dir, files, readers: 0, waiting: 0, filling: Promise.resolve(), merging: Promise.resolve() };
      })();
      this.dsts.set(dir, opening);
      opening.catch(() => this.dsts.delete(dir));
    }
    return opening;
  }

  /**
   * Adds the still missing keys' hashes as one new file; merges the files once there are many and no one else reads
   * them. A background fill stops between two batches once a query waits to fill, keeping what it hashed: resolves
   * with whether it stopped so.
   */
  private async fill(cache: DstCache, reader: DuckDBConnection, writer: DuckDBConnection, keys: string, hasher: KeyHasher, background?: BackgroundFill): Promise<boolean> {
    const missing = cache.files.length > 0 ? `SELECT k.nk FROM ${keys} k ANTI JOIN ${parquet(cache.files)} c ON k.nk = c.nk` : `SELECT nk FROM ${keys}`;
    let interrupted = false;
    const stop = background && (() => (interrupted = cache.waiting > 0) || background.stopped());
    if (background) {
      const [[n]] = (await reader.runAndReadAll(`SELECT count(*) FROM (${missing})`)).getRows() as [[bigint]];
      background.onMissing(Number(n));
    }
    const added = await this.hashInto(reader, writer, cache.dir, missing, hasher, stop, background?.onHashed);
    if (added) cache.files = [...cache.files, added];
    // This query is one reader: merging waits until it is the only one, and no other starts until it is done.
    if (cache.files.length > MAX_HASH_CACHE_SEGMENTS && cache.readers === 1) {
      let done!: () => void;
      cache.merging = new Promise((r) => (done = r));
      try {
        const old = cache.files;
        // Every copy of a key holds the same hash (one DST per directory), so any value of each word is the key's.
        const merged = await write(writer, cache.dir, `SELECT nk, ${HASH_WORDS.map((w) => `any_value(${w}) AS ${w}`).join(', ')} FROM ${parquet(old)} GROUP BY nk`);
        cache.files = [merged];
        await Promise.all(old.map((f) => rm(f, { force: true })));
      } finally {
        done();
      }
    }
    return interrupted;
  }

  /**
   * Hashes what `missing` selects, batches in parallel on the pool, into a new file; undefined when nothing is missing.
   * `stop`, asked before each batch, ends it early with what was hashed.
   */
  private async hashInto(
    reader: DuckDBConnection,
    writer: DuckDBConnection,
    dir: string,
    missing: string,
    hasher: KeyHasher,
    stop?: () => boolean,
    onHashed?: (keys: number) => void,
  ): Promise<string | undefined> {
    const temp = `hash_cache_${randomBytes(8).toString('hex')}`;
    try {
      await writer.run(`CREATE TEMP TABLE "${temp}" (nk VARCHAR, ${HASH_WORDS.map((w) => `${w} UBIGINT`).join(', ')})`);
      const appender = await writer.createAppender(temp);
      const inflight: Promise<void>[] = [];
      let chain = Promise.resolve();
      let any = false;
      try {
        const result = await reader.stream(missing);
        for (;;) {
          if (stop?.()) break;
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          any = true;
          const batch = chunk.getColumnValues(0) as string[];
          const hashed = hasher.hash(batch);
          hashed.catch(() => {});
          chain = chain.then(async () => {
            const h = await hashed;
            if (h.length !== batch.length * HASH_BYTES) throw new CleanroomError('INTERNAL', `the hash cache keeps ${HASH_BYTES}-byte hashes; the hasher returned ${h.length} bytes for ${batch.length} keys`);
            const words = new DataView(h.buffer, h.byteOffset, h.byteLength);
            batch.forEach((k, i) => {
              appender.appendVarchar(k);
              for (let w = 0; w < HASH_WORDS.length; w++) appender.appendUBigInt(words.getBigUint64((i * HASH_WORDS.length + w) * WORD_BYTES, true));
              appender.endRow();
            });
            onHashed?.(batch.length);
          });
          inflight.push(chain);
          if (inflight.length > hasher.parallelism) await inflight.shift();
        }
        await chain;
      } finally {
        appender.closeSync();
      }
      return any ? await write(writer, dir, `SELECT * FROM "${temp}"`) : undefined;
    } finally {
      await writer.run(`DROP TABLE IF EXISTS "${temp}"`).catch(() => {});
    }
  }
}

/**
 * Written under a temporary name and renamed: a crash never leaves a truncated file behind. The directory is made
 * again if the cache was deleted while the hashes were computed: they stay, and no query computes them twice (a cold
 * 1M-key query hashed its keys twice when its cache was deleted under a fill).
 */
async function write(conn: DuckDBConnection, dir: string, select: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${randomBytes(12).toString('hex')}.parquet`);
  const partial = `${file}.partial`;
  await conn.run(`COPY (${select}) TO ${quoteLiteral(partial)} (FORMAT parquet)`);
  await chmod(partial, 0o600);
  await rename(partial, file);
  return file;
}

/** The background hashing's part of a lookup (src/node/cache-warmer.ts): it yields to queries, and says how far it is. */
export interface BackgroundFill {
  /** Called as each fill starts, with the number of keys it is to hash (a fill a query interrupted leaves some). */
  readonly onMissing: (keys: number) => void;
  /** Called as each batch of newly hashed keys is added. */
  readonly onHashed: (keys: number) => void;
  /** True once the node stops: the fill ends between two batches, keeping what it hashed. */
  readonly stopped: () => boolean;
}

interface DstCache {
  readonly dir: string;
  files: readonly string[];
  readers: number;
  /** Queries waiting to fill: a background fill in progress stops for them. */
  waiting: number;
  /** Pending while the files are merged into one. */
  merging: Promise<void>;
  /** The last fill: the next one waits for it, so that no key is ever added twice (a join would return it twice). */
  filling: Promise<void>;
}

async function missingCount(reader: DuckDBConnection, keys: string, files: readonly string[]): Promise<bigint> {
  const [[n]] = (await reader.runAndReadAll(`SELECT count(*) FROM ${keys} k ANTI JOIN ${parquet(files)} c ON k.nk = c.nk`)).getRows() as [[bigint]];
  return BigInt(n);
}

function parquet(files: readonly string[]): string {
  return `read_parquet([${files.map(quoteLiteral).join(', ')}])`;
}

function fingerprint(dst: Uint8Array): string {
  return createHash('sha256').update(`${CACHE_FORMAT}\0`).update(dst).digest('hex').slice(0, 32);
}
