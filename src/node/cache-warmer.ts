import { stat } from 'node:fs/promises';
import { hashToGroupDst } from '../crypto/group.js';
import type { CryptoPool } from '../crypto/pool.js';
import type { KeyHasher } from '../data/hash-cache.js';
import type { TableSource } from '../data/table-source.js';
import type { TableStore } from '../data/table-store.js';
import { errorMessage } from '../errors.js';
import { HASH_CACHE_CHECK_MS } from '../limits.js';
import { joinKeysOf, type Table } from '../manifest/schema.js';
import type { WarmState } from '../control/control-event.js';

export interface WarmerDeps {
  readonly store: TableStore;
  readonly pool: CryptoPool;
  readonly collaborationId: string;
  /** This node's own tables and where each is read from. */
  readonly tables: readonly Table[];
  readonly sources: Readonly<Record<string, TableSource>>;
  /** How often a PostgreSQL table is hashed again (a file is looked at every HASH_CACHE_CHECK_MS). */
  readonly databaseRefreshMs: number;
  readonly log: (line: string) => void;
}

/**
 * No cold first query (SPEC §3, the node-local cache): from its start, a node hashes the keys of every join key of
 * its own tables into the hash cache in the background, and again when a table changes (a file's size or time of
 * change, or every `databaseRefreshMs` for a table in PostgreSQL). It uses one worker of the pool at a time, one
 * batch after another, so that a query's multiplications share the pool; a query that must hash keys of its own
 * meanwhile stops the pass between two batches (src/data/hash-cache.ts), keeps what it hashed, hashes what is still
 * missing of its own keys, and the pass goes on after it. Failures are logged and retried at the next check: the
 * cache only ever saves work.
 */
export class CacheWarmer {
  private readonly states = new Map<string, WarmState>();
  private readonly seen = new Map<string, string>();
  private readonly lastDatabaseWarm = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly d: WarmerDeps) {
    for (const t of d.tables) for (const k of joinKeysOf(t)) this.states.set(id(t.name, k.column), { table: t.name, key: k.column, state: 'waiting', done: 0 });
  }

  /** Every own table's join keys, as far as they are hashed. */
  get status(): WarmState[] {
    return [...this.states.values()];
  }

  /** Starts the first pass now and checks for changed tables every HASH_CACHE_CHECK_MS. */
  start(): void {
    this.running = this.pass();
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.pass());
    }, HASH_CACHE_CHECK_MS);
    this.timer.unref();
  }

  /** No further pass; resolves once the one in progress has ended (between two batches, keeping what it hashed). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async pass(): Promise<void> {
    for (const t of this.d.tables) {
      if (this.stopped) return;
      const version = await this.versionOf(t);
      if (version === undefined || this.seen.get(t.name) === version) continue;
      for (const k of joinKeysOf(t)) {
        if (this.stopped) return;
        if (!(await this.warmKey(t, k.column))) return;
      }
      this.seen.set(t.name, version);
    }
  }

  /** A file's size and time of change; for a database table, a new value every refresh interval. */
  private async versionOf(t: Table): Promise<string | undefined> {
    const src = this.d.sources[t.name];
    if (!src) return undefined;
    if (src.kind === 'postgres') {
      const last = this.lastDatabaseWarm.get(t.name);
      if (last !== undefined && Date.now() - last < this.d.databaseRefreshMs) return this.seen.get(t.name);
      this.lastDatabaseWarm.set(t.name, Date.now());
      return String(Date.now());
    }
    return stat(src.path).then(
      (s) => `${s.size}:${s.mtimeMs}`,
      () => undefined,
    );
  }

  private async warmKey(t: Table, key: string): Promise<boolean> {
    const started = Date.now();
    const at = id(t.name, key);
    const hasher: KeyHasher = {
      dst: hashToGroupDst(this.d.collaborationId),
      // One batch at a time: the background never takes more than one worker from the queries.
      parallelism: 1,
      hash: (keys) => this.d.pool.hashToGroup(keys, hasher.dst),
    };
    this.states.set(at, { ...this.states.get(at)!, state: 'hashing' });
    try {
      const column = joinKeysOf(t).find((k) => k.column === key)!;
      const onProgress = (done: number, of: number) => this.states.set(at, { table: t.name, key, state: 'hashing', done, total: of });
      const total = await this.d.store.warm(t, column, hasher, onProgress, () => this.stopped);
      if (this.stopped) return false;
      this.states.set(at, { table: t.name, key, state: 'ready', done: total, total });
      this.d.log(`hash cache: ${t.name}.${key} ready, ${total} distinct key(s), in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return true;
    } catch (err) {
      this.states.set(at, { ...this.states.get(at)!, state: 'failed' });
      this.d.log(`hash cache: ${t.name}.${key} could not be filled ahead of queries (${errorMessage(err)}); queries hash their keys themselves, and the next check tries again`);
      return false;
    }
  }
}

function id(table: string, key: string): string {
  return `${table}\u0000${key}`;
}
